import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lfmcli.geometry.cameras import Camera, intrinsics, look_at, orbit_camera, project

angles = st.floats(-np.pi, np.pi)


def test_projection_of_the_optical_axis_is_the_principal_point():
    K = intrinsics(1000, (640, 480))
    assert np.allclose(project(np.array([0, 0, 5.0]), K), [320, 240])
    assert np.allclose(project(np.array([1, 0, 2.0]), K), [320 + 500, 240])


@settings(max_examples=40, deadline=None)
@given(yaw=angles, elev=st.floats(-1.2, 1.2), up=st.sampled_from("yz"))
def test_look_at_is_a_rotation_and_centres_the_target(yaw, elev, up):
    target = np.array([0.3, -0.2, 0.5])
    upv = np.eye(3)["xyz".index(up)]
    e1 = np.roll(upv, 1)
    d = np.cos(elev) * (np.cos(yaw) * e1 + np.sin(yaw) * np.cross(upv, e1)) + np.sin(elev) * upv
    R, t = look_at(target + 4 * d, target, upv)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1)
    cam = Camera(intrinsics(800, (800, 600)), R, t, (800, 600))
    assert np.allclose(cam.project(target), [400, 300])
    assert np.isclose(cam.to_camera(target)[2], 4)
    # world up points up in the image (smaller v) unless the camera looks straight along it
    above = cam.project(target + 0.1 * upv)
    assert above[1] < 300 or abs(elev) > 1.5


@settings(max_examples=40, deadline=None)
@given(yaw=angles, elev=st.floats(0, 0.6), seed=st.integers(0, 1000))
def test_orbit_camera_frames_every_point_at_the_nearest_distance(yaw, elev, seed):
    pts = np.random.default_rng(seed).normal(size=(30, 10, 3)) * [1.0, 0.3, 2.0]
    cam = orbit_camera(pts, "y", yaw, elev, image_size=(1080, 720), focal=900, margin=0.05)
    uv = cam.project(pts)
    assert (cam.to_camera(pts)[..., 2] > 0).all()
    lo, hi = np.array([54, 36]) - 1e-6, np.array([1080 - 54, 720 - 36]) + 1e-6
    assert ((uv >= lo) & (uv <= hi)).all()
    # nearest: some point touches the margin (or the near limit holds the camera back)
    slack = np.minimum(uv - lo, hi - uv).min()
    assert slack < 1e-3 or cam.to_camera(pts)[..., 2].min() < 0.1 * np.ptp(pts, axis=(0, 1)).max()


def test_orbit_camera_ignores_nan_points():
    pts = np.array([[[0, 0, 0], [1, 1, 1], [np.nan, np.nan, np.nan]]], float)
    cam = orbit_camera(pts, "z", 0.3, 0.2)
    assert np.isfinite(cam.t).all()
    with pytest.raises(ValueError):
        orbit_camera(np.full((1, 2, 3), np.nan), "z", 0.0, 0.0)
