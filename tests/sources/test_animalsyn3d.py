import json

import numpy as np
import pytest
import yaml

from lfmcli.data.format import DatasetFile
from lfmcli.errors import LfmError
from lfmcli.rigs import get_rig
from lfmcli.sources import animalsyn3d, synthetic
from lfmcli.sources.anime import AnimeMesh, read_anime, write_anime


def zoo(tmp_path, **kw):
    folder = tmp_path / "zoo"
    paths = synthetic.write_zoo(folder, **{"creatures": 4, "motions_per_creature": 1, "frames": 24, **kw})
    return folder, paths


def test_zoo_meshes_and_markers_round_trip(tmp_path):
    folder, paths = zoo(tmp_path)
    assert len(paths) == 4 and all(p.parent.name == p.stem for p in paths)
    markers = animalsyn3d.find_markers([folder / "markers"])
    assert set(markers) == {"biped000", "quadruped001", "bird002", "crawler003"}
    for path in paths:
        character, motion = animalsyn3d.character_of(path)
        mesh = read_anime(path)
        joints = markers[character].joints(mesh.vertices)
        assert joints.shape == (24, markers[character].rig.num_joints, 3)
        # half-ring surface markers sit near, but not on, the joints: bones stretch a little as joints bend
        assert 0 < animalsyn3d.bone_cv(joints, markers[character].rig.parents) < 0.05


def test_marker_file_errors(tmp_path):
    folder, paths = zoo(tmp_path)
    marker_file = folder / "markers" / "biped000.yaml"
    doc = yaml.safe_load(marker_file.read_text())
    first = next(iter(doc["markers"]))
    doc["markers"][first] = [10**7]
    marker_file.write_text(yaml.safe_dump(doc))
    ms = animalsyn3d.load_markers(marker_file)
    with pytest.raises(LfmError, match="out of range"):
        ms.joints(read_anime(paths[0]).vertices, paths[0])
    del doc["markers"][first]
    marker_file.write_text(yaml.safe_dump(doc))
    with pytest.raises(LfmError, match="missing"):
        animalsyn3d.load_markers(marker_file)


def test_pipeline_refines_bones_and_skips_bad_files(cli, tmp_path):
    folder, paths = zoo(tmp_path)
    (folder / "broken_walk").mkdir()
    (folder / "broken_walk" / "broken_walk.anime").write_bytes(b"\x02\x00\x00\x00\x05")
    out = tmp_path / "as3d.h5"
    r = cli("build-dataset", "animalsyn3d", folder, "--markers", folder / "markers", "-o", out)
    assert r.exit_code == 1 and "broken_walk.anime" in r.stderr and not out.exists()
    r = cli(
        "build-dataset",
        "animalsyn3d",
        folder,
        "--markers",
        folder / "markers",
        "-o",
        out,
        "--skip-bad",
        "--views",
        2,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    assert "skipped" in r.stderr and "broken_walk" in r.stderr
    with DatasetFile(out) as f:
        assert f.validate() == []
        info = f.info()
        assert info["sequences"] == 4 and len(info["categories"]) == 4
        report = json.loads(f._file.attrs["refinement"])
        assert max(row["bone_cv_after"] for row in report) < 1e-3 < min(row["bone_cv_before"] for row in report)
        for i in range(f.num_sequences):
            seq = f.sequence(i)
            assert animalsyn3d.bone_cv(seq.points3d, seq.rig.parents) < 1e-3
            for view in seq.views:
                assert view.visible.all()  # every joint in view
                # cameras are rotated about the vertical axis only: the optical axis is horizontal
                assert abs(view.camera.R[2] @ np.array([0, 1.0, 0])) < 1e-6


def test_weak_perspective_option(cli, tmp_path):
    folder, _ = zoo(tmp_path, creatures=1)
    out = tmp_path / "weak.h5"
    r = cli("build-dataset", "animalsyn3d", folder, "--markers", folder / "markers", "-o", out, "--projection", "weak")
    assert r.exit_code == 0, r.output
    with DatasetFile(out) as f:
        seq = f.sequence(0)
    view = seq.views[0]
    assert view.projection == "weak"
    cam = view.camera.to_camera(seq.points3d)
    depth = cam[..., 2].mean(-1, keepdims=True)
    expected = cam[..., :2] / depth[..., None] * view.camera.K[0, 0] + view.camera.K[:2, 2]
    np.testing.assert_allclose(view.points2d, expected, rtol=1e-4, atol=1e-2)


def release_json(path, rig_name="animalsyn3d_bear3EP", frames=6, rng=None):
    """A file in the layout of the released AnimalSyn3D animations."""
    rng = rng or np.random.default_rng(0)
    rig = get_rig(rig_name)
    J = rig.num_joints
    cam3d = rng.normal(size=(frames, J, 3)) * 0.3 + [0, 0, 4]
    K = np.array([[1050.0, 0, 540], [0, 1050, 540], [0, 0, 1]])
    uv = cam3d[..., :2] / cam3d[..., 2:] * 1050 + 540
    doc = {
        "model": rig_name.split("_")[1],
        "animation": "walk",
        "rel_mesh_path": "x/x.anime",
        "joint_group_idxs": [[j, j + 1] for j in range(J)],
        "connections": [list(e) for e in rig.edges],
        "camera": {"intrinsic": K.tolist(), "extrinsic": np.eye(4)[:3].tolist(), "width": 1080, "height": 1080},
        "points": {"2d": uv.tolist(), "3d": cam3d.tolist(), "cam_3d": cam3d.tolist(), "scaling_factor": [1.0] * frames},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return cam3d, uv


def test_release_json_imports_points_cameras_and_markers(cli, tmp_path):
    cam3d, uv = release_json(tmp_path / "release" / "bear" / "walk.json")
    release_json(tmp_path / "release" / "fox" / "run.json", "animalsyn3d_foxZED")
    ms = animalsyn3d.markers_from_json(tmp_path / "release" / "bear" / "walk.json")
    assert ms.rig.name == "animalsyn3d_bear3EP" and len(ms.groups) == 21
    out = tmp_path / "release.h5"
    r = cli("build-dataset", "animalsyn3d-json", tmp_path / "release", "-o", out)
    assert r.exit_code == 0, r.output
    with DatasetFile(out) as f:
        assert f.validate() == []
        assert f.info()["rigs"] == {"animalsyn3d_bear3EP": 21, "animalsyn3d_foxZED": 26}
        seq = f.sequence(0)
    np.testing.assert_allclose(seq.points3d, cam3d, rtol=1e-5)
    np.testing.assert_allclose(seq.views[0].points2d, uv, rtol=1e-5)
    np.testing.assert_allclose(seq.views[0].camera.project(seq.points3d), uv, rtol=1e-4)


def test_marker_groups_from_release_json_drive_the_mesh_path(tmp_path):
    release_json(tmp_path / "bear3EP.json")
    ms = animalsyn3d.find_markers([tmp_path / "bear3EP.json"])["bear3EP"]
    vertices = np.random.default_rng(1).normal(size=(3, 40, 3)).astype(np.float32)
    joints = ms.joints(vertices)
    np.testing.assert_allclose(joints[:, 5], vertices[:, 5:7].mean(1), rtol=1e-6)
    (tmp_path / "meshes" / "bear3EP_walk").mkdir(parents=True)
    write_anime(tmp_path / "meshes" / "bear3EP_walk" / "bear3EP_walk.anime", AnimeMesh(vertices, np.zeros((0, 3), int)))
    planned, report, skipped = animalsyn3d.plan([tmp_path / "meshes"], {"bear3EP": ms}, steps=5)
    seq = planned[0].load()
    assert seq.rig.name == "animalsyn3d_bear3EP" and seq.points3d.shape == (3, 21, 3) and not skipped
    assert report[0]["bone_cv_after"] < 1e-3


THING = {"name": "thing", "joints": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]], "root": "a"}


@pytest.mark.parametrize(
    "change",
    [
        {"rig": 5},
        {"rig": None},
        {"rig": ["thing"]},
        {"rig": {k: v for k, v in THING.items() if k != "root"}},  # no tree for the bone refinement
        {"markers": {"a": [[0], [1, 2]], "b": [2], "c": [3]}},
        {"markers": {"a": [0.5], "b": [2], "c": [3]}},
        {"markers": {"a": [True], "b": [2], "c": [3]}},
    ],
)
def test_marker_yaml_of_wrong_types_is_one_error(tmp_path, change):
    path = tmp_path / "thing.yaml"
    path.write_text(
        yaml.safe_dump({"character": "thing", "rig": THING, "markers": {"a": [0], "b": [1], "c": [2]}, **change})
    )
    with pytest.raises(LfmError, match=r"thing\.yaml: "):
        animalsyn3d.find_markers([path])


@pytest.mark.parametrize(
    "change",
    [
        {"joint_group_idxs": 5},
        {"joint_group_idxs": "abc"},
        {"joint_group_idxs": [1, 2, 3]},
        {"joint_group_idxs": [[0.5], [1], [2]]},  # not truncated to vertex 0
        {"joint_group_idxs": [None, [1], [2]]},
        {"joint_group_idxs": [[float("inf")], [1], [2]]},
        {"joint_group_idxs": [[2**70], [1], [2]]},
        {"joint_group_idxs": [[[0], [1, 2]], [1], [2]]},
        {"connections": [[0, -1], [1, 2]]},  # not joint 2, counted from the end
        {"connections": [[0, 0], [1, 2]]},
        {"connections": [[0.5, 1], [1, 2]]},
        {"connections": [[0, 1]]},  # joint 2 left out: no tree
        {"model": ["bear"]},
    ],
)
def test_marker_json_of_wrong_types_is_one_error(tmp_path, change):
    path = tmp_path / "bear.json"
    doc = {"model": "bear", "joint_group_idxs": [[0], [1], [2]], "connections": [[0, 1], [1, 2]]}
    path.write_text(json.dumps({**doc, **change}))
    with pytest.raises(LfmError, match=r"bear\.json: "):
        animalsyn3d.find_markers([path])


@pytest.mark.parametrize(
    "field, value",
    [
        (("points", "cam_3d"), 5),
        (("points", "cam_3d"), [[[1e39, 0, 4]] * 21] * 6),  # beyond 32-bit floats
        (("points", "2d"), [[[float("inf"), 0]] * 21] * 6),
        (("camera", "intrinsic"), [[float("nan"), 0, 540], [0, 1050, 540], [0, 0, 1]]),
        (("camera", "width"), float("inf")),
        (("camera", "width"), 2**70),
        (("camera", "width"), -5),
        (("fps",), "x"),
        (("fps",), [30]),
        (("fps",), None),
        (("fps",), float("nan")),
        (("fps",), -1),
        (("model",), ["bear3EP"]),
    ],
)
def test_release_json_of_wrong_types_is_one_error(tmp_path, field, value):
    path = tmp_path / "bear" / "walk.json"
    release_json(path)
    doc = json.loads(path.read_text())
    parent = doc
    for key in field[:-1]:
        parent = parent[key]
    parent[field[-1]] = value
    path.write_text(json.dumps(doc))
    with pytest.raises(LfmError, match=r"walk\.json: "):
        animalsyn3d.read_release_json(path, "bear/walk")
