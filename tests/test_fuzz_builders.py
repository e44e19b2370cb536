"""Damaged values, generated, for every dataset builder and its options: each build refuses in one line naming the
file or the option (exit 1, nothing written) or writes a dataset that `lfm dataset validate` passes.

Each test starts from a small valid input in the builder's own layout and damages it (a value replaced by any JSON
value, of any type, NaN and infinities included, or a key removed), while drawing the builder's options from sound
and unsound values. Derandomized, a dozen cases per builder, so CI sees the same cases every run.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import (  # tests/ is on the path (pytest rootdir mode)
    _BVH,
    DELETE,
    FUZZ,
    JSON_VALUES,
    NPZ_VALUES,
    _dlc_csv,
    _lfm_json,
    mutate_text,
)

from lfmcli.geometry.cameras import Camera, intrinsics, look_at
from lfmcli.rigs import get_rig
from lfmcli.sources import SOURCES
from lfmcli.sources.anime import AnimeMesh, write_anime
from lfmcli.sources.h36m import KEEP_17
from lfmcli.sources.pascal3d import P3D_CLASSES, P3D_START, P3D_TOTAL

FEW = settings(FUZZ, max_examples=12)
VALUES = st.one_of(
    JSON_VALUES, st.sampled_from([2**70, 2**1100, 1e300, -1, [], {}, [[]], [None], "nan"]), st.just(DELETE)
)


def damaged(data, doc):
    """``doc`` with one or two values replaced by any JSON value or removed, or, one time in three, as it is (the
    options are then tried on a sound input). The value is found by a walk down from the top that stops at each
    level with even odds, so a whole block is as likely to be hit as one number deep inside it."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(0, 2))):
        parent, key = None, None
        node = doc
        while isinstance(node, (dict, list)) and node and (parent is None or data.draw(st.booleans())):
            parent, key = node, data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
            node = node[key]
        if parent is not None:
            value = data.draw(VALUES)
            if value is DELETE:
                del parent[key]
            else:
                parent[key] = copy.deepcopy(value)  # a drawn list is one object: never put it inside itself
    return doc


def options(data, choices: dict[str, list]) -> list[str]:
    """Some of the options in ``choices`` (flag: values, sound and unsound), each with a drawn value."""
    flags = data.draw(st.lists(st.sampled_from(sorted(choices)), max_size=3, unique=True))
    return [str(w) for flag in flags for w in (flag, data.draw(st.sampled_from(choices[flag]))) if w is not None]


def build(cli, tmp_path, kind: str, inputs: list, *extra, names: list[str] = ()) -> None:
    """`lfm build-dataset kind inputs -o out.h5 extra`: refused in one line naming an input, an option or its value,
    or one of ``names`` (files that options give), with nothing written; or a dataset that validates."""
    out, extra = tmp_path / "out.h5", [str(w) for w in extra]
    out.unlink(missing_ok=True)
    r = cli("build-dataset", kind, *inputs, "-o", out, *extra)
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    assert r.exit_code in (0, 1, 2), r.output
    if r.exit_code == 2:  # a usage error, as typer reports it
        assert "Invalid value" in r.output and not out.exists(), r.output
        return
    if r.exit_code == 0:
        v = cli("dataset", "validate", out)
        assert v.exit_code == 0, f"{kind} {extra} wrote an invalid dataset: {v.output}"
        return
    lines = r.stderr.strip().splitlines()
    named = [Path(p).name for p in inputs] + [w for w in extra if len(w) > 2] + list(names)  # flags, values
    assert len(lines) == 1 and any(n in lines[0] for n in named), r.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("out.h5", ".out.h5"))], "written"


def test_every_builder_is_generated():
    assert {f"test_{name.replace('-', '_')}" for name in SOURCES} <= set(globals())


def _cameras(n: int, target, up, radius: float) -> list[Camera]:
    cams = []
    for k in range(n):
        a = 2 * np.pi * k / n + 0.3
        eye = np.asarray(target) + radius * np.array([np.cos(a), np.sin(a), 0.3])
        R, t = look_at(eye, np.asarray(target, float), np.array(up, float))
        cams.append(Camera(intrinsics(1145.0, (1000, 1002)), R, t, (1000, 1002)))
    return cams


def _pickled(value) -> np.ndarray:
    a = np.empty((), dtype=object)  # as VideoPose3D stores its dictionaries
    a[()] = value
    return a


# --- Human3.6M (VideoPose3D) ------------------------------------------------------------------------------------


def _h36m() -> dict:
    rng = np.random.default_rng(0)
    motion = rng.normal(size=(1, 32, 3)) * [0.3, 0.3, 0.6] + [0, 0, 1.0] + rng.normal(size=(12, 32, 3)) * 0.01
    uv = [c.project(motion[:, KEEP_17]) for c in _cameras(4, [0, 0, 1.0], (0, 0, 1.0), 5.0)]
    return {
        "positions_3d": {"S1": {"Walking": motion.round(4).tolist()}},
        "positions_2d": {"S1": {"Walking": [c.round(2).tolist() for c in uv]}},
        "metadata": {"num_joints": 17},
    }


@FEW
@given(data=st.data())
def test_h36m(cli, tmp_path, data):
    doc = damaged(data, _h36m())
    d3, d2 = tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_gt.npz"
    np.savez(d3, **{k: _pickled(v) for k, v in doc.items() if k == "positions_3d"})
    np.savez(d2, **{k: _pickled(v) for k, v in doc.items() if k != "positions_3d"})
    with_2d = ["--2d", str(d2)] if data.draw(st.booleans()) else []
    choices = {
        "--joints": [17, 32, 5],
        "--train-subjects": ["S1", "", "S9", "S1,S1"],
        "--test-subjects": ["S1", ""],
        "--views": [1, 2, 0],
    }
    build(cli, tmp_path, "h36m", [d3], *with_2d, *options(data, choices), names=[d2.name])


# --- H3WB -------------------------------------------------------------------------------------------------------


def _h3wb() -> dict:
    rng = np.random.default_rng(1)
    cam = _cameras(1, [0, 0, 0], (0, -1.0, 0), 4.0)[0]
    xyz = rng.normal(size=(133, 3)) * [0.3, 0.8, 0.3]
    uv, mm = cam.project(xyz).round(2).tolist(), (xyz * 1000).round(1).tolist()
    return {
        "7": {
            "keypoints_2d": {str(j): dict(zip("xy", p, strict=True)) for j, p in enumerate(uv)},
            "keypoints_3d": {str(j): dict(zip("xyz", p, strict=True)) for j, p in enumerate(mm)},
        }
    }


@FEW
@given(data=st.data())
def test_h3wb(cli, tmp_path, data):
    src = tmp_path / "2Dto3D_train.json"
    src.write_text(json.dumps(damaged(data, _h3wb())))
    build(cli, tmp_path, "h3wb", [src], *options(data, {"--split": ["0.8,0.1,0.1", "0,0,1", "1,0"]}))


# --- C3DPO / PASCAL3D+ ------------------------------------------------------------------------------------------


def _pascal3d() -> list:
    rng = np.random.default_rng(2)
    n, start = P3D_CLASSES["car"], P3D_START["car"]
    loc, loc3d, mask = np.zeros((2, P3D_TOTAL)), np.zeros((3, P3D_TOTAL)), np.zeros(P3D_TOTAL)
    xyz = rng.normal(size=(n, 3))
    loc[:, start : start + n], loc3d[:, start : start + n] = (250 * xyz[:, :2] + 320).T, xyz.T
    mask[start : start + n] = 1
    car = {"kp_loc": loc.round(2).tolist(), "kp_vis": mask.tolist(), "kp_loc_3d": loc3d.round(3).tolist(),
           "class_mask": mask.tolist(), "kp_defined": mask.tolist(),
           "p3d_info": {"p3d_class": "car", "image_size": [640, 480]}}  # fmt: skip
    xyz = rng.normal(size=(17, 3))
    plain = {"kp_loc": (100 * xyz[:, :2] + 300).round(2).T.tolist(), "kp_vis": [1] * 17, "kp_loc_3d": xyz.T.tolist()}
    return [car, plain]


@FEW
@given(data=st.data())
def test_pascal3d(cli, tmp_path, data):
    src = tmp_path / "pascal3d_val.json"
    src.write_text(json.dumps(damaged(data, _pascal3d())))
    build(cli, tmp_path, "pascal3d", [src], *options(data, {"--rig": ["h36m_17", "h36m_17", "nope"]}))


# --- AnimalSyn3D: meshes with marker files, and the released JSON -----------------------------------------------

BEAR = get_rig("animalsyn3d_bear3EP")
THING = {"name": "thing", "joints": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]], "root": "a"}


def _markers(kind: str) -> dict:
    if kind == "yaml":
        return {"character": "thing", "rig": THING, "category": "thing", "up_axis": "y",
                "markers": {"a": [0, 1], "b": [2, 3], "c": [4, 5]}}  # fmt: skip
    return {
        "model": "bear3EP",
        "joint_group_idxs": [[j, j + 1] for j in range(BEAR.num_joints)],
        "connections": [list(e) for e in BEAR.edges],
    }


@FEW
@given(data=st.data(), kind=st.sampled_from(["yaml", "json"]))
def test_animalsyn3d(cli, tmp_path, data, kind):
    character = "thing" if kind == "yaml" else "bear3EP"
    shutil.rmtree(tmp_path / "meshes", ignore_errors=True)  # the meshes of the case before
    folder = tmp_path / "meshes" / f"{character}_walk"
    folder.mkdir(parents=True)
    vertices = np.random.default_rng(3).normal(size=(3, 30, 3)).astype(np.float32)
    write_anime(folder / f"{character}_walk.anime", AnimeMesh(vertices, np.zeros((0, 3), np.int32)))
    src = tmp_path / f"{character}.{kind}"
    doc = damaged(data, _markers(kind))
    src.write_text(yaml.safe_dump(doc) if kind == "yaml" else json.dumps(doc))
    choices = {
        "--fps": [30, 0, "nan", "inf", -1],
        "--smooth": [0.1, -1, "inf", 1e300],
        "--ik-steps": [0, 3, -1],
        "--projection": ["weak", "fisheye"],
        "--image-size": [64, 0, -1],
        "--focal": [50, 0, "nan"],
        "--views": [2, 0],
    }
    opts = ["--ik-steps", "2", "--device", "cpu", *options(data, choices)]  # the last --ik-steps counts
    build(cli, tmp_path, "animalsyn3d", [tmp_path / "meshes"], "--markers", src, *opts, names=[src.name])


def _release() -> dict:
    rng = np.random.default_rng(4)
    cam3d = rng.normal(size=(4, BEAR.num_joints, 3)) * 0.3 + [0, 0, 4]
    uv = cam3d[..., :2] / cam3d[..., 2:] * 1050 + 540
    return {
        "model": "bear3EP",
        "animation": "walk",
        "connections": [list(e) for e in BEAR.edges],
        "camera": {"intrinsic": [[1050.0, 0, 540], [0, 1050, 540], [0, 0, 1]], "width": 1080, "height": 1080},
        "points": {"2d": uv.round(2).tolist(), "cam_3d": cam3d.round(3).tolist()},
        "fps": 30,
    }


@FEW
@given(data=st.data())
def test_animalsyn3d_json(cli, tmp_path, data):
    src = tmp_path / "release" / "bear" / "walk.json"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(json.dumps(damaged(data, _release())))
    build(cli, tmp_path, "animalsyn3d-json", [tmp_path / "release"], names=[src.name])


# --- 2D tracks, the synthetic zoo, interchange npz, BVH: their options -------------------------------------------


@FEW
@given(data=st.data(), csv=st.booleans())
def test_tracks(cli, tmp_path, data, csv):
    src = tmp_path / ("preds.csv" if csv else "points.json")
    src.write_text(mutate_text(data, _dlc_csv()) if csv else json.dumps(damaged(data, _lfm_json())))
    choices = {
        "--fps": [30, 0, "nan", "inf", -1],
        "--category": ["mouse", ""],
        "--rig": ["h36m_17", "nope"],
        "--format": ["dlc", "lfm-json", "nope"],
        "--min-confidence": [0.5, 1, 2, "nan"],
        "--split": ["1,0,0", "0,0,1"],
    }
    build(cli, tmp_path, "tracks", [src], *options(data, choices))


@settings(FEW, max_examples=10)
@given(data=st.data())
def test_synthetic(cli, tmp_path, data):
    choices = {
        "--creatures": [1, 2, 0, -1],
        "--motions": [1, 0],
        "--frames": [1, 3, 0],
        "--kinds": ["bird", "crawler,biped", ",", "fish"],
        "--views": [2, 0],
        "--seed": [3, -1],
        "--split": ["0,1,0", "1,0,0"],
        "--fps": [10, 0, "nan", 1e-300, 1e300],
        "--smooth": [0, -1, 1e300],
        "--projection": ["weak", "x"],
        "--device": ["cpu", "tpu"],
    }
    opts = ["--creatures", "1", "--motions", "1", "--frames", "3", "--ik-steps", "2", *options(data, choices)]
    build(cli, tmp_path, "synthetic", [], *opts)


@FEW
@given(data=st.data())
def test_npz(cli, tmp_path, data):
    rng = np.random.default_rng(5)
    fields = {
        "points3d": rng.normal(size=(3, 3, 3)).astype(np.float32),
        "joint_names": np.array(["a", "b", "c"]),
        "parents": np.array([-1, 0, 1]),
        "fps": np.float64(30),
        "up_axis": np.str_("y"),
        "category": np.str_("thing"),
        "points2d": rng.uniform(100, 300, (1, 3, 3, 2)).astype(np.float32),
        "K": np.array([[[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]]),
        "R": np.eye(3)[None],
        "t": np.array([[0.0, 0, 5]]),
        "image_size": np.array([[640, 480]]),
    }
    for key in data.draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)):
        value = data.draw(st.one_of(NPZ_VALUES, st.just(DELETE)))
        if value is DELETE:
            del fields[key]
        else:
            fields[key] = value
    src = tmp_path / "seq.npz"
    try:
        np.savez_compressed(src, **fields)
    except (ValueError, TypeError):  # numpy refuses to store it: nothing to test
        return
    choices = {"--rig": ["h36m_17", "nope"], "--views": [2, 0], "--seed": [1, -1], "--split": ["0,0,1"]}
    build(cli, tmp_path, "npz", [src], *options(data, choices))


@FEW
@given(data=st.data())
def test_bvh(cli, tmp_path, data):
    src = tmp_path / "walk.bvh"
    src.write_text(mutate_text(data, _BVH, sep=" ") if data.draw(st.booleans()) else _BVH)
    choices = {
        "--scale": [0.01, 0, -1, "nan"],
        "--fps": [10, 0, "nan", 1e-300, 1e6],
        "--end-sites": [None],
        "--category": ["dog", ""],
        "--views": [2, 0],
    }
    build(cli, tmp_path, "bvh", [src], *options(data, choices))
