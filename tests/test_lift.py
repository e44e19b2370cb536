import json

import h5py
import numpy as np
import pytest
import torch

from lfmcli.checkpoint import save_checkpoint
from lfmcli.config import ModelConfig
from lfmcli.errors import LfmError
from lfmcli.io.readers import read_keypoints
from lfmcli.models import build_model
from lfmcli.rigs import get_rig


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    cfg = ModelConfig(dim=32, heads=4, layers=1)
    save_checkpoint(path, build_model(cfg), cfg, {"window": 8})
    st = tmp_path_factory.mktemp("ckpt") / "st.safetensors"
    cfg = ModelConfig(kind="spacetime", dim=32, heads=4, layers=1, motion_layers=1)
    save_checkpoint(st, build_model(cfg), cfg, {"window": 8})
    return path, st


def frames(rng, T=12, J=17):
    return rng.uniform(100, 600, (T, J, 2))


def test_lfm_json_reads_nulls_confidence_and_rigs(tmp_path, rng):
    pts = frames(rng, 4, 3).tolist()
    pts[1][2] = None
    pts[2][0] = pts[2][0] + [0.2]
    path = tmp_path / "k.json"
    path.write_text(
        json.dumps({"keypoints": pts, "fps": 30, "rig": {"joints": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]]}})
    )
    kp = read_keypoints(path)
    assert kp.format == "lfm-json" and kp.shape == (4, 1, 3) and kp.joints == ["a", "b", "c"] and kp.fps == 30
    assert np.isnan(kp.points[1, 0, 2]).all() and kp.confidence[2, 0, 0] == pytest.approx(0.2)
    path.write_text(json.dumps({"keypoints": pts}))
    assert read_keypoints(path).rig is None


def test_coco_openpose_dlc_sleap_readers(tmp_path, rng):
    coco = get_rig("coco_17")
    # COCO: image 1 has two people, image 2 one; visibility 0 = missing
    kps = lambda: [v for x, y in frames(rng, 1)[0] for v in (x, y, 2)]  # noqa: E731
    anns = [{"id": k, "image_id": img, "category_id": 1, "keypoints": kps()} for k, img in enumerate([1, 1, 2])]
    anns[2]["keypoints"][0:3] = [0, 0, 0]
    (tmp_path / "coco.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "width": 640, "height": 480}],
                "annotations": anns,
                "categories": [{"id": 1, "name": "person", "keypoints": list(coco.joints)}],
            }
        )
    )
    kp = read_keypoints(tmp_path / "coco.json")
    assert kp.format == "coco" and kp.shape == (2, 2, 17) and kp.rig.name == "coco_17"
    assert np.isnan(kp.points[1, 0, 0]).all() and np.isnan(kp.points[1, 1]).all() and kp.image_size == (640, 480)
    # OpenPose: a folder of per-frame files, BODY_25
    op = tmp_path / "openpose"
    op.mkdir()
    for t in range(3):
        people = [{"pose_keypoints_2d": [v for x, y in frames(rng, 1, 25)[0] for v in (x, y, 0.9)]}]
        (op / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    kp = read_keypoints(op)
    assert kp.format == "openpose" and kp.shape == (3, 1, 25) and kp.rig.name == "openpose_body25"
    # DeepLabCut CSV, multi-animal
    header = [
        ["scorer"] + ["DLC"] * 12,
        ["individuals"] + ["m1"] * 6 + ["m2"] * 6,
        ["bodyparts"] + ["snout"] * 3 + ["tail"] * 3 + ["snout"] * 3 + ["tail"] * 3,
        ["coords"] + ["x", "y", "likelihood"] * 4,
    ]
    rows = [[str(t)] + [f"{v:.2f}" for v in rng.uniform(0, 1, 12)] for t in range(5)]
    rows[2][1] = ""  # a missing x
    (tmp_path / "dlc.csv").write_text("\n".join(",".join(r) for r in header + rows))
    kp = read_keypoints(tmp_path / "dlc.csv")
    assert kp.format == "dlc" and kp.shape == (5, 2, 2) and kp.joints == ["snout", "tail"]
    assert kp.individuals == ["m1", "m2"] and np.isnan(kp.points[2, 0, 0]).all()
    # SLEAP analysis file
    tracks = rng.uniform(0, 500, (2, 2, 4, 6))
    tracks[0, :, 1, 3] = np.nan
    with h5py.File(tmp_path / "sleap.h5", "w") as f:
        f["tracks"] = tracks
        f["node_names"] = np.array([b"head", b"thorax", b"abdomen", b"wing"])
        f["track_names"] = np.array([b"fly1", b"fly2"])
        f["edge_inds"] = np.array([[0, 1], [1, 2], [1, 3]])
    kp = read_keypoints(tmp_path / "sleap.h5")
    assert kp.format == "sleap" and kp.shape == (6, 2, 4) and kp.individuals == ["fly1", "fly2"]
    assert kp.rig is not None and len(kp.rig.edges) == 3 and np.isnan(kp.points[3, 0, 1]).all()


def test_lift_cli_writes_xarray_readable_output(cli, ckpt, tmp_path, rng):
    xr = pytest.importorskip("xarray")
    pts = frames(rng).tolist()
    pts[4] = [None] * 17
    (tmp_path / "walk.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17", "fps": 25}))
    for model in ckpt:
        out = tmp_path / f"{model.stem}.h5"
        r = cli("lift", tmp_path / "walk.json", "-o", out, "--checkpoint", model, "--also", "npz", "--device", "cpu")
        assert r.exit_code == 0, r.output
        assert "1 frame(s) had no usable 2D point" in r.stderr
        ds = xr.open_dataset(out, engine="h5netcdf")
        assert ds.position.dims == ("time", "individual", "keypoint", "space")
        assert list(ds.keypoint.values) == list(get_rig("h36m_17").joints)
        assert np.isnan(ds.position.isel(time=4).values).all() and np.isfinite(ds.position.isel(time=0).values).all()
        assert ds.time.values[1] == pytest.approx(0.04) and ds.attrs["rig"] == "h36m_17"
        assert "lfm lift" in ds.attrs["command"] and len(ds.attrs["checkpoint_sha256"]) == 16
        assert ds.edges.shape == (16, 2)
        np.testing.assert_allclose(np.load(out.with_suffix(".npz"))["position"], ds.position.values)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ('{"points": []}', "unknown input format"),
        ('{"keypoints": [[[1, 2], [3]]]}', "frame 0 joint 1"),
        ('{"keypoints": [[[1, 2], [NaN, 2]]]}', "finite"),
        ('{"keypoints": [[[1, 2], [Infinity, 2]]]}', "finite"),
        ('{"keypoints": [[[1, 2], [3, 4]], [[1, 2]]]}', "frame 1"),
        ('{"keypoints": [[[1, 2], [3, 4]]], "rig": "h36m_17"}', "rig 'h36m_17' has 17"),
    ],
)
def test_bad_lfm_json_is_one_line_and_writes_nothing(cli, ckpt, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "out.h5"
    r = cli("lift", bad, "-o", out, "--checkpoint", ckpt[0], "--device", "cpu")
    assert r.exit_code == 1 and message in r.stderr and "bad.json" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_lift_refuses_unknown_formats_and_overwriting_its_input(cli, ckpt, tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    r = cli("lift", tmp_path / "x.txt", "-o", tmp_path / "o.h5", "--checkpoint", ckpt[0])
    assert r.exit_code == 1 and "unknown input format" in r.stderr
    (tmp_path / "k.json").write_text('{"keypoints": [[[1, 2], [3, 4], [5, 6]]]}')
    r = cli("lift", tmp_path / "k.json", "-o", tmp_path / "k.h5", "--also", "json", "--checkpoint", ckpt[0])
    assert r.exit_code == 1 and "overwrite the input" in r.stderr
    with pytest.raises(LfmError, match="no such file"):
        read_keypoints(tmp_path / "missing.json")


def test_render_gif_from_a_lift_and_png_from_a_dataset(cli, ckpt, tmp_path, rng):
    from lfmcli.data.build import random_views
    from lfmcli.data.format import DatasetWriter
    from lfmcli.sequence import Sequence

    pts = frames(rng, 6).tolist()
    (tmp_path / "k.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17"}))
    assert cli("lift", tmp_path / "k.json", "-o", tmp_path / "k.h5", "--checkpoint", ckpt[0]).exit_code == 0
    r = cli("render", tmp_path / "k.h5", "-o", tmp_path / "k.gif")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "k.gif").read_bytes()[:6] == b"GIF89a"
    import imageio.v2 as imageio

    assert len(imageio.mimread(tmp_path / "k.gif")) == 6
    seq = Sequence(
        name="walk",
        category="human",
        rig=get_rig("h36m_17"),
        fps=30.0,
        points3d=rng.normal(size=(5, 17, 3)).astype(np.float32),
    )
    seq.views = random_views(seq, 1, 0)
    with DatasetWriter(tmp_path / "d.h5") as w:
        w.add(seq)
    r = cli("render", tmp_path / "d.h5", "--sequence", "walk", "--checkpoint", ckpt[1], "-o", tmp_path / "cmp.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"
    r = cli("render", tmp_path / "d.h5", "-o", tmp_path / "x.gif")
    assert r.exit_code == 1 and "--sequence" in r.stderr
    r = cli("render", tmp_path / "k.h5", "-o", tmp_path / "k.bmp")
    assert r.exit_code == 1 and ".gif" in r.stderr and not (tmp_path / "k.bmp").exists()


def test_also_json_and_c3d(cli, ckpt, tmp_path, rng):
    ezc3d = pytest.importorskip("ezc3d")
    pts = frames(rng, 5).tolist()
    pts[2][3] = None
    (tmp_path / "in.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17", "fps": 50}))
    out = tmp_path / "res.h5"
    r = cli("lift", tmp_path / "in.json", "-o", out, "--checkpoint", ckpt[0], "--also", "json", "--also", "c3d")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.with_suffix(".json").read_text())
    assert len(doc["position"]) == 5 and doc["position"][2][0][3] is None and len(doc["position"][0][0][0]) == 3
    c3d = ezc3d.c3d(str(out.with_suffix(".c3d")))
    assert c3d["data"]["points"].shape == (4, 17, 5) and c3d["parameters"]["POINT"]["RATE"]["value"][0] == 50
    assert c3d["parameters"]["POINT"]["LABELS"]["value"][:2] == ["hip", "r_hip"]


def test_min_confidence_hides_points(tmp_path, ckpt):
    from lfmcli.checkpoint import load_checkpoint
    from lfmcli.lift import lift_keypoints

    pts = [[[100.0 + 10 * j, 200.0 + 5 * j, 0.9 if j else 0.1] for j in range(17)] for _ in range(3)]
    (tmp_path / "c.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17"}))
    kp = read_keypoints(tmp_path / "c.json")
    lifted = lift_keypoints(kp, load_checkpoint(ckpt[0]), min_confidence=0.5)
    assert not lifted.visible[:, 0, 0].any() and lifted.visible[:, 0, 1:].all()
    assert np.isnan(lifted.position[:, 0, 0]).all() and np.isfinite(lifted.position[:, 0, 1:]).all()
