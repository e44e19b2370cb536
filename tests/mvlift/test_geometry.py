import numpy as np
import pytest
import torch

from lfmcli.mvlift.geometry import (
    epipolar_lines,
    epipole,
    fundamental,
    line_distance,
    line_features,
    lines_through,
    normalise_clip,
    project,
    ring_cameras,
    triangulate,
)
from lfmcli.mvlift.views import epipolar_loss, fit_motion, flat_start

ANGLES = [0, 60, 120, 180, 240, 300]


def motion(rng, T=12, J=9):
    """A smooth 3D motion of about one unit, centred on the ring's centre."""
    base = rng.normal(scale=0.3, size=(1, J, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, J, 3))
    t = np.arange(T)[:, None, None] / T
    walk = np.concatenate([0.2 * t, 0 * t, 0 * t], -1)  # a global path along x
    return torch.as_tensor(base + 0.1 * np.sin(2 * np.pi * t + phase) + walk, dtype=torch.float64)


def views_of(points, angles=ANGLES, radius=4.0):
    R, t = ring_cameras(angles, radius, torch.float64)
    return torch.stack([project(points, R[v], t[v], radius) for v in range(len(angles))], 0)


def test_the_input_camera_keeps_points_at_the_centre_depth():
    R, t = ring_cameras([0], 4.0, torch.float64)
    p = torch.tensor([[0.3, -0.2, 0.0]], dtype=torch.float64)
    assert torch.allclose(project(p, R[0], t[0], 4.0), p[:, :2])


def test_ring_cameras_look_at_the_centre_from_the_radius():
    R, t = ring_cameras(ANGLES, 3.0, torch.float64)
    centres = -(R.transpose(-1, -2) @ t[..., None])[..., 0]
    assert torch.allclose(centres.norm(dim=-1), torch.full((6,), 3.0, dtype=torch.float64))
    assert torch.allclose(centres[:, 1], torch.zeros(6, dtype=torch.float64))  # level
    origin = torch.zeros(1, 3, dtype=torch.float64)
    for v in range(6):
        assert torch.allclose(project(origin, R[v], t[v], 3.0), torch.zeros(1, 2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(torch.det(R), torch.ones(6, dtype=torch.float64))


def test_projections_of_one_motion_satisfy_every_epipolar_constraint(rng):
    views = views_of(motion(rng))
    R, t = ring_cameras(ANGLES, 4.0, torch.float64)
    for i in range(6):
        for j in range(6):
            if i != j:
                F = fundamental(R[i], t[i], R[j], t[j], 4.0)
                d = line_distance(epipolar_lines(F, views[i]), views[j])
                assert d.abs().max() < 1e-9
    assert float(epipolar_loss(views[None], torch.ones(views.shape[:-1])[None], ANGLES, 4.0)) < 1e-18


def test_a_moved_point_breaks_the_epipolar_constraint(rng):
    views = views_of(motion(rng))
    bad = views.clone()
    bad[2, 3, 4, 1] += 0.1  # lift one point in one view, off its epipolar lines
    weight = torch.ones(views.shape[:-1])[None]
    assert float(epipolar_loss(bad[None], weight, ANGLES, 4.0)) > 1e-6


def test_every_epipolar_line_passes_through_the_epipole(rng):
    views = views_of(motion(rng))
    R, t = ring_cameras(ANGLES, 4.0, torch.float64)
    e = epipole(R[0], t[0], R[1], t[1], 4.0)
    lines = epipolar_lines(fundamental(R[0], t[0], R[1], t[1], 4.0), views[0])
    assert torch.allclose(lines @ e, torch.zeros(lines.shape[:-1], dtype=torch.float64), atol=1e-9)
    # the ring puts every other camera on the horizon
    assert abs(float(e[1])) < 1e-9


def test_lines_through_an_epipole_hold_their_points_and_features_ignore_the_sign(rng):
    pts = torch.as_tensor(rng.normal(size=(5, 2)))
    e = torch.tensor([3.0, 0.5], dtype=torch.float64)
    lines = lines_through(pts, e)
    assert torch.allclose(line_distance(lines, pts), torch.zeros(5, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(line_distance(lines, e.expand(5, 2)), torch.zeros(5, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(line_features(lines), line_features(-lines))


def test_triangulation_recovers_the_motion_from_its_views(rng):
    m = motion(rng)
    views = views_of(m)
    weight = torch.ones(views.shape[:-1], dtype=torch.float64)
    assert torch.allclose(fit_motion(views[None], weight[None], ANGLES, 4.0)[0], m, atol=1e-8)
    # two views are enough; an unseen view does not count
    weight[2:] = 0
    noisy = views.clone()
    noisy[2:] += 5.0
    assert torch.allclose(fit_motion(noisy[None], weight[None], ANGLES, 4.0)[0], m, atol=1e-8)


def test_triangulate_is_batched(rng):
    m = torch.stack([motion(rng), motion(rng)])
    views = torch.stack([views_of(m[0]), views_of(m[1])]).permute(0, 2, 1, 3, 4)  # (B, T, V, J, 2)
    R, t = ring_cameras(ANGLES, 4.0, torch.float64)
    out = triangulate(views, torch.ones(views.shape[:-1], dtype=torch.float64), R, t, 4.0)
    assert torch.allclose(out, m, atol=1e-8)


def test_the_flat_start_is_a_consistent_set_of_views(rng):
    x0 = torch.as_tensor(rng.normal(size=(2, 6, 5, 2)), dtype=torch.float64)
    views = flat_start(x0, ANGLES, 4.0)
    assert torch.allclose(views[:, 0], x0)
    assert float(epipolar_loss(views, torch.ones(views.shape[:-1]), ANGLES, 4.0)) < 1e-18


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_normalised_clips_do_not_depend_on_position_or_size(rng, scale):
    pts = torch.as_tensor(rng.normal(size=(1, 8, 6, 2)), dtype=torch.float64)
    vis = torch.as_tensor(rng.random((1, 8, 6)) > 0.2)
    a, _, _ = normalise_clip(pts, vis)
    b, centre, size = normalise_clip(pts * scale + 7.0, vis)
    assert torch.allclose(a, b, atol=1e-4)
    assert (b[~vis] == 0).all()
    side = torch.stack([(pts[0, f][vis[0, f]].amax(0) - pts[0, f][vis[0, f]].amin(0)).max() for f in range(8)])
    assert torch.allclose(size / scale, side.mean(), rtol=1e-4)


def test_triangulating_with_the_input_exact_keeps_its_2d_and_takes_depth_from_the_others(rng):
    m = motion(rng)
    views = views_of(m).permute(1, 0, 2, 3)  # (T, V, J, 2)
    R, t = ring_cameras(ANGLES, 4.0, torch.float64)
    ones = torch.ones(views.shape[:-1], dtype=torch.float64)
    assert torch.allclose(triangulate(views, ones, R, t, 4.0, exact_first=True), m, atol=1e-8)
    noisy = views.clone()
    noisy[:, 1:] += torch.as_tensor(rng.normal(scale=0.05, size=noisy[:, 1:].shape))
    free = triangulate(noisy, ones, R, t, 4.0)
    kept = triangulate(noisy, ones, R, t, 4.0, exact_first=True)
    assert torch.allclose(project(kept, R[0], t[0], 4.0), views[:, 0], atol=1e-9)
    assert not torch.allclose(project(free, R[0], t[0], 4.0), views[:, 0], atol=1e-4)
    assert (kept - m).norm(dim=-1).mean() < 0.1  # the depth still comes from the noisy views
    # a point the input does not see is triangulated from the others as before
    hidden = ones.clone()
    hidden[:, 0, 3] = 0
    both = triangulate(noisy, hidden, R, t, 4.0, exact_first=True)
    assert torch.allclose(both[:, 3], triangulate(noisy, hidden, R, t, 4.0)[:, 3])
