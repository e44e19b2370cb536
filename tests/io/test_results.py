import json

import h5py
import numpy as np
import pytest

from lfmcli.errors import LfmError


def test_also_json_and_c3d(cli, ckpt, tmp_path, rng):
    ezc3d = pytest.importorskip("ezc3d")
    pts = rng.uniform(100, 600, (5, 17, 2)).tolist()
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


def test_a_result_reads_back_as_it_was_written(tmp_path, rng):
    from lfmcli.io.results import WRITERS, read_result, write_result
    from lfmcli.keypoints import Keypoints2D, Lifted
    from lfmcli.rigs import Rig

    assert list(WRITERS) == ["h5", "npz", "json", "c3d", "movement"]  # every --also format is one registered writer
    rig = Rig(name="own", joints=("a", "b", "c"), edges=((0, 1), (1, 2)))
    points = rng.uniform(0, 100, (4, 2, 3, 2)).astype(np.float32)
    points[1, 0, 2] = np.nan
    conf = np.where(np.isnan(points[..., 0]), np.nan, 0.5).astype(np.float32)
    kp = Keypoints2D(points, conf, list(rig.joints), rig, ["left", "right"], fps=25.0, format="lfm-json")
    kp.frame_names = ["img_0.png", "img_1.png", "img_2.png", "img_3.png"]
    position = rng.normal(size=(4, 2, 3, 3)).astype(np.float32)
    position[1, 0, 2] = np.nan
    lifted = Lifted(position, np.isfinite(points).all(-1))
    write_result(tmp_path / "r.h5", "h5", kp, lifted, {"command": "lfm lift x"})
    back, again, attrs = read_result(tmp_path / "r.h5")
    np.testing.assert_array_equal(back.points, points)
    np.testing.assert_array_equal(back.confidence, conf)
    np.testing.assert_array_equal(again.position, position)
    np.testing.assert_array_equal(again.visible, lifted.visible)
    assert back.joints == ["a", "b", "c"] and back.individuals == ["left", "right"] and back.fps == pytest.approx(25)
    assert back.rig.edges == rig.edges and attrs["command"] == "lfm lift x" and attrs["rig"] == "own"
    assert back.frame_names == kp.frame_names
    with pytest.raises(LfmError, match="not an lfm lift result"):
        h5py.File(tmp_path / "empty.h5", "w").close()
        read_result(tmp_path / "empty.h5")


def test_frame_rate_and_the_way_back_to_the_source_frames(real_files, cli, ckpt, tmp_path):
    xr = pytest.importorskip("xarray")
    folder = real_files / "openpose" / "raga_example_1person"
    out = tmp_path / "raga.h5"
    r = cli("lift", folder, "-o", out, "--checkpoint", ckpt[0], "--fps", 25)
    assert r.exit_code == 0, r.output
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert list(ds.source_frame.values) == sorted(p.name for p in folder.glob("*.json"))
    assert ds.time.values[1] == pytest.approx(1 / 25) and "--fps 25" in ds.attrs["command"]
    # C3D needs a frame rate: without one it is refused before anything is written
    r = cli("lift", folder, "-o", tmp_path / "no_rate.h5", "--checkpoint", ckpt[0], "--also", "c3d")
    assert r.exit_code == 1 and "--fps" in r.stderr and not (tmp_path / "no_rate.h5").exists()
    r = cli("lift", folder, "-o", tmp_path / "bad.h5", "--checkpoint", ckpt[0], "--fps", 0)
    assert r.exit_code == 1 and "--fps 0" in r.stderr
