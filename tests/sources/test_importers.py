"""Round trips through fixture files written in each source's own layout."""

import json

import numpy as np
import pytest

from lfmcli.data.format import DatasetFile
from lfmcli.geometry.cameras import Camera, intrinsics, look_at
from lfmcli.rigs import get_rig
from lfmcli.sources import h36m, pascal3d


def cameras_around(n, target, up=(0, 0, 1.0), radius=5.0):
    cams = []
    for k in range(n):
        a = 2 * np.pi * k / n + 0.3
        eye = np.asarray(target) + radius * np.array([np.cos(a), np.sin(a), 0.3])
        R, t = look_at(eye, np.asarray(target, float), np.array(up))
        K = intrinsics(1145.0 + 3 * k, (1000, 1002))
        cams.append(Camera(K, R, t, (1000, 1002)))
    return cams


def test_h36m_videopose3d_files(cli, tmp_path, rng):
    rest = rng.normal(size=(1, 32, 3)) * [0.3, 0.3, 0.6] + [0, 0, 1.0]
    motion = {
        s: {
            a: (rest + np.cumsum(rng.normal(size=(60, 32, 3)) * 0.002, 0)).astype(np.float32)
            for a in ("Walking", "Eating")
        }
        for s in ("S1", "S9")
    }
    cams = cameras_around(4, [0, 0, 1.0])
    pos2d = {
        s: {a: [c.project(p[:, h36m.KEEP_17]).astype(np.float32)[: len(p) + 2] for c in cams] for a, p in acts.items()}
        for s, acts in motion.items()
    }
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=np.array(motion, dtype=object))
    np.savez(
        tmp_path / "data_2d_h36m_gt.npz",
        positions_2d=np.array(pos2d, dtype=object),
        metadata=np.array({"layout_name": "h36m", "num_joints": 17}, dtype=object),
    )
    out = tmp_path / "h36m.h5"
    r = cli("build-dataset", "h36m", tmp_path / "data_3d_h36m.npz", "--2d", tmp_path / "data_2d_h36m_gt.npz", "-o", out)
    assert r.exit_code == 0, r.output
    with DatasetFile(out) as f:
        assert f.validate() == []
        info = f.info()
        assert info["rigs"] == {"h36m_17": 17} and info["splits"] == {"test": 120, "train": 120}
        names = list(f.sequences["name"])
        seq = f.sequence(names.index("S1/Walking"))
    np.testing.assert_allclose(seq.points3d, motion["S1"]["Walking"][:, h36m.KEEP_17], rtol=1e-6)
    assert len(seq.views) == 4 and all(v.kind == "real" for v in seq.views)
    for view, cam in zip(seq.views, cams, strict=True):
        np.testing.assert_allclose(view.camera.project(seq.points3d), view.points2d, atol=1e-2)
        np.testing.assert_allclose(view.camera.K, cam.K, atol=1e-2)
    # 3D only: random cameras
    r = cli("build-dataset", "h36m", tmp_path / "data_3d_h36m.npz", "-o", tmp_path / "h36m3d.h5", "--joints", 32)
    assert r.exit_code == 0, r.output
    r = cli("build-dataset", "h36m", tmp_path / "data_2d_h36m_gt.npz", "-o", tmp_path / "x.h5")
    assert r.exit_code == 1 and "positions_3d" in r.stderr


def test_h3wb_json(cli, tmp_path, rng):
    cam = cameras_around(1, [0, 0, 0], up=(0, -1.0, 0), radius=4.0)[0]
    doc, truth = {}, {}
    for sid in ("17", "2000"):
        xyz_m = rng.normal(size=(133, 3)) * [0.3, 0.8, 0.3]
        uv = cam.project(xyz_m)
        truth[sid] = xyz_m
        doc[sid] = {
            "image_path": "x.jpg",
            "keypoints_2d": {str(j): {"x": float(u), "y": float(v)} for j, (u, v) in enumerate(uv)},
            "keypoints_3d": {str(j): dict(zip("xyz", map(float, p * 1000), strict=True)) for j, p in enumerate(xyz_m)},
        }
    path = tmp_path / "2Dto3D_train.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "h3wb.h5"
    assert cli("build-dataset", "h3wb", path, "-o", out).exit_code == 0
    with DatasetFile(out) as f:
        assert f.validate() == []
        assert f.info()["splits"] == {"train": 2} and f.info()["rigs"] == {"coco_wholebody_133": 133}
        seq = f.sequence(1)
    np.testing.assert_allclose(seq.points3d[0], truth["2000"], atol=1e-5)
    np.testing.assert_allclose(seq.views[0].camera.project(seq.points3d), seq.views[0].points2d, atol=1e-2)
    path.write_text(json.dumps({"1": {"keypoints_2d": {}}}))
    r = cli("build-dataset", "h3wb", path, "-o", out)
    assert r.exit_code == 1 and "keypoints_3d" in r.stderr


def c3dpo_sample(cls, rng, hidden=(), undefined=()):
    n, start = pascal3d.P3D_CLASSES[cls], pascal3d.P3D_START[cls]
    xyz = rng.normal(size=(n, 3))
    uv = 250 * xyz[:, :2] + [320, 240]
    loc, loc3d = np.zeros((2, pascal3d.P3D_TOTAL)), np.zeros((3, pascal3d.P3D_TOTAL))
    loc[:, start : start + n], loc3d[:, start : start + n] = uv.T, xyz.T
    mask = np.zeros(pascal3d.P3D_TOTAL)
    mask[start : start + n] = 1
    vis, defined = mask.copy(), mask.copy()
    for k in hidden:
        vis[start + k] = 0
    for k in undefined:
        vis[start + k] = defined[start + k] = 0
    return (
        {
            "kp_loc": loc.tolist(),
            "kp_vis": vis.tolist(),
            "kp_loc_3d": loc3d.tolist(),
            "class_mask": mask.tolist(),
            "kp_defined": defined.tolist(),
            "p3d_info": {"p3d_class": cls},
        },
        xyz,
        uv,
    )


def test_pascal3d_c3dpo_json(cli, tmp_path, rng):
    car, car_xyz, car_uv = c3dpo_sample("car", rng, hidden=[2], undefined=[5])
    chair, _, _ = c3dpo_sample("chair", rng)
    path = tmp_path / "pascal3d_val.json"
    path.write_text(json.dumps({"dataset": "pascal3d", "data": [car, chair]}))
    out = tmp_path / "p3d.h5"
    r = cli("build-dataset", "pascal3d", path, "-o", out)
    assert r.exit_code == 0, r.output
    with DatasetFile(out) as f:
        assert f.validate() == []
        info = f.info()
        assert info["rigs"] == {"pascal3d_car": 12, "pascal3d_chair": 10} and info["splits"] == {"val": 2}
        seq = f.sequence(0)
    assert seq.category == "car" and np.isnan(seq.points3d[0, 5]).all()
    np.testing.assert_allclose(seq.points3d[0, :5], car_xyz[:5], rtol=1e-6)
    view = seq.views[0]
    assert view.projection == "weak" and not view.visible[0, 2] and not view.visible[0, 5]
    shown = view.visible[0]
    np.testing.assert_allclose(view.camera.project(seq.points3d, "weak")[0, shown], car_uv[shown], atol=1e-3)
    # C3DPO files without classes need a rig
    plain = tmp_path / "h36m_c3dpo.json"
    xyz = rng.normal(size=(17, 3))
    plain.write_text(
        json.dumps([{"kp_loc": (xyz[:, :2] * 100).T.tolist(), "kp_vis": [1] * 17, "kp_loc_3d": xyz.T.tolist()}])
    )
    r = cli("build-dataset", "pascal3d", plain, "-o", tmp_path / "p.h5")
    assert r.exit_code == 1 and "--rig" in r.stderr
    assert cli("build-dataset", "pascal3d", plain, "-o", tmp_path / "p.h5", "--rig", "h36m_17").exit_code == 0


def test_calibration_properties(rng):
    from lfmcli.geometry.cameras import calibrate

    X = rng.normal(size=(50, 3))
    cam = cameras_around(1, [0, 0, 0])[0]
    est, rms = calibrate(X, cam.project(X), cam.image_size)
    assert rms < 1e-6
    np.testing.assert_allclose(est.R, cam.R, atol=1e-6)
    np.testing.assert_allclose(est.t, cam.t, atol=1e-6)
    with pytest.raises(ValueError, match="degenerate"):
        flat = X.copy()
        flat[:, 2] = 0
        calibrate(flat, cam.project(flat), cam.image_size)
    assert get_rig("h36m_17").num_joints == len(h36m.KEEP_17)


def refused(r, name: str, out) -> bool:
    """A clean refusal: one line naming the file, exit 1, nothing written."""
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    lines = r.stderr.strip().splitlines()
    return r.exit_code == 1 and len(lines) == 1 and name in lines[0] and not out.exists()


def h36m_files(tmp_path, rng, positions_3d=None, positions_2d=None, metadata=None):
    """VideoPose3D 3D and 2D files of one subject and action, four calibrated cameras; any part replaceable."""
    motion = rng.normal(size=(1, 32, 3)) * [0.3, 0.3, 0.6] + [0, 0, 1.0] + rng.normal(size=(30, 32, 3)) * 0.01
    motion = motion.astype(np.float32)
    uv = [c.project(motion[:, h36m.KEEP_17]).astype(np.float32) for c in cameras_around(4, [0, 0, 1.0])]
    positions_3d = {"S1": {"Walking": motion}} if positions_3d is None else positions_3d
    positions_2d = {"S1": {"Walking": uv}} if positions_2d is None else positions_2d
    np.savez(tmp_path / "d3.npz", positions_3d=np.array(positions_3d, dtype=object))
    np.savez(
        tmp_path / "d2.npz",
        positions_2d=np.array(positions_2d, dtype=object),
        metadata=np.array({"num_joints": 17} if metadata is None else metadata, dtype=object),
    )
    return tmp_path / "d3.npz", tmp_path / "d2.npz"


@pytest.mark.parametrize(
    "positions_3d",
    [
        None,
        5,
        {"S1": 5},
        {"S1": None},
        {"S1": {"Walking": "abc"}},
        {"S1": {"Walking": {"a": 1}}},
        {"S1": {"Walking": [[1, 2], [3]]}},
        {"S1": {"Walking": np.zeros((0, 32, 3))}},
        {"S1": {"Walking": np.full((4, 32, 3), np.nan)}},
        {"S1": {"Walking": np.full((4, 32, 3), np.inf)}},
        {"S1": {"Walking": np.full((4, 32, 3), 1e300)}},
    ],
)
def test_h36m_3d_of_wrong_types_is_one_error(cli, tmp_path, rng, positions_3d):
    d3, _ = h36m_files(tmp_path, rng)
    np.savez(d3, positions_3d=np.array(positions_3d, dtype=object))
    out = tmp_path / "out.h5"
    r = cli("build-dataset", "h36m", d3, "-o", out)
    assert refused(r, "d3.npz", out), r.output
    # keys of two types are sorted as text
    walk = {"Walking": rng.normal(size=(4, 32, 3)), 7: rng.normal(size=(4, 32, 3))}
    d3, _ = h36m_files(tmp_path, rng, positions_3d={"S1": walk, 1: walk})
    assert cli("build-dataset", "h36m", d3, "-o", out).exit_code == 0


@pytest.mark.parametrize(
    "positions_2d, metadata",
    [
        (None, None),  # not the 2D asked for: never random cameras instead
        (5, None),
        ({"S1": 5}, None),
        ({"S1": {"Walking": None}}, None),
        ({"S1": {"Walking": 5}}, None),
        ({"S1": {"Walking": "xy"}}, None),
        ({"S1": {"Walking": {"front": np.zeros((30, 17, 2))}}}, None),
        ({"S1": {"Walking": []}}, None),  # no camera
        ({"S1": {"Walking": [np.full((30, 17, 2), np.inf)] * 4}}, None),
        ({"S1": {"Other": [np.zeros((30, 17, 2))] * 4}}, None),
        ("real", "abc"),
        ("real", [1]),
    ],
)
def test_h36m_2d_of_wrong_types_is_one_error(cli, tmp_path, rng, positions_2d, metadata):
    d3, d2 = h36m_files(tmp_path, rng, metadata=metadata)
    if positions_2d != "real":
        np.savez(d2, positions_2d=np.array(positions_2d, dtype=object), metadata=np.array({}, dtype=object))
    out = tmp_path / "out.h5"
    r = cli("build-dataset", "h36m", d3, "--2d", d2, "-o", out)
    assert refused(r, "d2.npz", out), r.output


def test_h36m_action_without_2d_is_one_error(cli, tmp_path, rng):
    d3, d2 = h36m_files(tmp_path, rng)
    with np.load(d3, allow_pickle=True) as z:
        motion = z["positions_3d"].item()["S1"]["Walking"]
    np.savez(d3, positions_3d=np.array({"S1": {"Walking": motion, "Eating": motion}}, dtype=object))
    out = tmp_path / "out.h5"
    assert refused(cli("build-dataset", "h36m", d3, "--2d", d2, "-o", out), "d2.npz", out)


def h3wb_sample(rng) -> dict:
    cam = cameras_around(1, [0, 0, 0], up=(0, -1.0, 0), radius=4.0)[0]
    xyz = rng.normal(size=(133, 3)) * [0.3, 0.8, 0.3]
    return {
        "keypoints_2d": {str(j): {"x": float(u), "y": float(v)} for j, (u, v) in enumerate(cam.project(xyz))},
        "keypoints_3d": {str(j): dict(zip("xyz", map(float, p * 1000), strict=True)) for j, p in enumerate(xyz)},
    }


@pytest.mark.parametrize(
    "key, change",
    [
        ("keypoints_2d", 5),
        ("keypoints_2d", None),
        ("keypoints_2d", {"-1": {"x": 1.0, "y": 2.0}}),  # not the last joint
        ("keypoints_2d", {"133": {"x": 1.0, "y": 2.0}}),
        ("keypoints_2d", {"0": {"x": 2**1100, "y": 2.0}}),
        ("keypoints_2d", {"0": {"x": 1e300, "y": 2.0}}),
        ("keypoints_3d", {"0": {"x": float("inf"), "y": 1.0, "z": 1.0}}),
    ],
)
def test_h3wb_of_wrong_types_is_one_error(cli, tmp_path, rng, key, change):
    sample = h3wb_sample(rng)
    sample[key] = {**sample[key], **change} if isinstance(change, dict) else change
    path = tmp_path / "2Dto3D_train.json"
    path.write_text(json.dumps({"7": sample}))
    out = tmp_path / "out.h5"
    assert refused(cli("build-dataset", "h3wb", path, "-o", out), path.name, out)


@pytest.mark.parametrize(
    "change",
    [
        {"p3d_info": "car"},
        {"p3d_info": [1]},
        {"p3d_info": {"p3d_class": ["car"]}},
        {"p3d_info": {"p3d_class": 5}},
        {"p3d_info": {"image_size": "ab"}},
        {"p3d_info": {"image_size": 5}},
        {"p3d_info": {"image_size": None}},
        {"p3d_info": {"image_size": [float("inf"), 3]}},
        {"p3d_info": {"image_size": [-1, 3]}},
        {"class_mask": "abc", "p3d_info": {}},
        {"class_mask": None, "p3d_info": {}},
        {"kp_defined": "abc"},
        {"kp_defined": None},
        {"kp_defined": [1]},
        {"kp_defined": {"a": 1}},
        {"kp_loc_3d": [[1e300] * pascal3d.P3D_TOTAL] * 3},
    ],
)
def test_pascal3d_of_wrong_types_is_one_error(cli, tmp_path, rng, change):
    car, _, _ = c3dpo_sample("car", rng)
    path = tmp_path / "pascal3d_val.json"
    path.write_text(json.dumps([{**car, **change}]))
    out = tmp_path / "out.h5"
    assert refused(cli("build-dataset", "pascal3d", path, "-o", out), path.name, out)
