"""Malformed input, generated: every reader and builder either refuses it in one line naming the file (exit 1,
nothing written) or gives a result that is valid by lfm's own checks. Never a traceback, never invalid output.

Each test starts from a valid file and damages it the way real files are damaged: a value replaced by any JSON
value (NaN and infinities included), a key removed, a CSV cell or BVH token replaced, a line lost, the file cut
short. Derandomized, so CI sees the same cases every run.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lfmcli.data.dataset import SampleBank
from lfmcli.io.results import read_result

FUZZ = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NUMBERS = st.one_of(
    st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 1e38, 0.5])
)
ATOMS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6))
JSON_VALUES = st.recursive(
    ATOMS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
TOKENS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-", "", "0", "{", "}", "Xrotation", "XXY", "ROOT", "JOINT"]),
    st.text(alphabet="abcXYZ0123456789.-e ", max_size=6),
)
DELETE = object()


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):  # the first few items stand for the rest
            yield from _paths(v, (*prefix, i))


def mutate_json(data, doc, edits: int = 2):
    """``doc`` with up to ``edits`` values replaced by arbitrary JSON (or removed)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, edits))):
        path = data.draw(st.sampled_from(list(_paths(doc))[1:]))
        value = data.draw(st.one_of(JSON_VALUES, st.just(DELETE)))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return doc


def mutate_text(data, text: str, sep: str = ",") -> str:
    """``text`` with a cell or token replaced, a line dropped or doubled, or cut short."""
    lines = text.splitlines()
    kind = data.draw(st.sampled_from(["cell", "cell", "drop", "double", "cut"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if kind == "cell":
        cells = lines[i].split(sep)
        cells[data.draw(st.integers(0, len(cells) - 1))] = data.draw(TOKENS)
        lines[i] = sep.join(cells)
    elif kind == "drop":
        del lines[i]
    elif kind == "double":
        lines.insert(i, lines[i])
    else:
        return text[: data.draw(st.integers(0, len(text)))]
    return "\n".join(lines) + "\n"


def one_line_error(r, path: Path, *written: Path) -> bool:
    """True for a clean refusal (one line naming ``path``, exit 1, nothing written); False for success; fails on a
    traceback or anything else."""
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    assert r.exit_code in (0, 1), r.output
    if r.exit_code == 0:
        return False
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and path.name in lines[0], r.stderr
    for out in written:  # neither the output nor a hidden part file of it
        leftovers = [p.name for p in out.parent.iterdir() if p.name == out.name or p.name.startswith(f".{out.name}")]
        assert not leftovers, f"{leftovers} written by a failed command"
    return True


# --- lift readers -----------------------------------------------------------------------------------------------


def _lfm_json():
    pts = [[[100.0 + 10 * j + f, 200.0 - 5 * j, 0.9] for j in range(17)] for f in range(3)]
    return {"keypoints": pts, "rig": "h36m_17", "fps": 25, "image_size": [640, 480]}


def _coco():
    kps = [v for j in range(17) for v in (50.0 + 3 * j, 80.0 + 7 * j, 2)]
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "keypoints": kps, "num_keypoints": 17},
            {"id": 11, "image_id": 2, "category_id": 1, "keypoints": kps, "num_keypoints": 17, "track_id": 0},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"k{j}" for j in range(17)], "skeleton": [[1, 2]]}],
    }


def _openpose():
    body = [v for j in range(25) for v in (300.0 + 4 * j, 200.0 + 9 * (j % 7), 0.8)]
    return {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": body}]}


def _check_lift(cli, ckpt, tmp_path, name: str, text: str, *extra) -> None:
    src = tmp_path / name
    src.write_text(text)
    out = tmp_path / "out.h5"
    out.unlink(missing_ok=True)
    r = cli("lift", src, "-o", out, "--checkpoint", ckpt[0], *extra)
    if not one_line_error(r, src, out):
        _, lifted, _ = read_result(out)
        pos = lifted.position
        assert pos.ndim == 4 and pos.shape[-1] == 3
        assert not np.isinf(pos).any()  # NaN marks joints that were not seen; anything else is finite


@FUZZ
@given(data=st.data())
def test_fuzz_lfm_json(cli, ckpt, tmp_path, data):
    _check_lift(cli, ckpt, tmp_path, "points.json", json.dumps(mutate_json(data, _lfm_json())))


@FUZZ
@given(data=st.data())
def test_fuzz_coco(cli, ckpt, tmp_path, data):
    _check_lift(cli, ckpt, tmp_path, "coco.json", json.dumps(mutate_json(data, _coco())), "--format", "coco")


@FUZZ
@given(data=st.data())
def test_fuzz_openpose(cli, ckpt, tmp_path, data):
    doc = mutate_json(data, _openpose())
    _check_lift(cli, ckpt, tmp_path, "f_000000000000_keypoints.json", json.dumps(doc), "--format", "openpose")


def _dlc_csv() -> str:
    parts = ["nose", "ear", "tail"]
    rows = [
        "scorer," + ",".join(["net"] * 9),
        "bodyparts," + ",".join(p for p in parts for _ in range(3)),
        "coords," + ",".join(["x", "y", "likelihood"] * 3),
    ]
    rows += [f"{f}," + ",".join(f"{10 + f + k},{20 + 2 * k},0.9" for k in range(3)) for f in range(4)]
    return "\n".join(rows) + "\n"


@FUZZ
@given(data=st.data())
def test_fuzz_dlc_csv(cli, ckpt, tmp_path, data):
    _check_lift(cli, ckpt, tmp_path, "preds.csv", mutate_text(data, _dlc_csv()))


@FUZZ
@given(data=st.binary(max_size=64), name=st.sampled_from(["x.json", "x.csv", "x.h5", "x.slp"]))
def test_fuzz_bytes(cli, ckpt, tmp_path, data, name):
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / "out.h5"
    out.unlink(missing_ok=True)
    assert one_line_error(cli("lift", src, "-o", out, "--checkpoint", ckpt[0]), src, out)


# --- builders: what they write must validate --------------------------------------------------------------------


def _check_build(cli, tmp_path, src: Path, kind: str, *extra) -> None:
    out = tmp_path / "out.h5"
    out.unlink(missing_ok=True)
    r = cli("build-dataset", kind, src, "-o", out, *extra)
    if not one_line_error(r, src, out):
        v = cli("dataset", "validate", out)
        assert v.exit_code == 0, f"{kind} build of a damaged file wrote an invalid dataset: {v.output}"


_BVH = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT head
    {
      OFFSET 0 10 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 5 0
      }
    }
  }
  JOINT leg
  {
    OFFSET 5 -10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -10 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 90 0 0 0 0 10 0 0 5 0 0 0 0 0
0 90 1 0 5 0 10 0 0 5 0 0 0 3 0
0 90 2 0 9 0 10 0 0 5 0 0 0 6 0
"""


@FUZZ
@given(data=st.data())
def test_fuzz_bvh(cli, tmp_path, data):
    src = tmp_path / "walk.bvh"
    src.write_text(mutate_text(data, _BVH, sep=" "))
    _check_build(cli, tmp_path, src, "bvh", "--views", "1")


NPZ_VALUES = st.one_of(
    st.sampled_from(
        [
            np.array([np.nan]),
            np.full((2, 3, 3), np.nan, np.float32),
            np.full((2, 3, 3), np.inf, np.float32),
            np.zeros((0, 3, 3), np.float32),
            np.zeros((2, 3, 2), np.float32),
            np.array([-1, 5, 0]),
            np.array([-1, -1, -1]),
            np.array([1, 2, 0]),
            np.array([None, "a"], dtype=object),
            np.array(["a", "a", "b"]),
            np.array(["a"]),
            np.float64(np.nan),
            np.float64(-30),
            np.float64(1e300),
            np.str_(""),
            np.str_("w"),
            np.array([[1.0, 2.0]]),
            np.array([[[-500.0, 0, 320], [0, 500, 240], [0, 0, 1]]]),  # cameras: a negative focal length,
            2 * np.eye(3)[None],  # R that is no rotation,
            np.array([[np.nan, 0.0, 5.0]]),  # t not finite,
            np.array([[0, 0]]),  # no image
        ]
    ),
    st.builds(np.float64, NUMBERS),
)


@FUZZ
@given(key=st.sampled_from(["points3d", "joint_names", "parents", "fps", "up_axis", "points2d", "K", "R", "t",
                            "image_size"]), value=NPZ_VALUES)  # fmt: skip
def test_fuzz_npz(cli, tmp_path, write_interchange, key, value):
    rng = np.random.default_rng(0)
    fields = {
        "points3d": rng.normal(size=(2, 3, 3)).astype(np.float32),
        "joint_names": ["a", "b", "c"],
        "parents": [-1, 0, 1],
        "fps": 30.0,
        "up_axis": "y",
        # one real camera
        "points2d": rng.uniform(100, 300, (1, 2, 3, 2)).astype(np.float32),
        "K": np.array([[[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]]),
        "R": np.eye(3)[None],
        "t": np.array([[0.0, 0, 5]]),
        "image_size": np.array([[640, 480]]),
    }
    fields[key] = value
    src = tmp_path / "seq.npz"
    try:
        with np.errstate(invalid="ignore"):  # NaN parents cast to integers: a damaged file, as intended
            write_interchange(src, **fields)
    except (ValueError, TypeError):  # numpy refuses to store it: nothing to test
        return
    _check_build(cli, tmp_path, src, "npz", "--views", "1")


@FUZZ
@given(doc=JSON_VALUES, data=st.data())
def test_fuzz_rig_yaml(cli, tmp_path, doc, data):
    rig = {"name": "thing", "joints": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]], "parents": [-1, 0, 1]}
    doc = data.draw(st.one_of(st.just(doc), st.builds(lambda: mutate_json(data, rig))))
    src = tmp_path / "thing.yaml"
    src.write_text(json.dumps(doc))  # JSON is YAML
    one_line_error(cli("rigs", "validate", src), src)


# --- datasets: validate finds what is missing or broken, train refuses it -----------------------------------------


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    from typer.testing import CliRunner

    from lfmcli.cli.main import app

    out = tmp_path_factory.mktemp("ds") / "zoo.h5"
    r = CliRunner().invoke(app, ["build-dataset", "synthetic", "-o", str(out), "--creatures", "4", "--frames", "8"])
    assert r.exit_code == 0, r.output
    return out


def _members(path: Path) -> list[str]:
    names: list[str] = []
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_dataset_members(cli, tmp_path, small_dataset, data):
    import shutil

    path = tmp_path / f"damaged{len(list(tmp_path.iterdir()))}.h5"  # a new name per case: nothing carries over
    shutil.copy(small_dataset, path)
    member = data.draw(st.sampled_from(_members(small_dataset)))
    action = data.draw(st.sampled_from(["delete", "shape", "nan", "negative"]))
    with h5py.File(path, "a") as f:
        old = f[member][()]
        del f[member]
        if action == "shape":
            f[member] = old[:-1] if len(old) else np.zeros(3)
        elif action == "nan" and old.dtype.kind == "f":
            f[member] = np.full_like(old, np.nan)
        elif action == "negative" and old.dtype.kind in "if":
            f[member] = -np.abs(old) - 1
        elif action != "delete":
            f[member] = old[::-1]
    r = cli("dataset", "validate", path)
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    if r.exit_code == 0:  # valid by validate: then training can read every frame of it
        bank = SampleBank([path], None)
        assert len(bank.frames(np.arange(bank.num_samples))) == bank.num_samples
    else:
        assert r.exit_code == 1 and path.name in r.stderr
        t = cli("train", "--data", path, "--set", "training.epochs=1", "--set", "training.steps_per_epoch=1",
                "-o", tmp_path / "run")  # fmt: skip
        assert t.exit_code == 1 and len(t.stderr.strip().splitlines()) == 1, t.output
