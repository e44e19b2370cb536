"""movement datasets both ways: a lift result opens with movement, and a 2D dataset movement saved lifts."""

import json
import sys

import numpy as np
import pytest

from lfmcli.io.readers import read_keypoints
from lfmcli.io.results import read_result
from lfmcli.rigs import get_rig


def test_a_lift_opens_as_a_movement_dataset(cli, ckpt, tmp_path, rng):
    pytest.importorskip("movement")
    import xarray as xr
    from movement.kinematics import compute_speed
    from movement.validators.datasets import ValidPosesInputs

    pts = rng.uniform(100, 600, (6, 17, 2)).tolist()
    pts[2][3] = None
    (tmp_path / "in.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17", "fps": 50}))
    out = tmp_path / "walk.h5"
    r = cli("lift", tmp_path / "in.json", "-o", out, "--checkpoint", ckpt[0], "--also", "movement")
    assert r.exit_code == 0, r.output
    _, lifted, _ = read_result(out)
    with xr.open_dataset(out.with_suffix(".nc")) as ds:  # as movement opens the datasets it saved
        ValidPosesInputs.validate(ds)
        time, space, keypoints, individuals = ValidPosesInputs.DIM_NAMES  # plural or singular, by movement's version
        assert ds.position.dims == ValidPosesInputs.DIM_NAMES and list(ds[space].values) == ["x", "y", "z"]
        assert list(ds[keypoints].values) == list(get_rig("h36m_17").joints) and list(ds[individuals].values) == ["0"]
        assert (
            ds.attrs["fps"] == 50 and ds.attrs["time_unit"] == "seconds" and ds[time].values[1] == pytest.approx(0.02)
        )
        assert ds.attrs["ds_type"] == "poses" and "lfm lift" in ds.attrs["command"]
        np.testing.assert_array_equal(
            ds.position.transpose(time, individuals, keypoints, space).values, lifted.position
        )
        assert np.isnan(ds.position.values[2, :, 3, 0]).all()  # the missing joint stays missing
        speed = compute_speed(ds.position)
        assert speed.dims == (time, keypoints, individuals) and np.isfinite(speed.values[1:, 0]).all()


def test_movement_output_without_movement_says_what_to_install(cli, ckpt, tmp_path, monkeypatch):
    (tmp_path / "in.json").write_text(json.dumps({"keypoints": [[[1, 2], [3, 4], [5, 6]]]}))
    out = tmp_path / "r.h5"
    monkeypatch.setitem(sys.modules, "movement", None)  # as without the optional package
    r = cli("lift", tmp_path / "in.json", "-o", out, "--checkpoint", ckpt[0], "--also", "movement")
    assert r.exit_code == 1 and "lfmcli[movement]" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and not out.with_suffix(".nc").exists()  # refused before anything is written
    r = cli("lift", tmp_path / "in.json", "-o", tmp_path / "r.nc", "--checkpoint", ckpt[0], "--also", "movement")
    assert r.exit_code == 1 and "name it .h5" in r.stderr


def test_a_dataset_movement_saved_lifts(real_files, cli, ckpt, tmp_path):
    pytest.importorskip("movement")
    from movement.io import load_poses

    ds = load_poses.from_dlc_file(real_files / "dlc" / "m4s1__CollectedData_Pranav.h5", fps=30)
    ds.to_netcdf(tmp_path / "mouse.nc")
    out = tmp_path / "mouse.h5"
    r = cli("lift", tmp_path / "mouse.nc", "-o", out, "--checkpoint", ckpt[0])
    assert r.exit_code == 0, r.output
    kp, lifted, attrs = read_result(out)
    assert attrs["input_format"] == "movement" and kp.fps == pytest.approx(30)
    assert kp.joints == ["snout", "leftear", "rightear", "tailbase"] and kp.individuals == ["individual_0"]
    np.testing.assert_array_equal(kp.points[:, 0], ds.position.values[..., 0].transpose(0, 2, 1).astype(np.float32))
    seen = np.isfinite(kp.points).all(-1)
    assert seen.any() and (kp.confidence[seen] == 1).all()  # labelled data: movement's NaN confidence is certain
    assert np.isfinite(lifted.position[seen]).all()

    # several individuals and their confidence: the same as lfm reads from SLEAP's own file
    sleap = real_files / "sleap" / "predictions.analysis.h5"
    load_poses.from_sleap_file(sleap).to_netcdf(tmp_path / "flies.nc")
    flies, direct = read_keypoints(tmp_path / "flies.nc"), read_keypoints(sleap)
    assert flies.individuals == direct.individuals and flies.joints == direct.joints and flies.fps is None
    np.testing.assert_array_equal(flies.points, direct.points)
    np.testing.assert_allclose(flies.confidence, direct.confidence)


def test_movement_datasets_lfm_does_not_lift_are_one_line(cli, ckpt, tmp_path, rng):
    pytest.importorskip("movement")
    import xarray as xr
    from movement.io import load_poses

    names = {"individual_names": ["a", "b"], "keypoint_names": ["p", "q", "r"], "source_software": "test"}
    flat = load_poses.from_numpy(rng.uniform(0, 99, (5, 2, 3, 2)), np.full((5, 3, 2), 0.9), **names)
    # movement 0.17 names keypoints and individuals in the singular: both namings read alike
    plural = {"keypoints": "keypoint", "individuals": "individual"}
    other = plural | {v: k for k, v in plural.items()}
    for ds in (flat, flat.rename({d: other[d] for d in other if d in flat.dims})):
        ds.to_netcdf(tmp_path / "two.nc")
        kp = read_keypoints(tmp_path / "two.nc")
        assert kp.individuals == ["a", "b"] and kp.joints == ["p", "q", "r"] and (kp.confidence == 0.9).all()
    load_poses.from_numpy(rng.normal(size=(5, 3, 3, 2)), **names).to_netcdf(tmp_path / "3d.nc")
    xr.Dataset({"temperature": ("x", [1.0, 2.0])}).to_netcdf(tmp_path / "other.nc")
    for name, problem in (("3d.nc", "3D movement dataset"), ("other.nc", "unknown input format")):
        r = cli("lift", tmp_path / name, "-o", tmp_path / "out.h5", "--checkpoint", ckpt[0])
        assert r.exit_code == 1 and problem in r.stderr and name in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.h5").exists()
