"""Hand-computed cases for every metric."""

import math

import pytest
import torch

from lfmcli.errors import LfmError
from lfmcli.metrics import (
    METRICS,
    bone_length_cv,
    bone_length_cvs,
    get_metric,
    in_input_view,
    j2d,
    j2d_centred,
    mpjpe,
    n_mpjpe,
    pa_mpjpe,
    pa_mpjpe_pct,
    reprojection_px,
    sa_mpjpe,
    sa_mpve,
    t_root,
    weak_perspective,
)

T3 = torch.tensor


def square():
    return T3([[0.0, 0, 0], [2, 0, 0], [2, 2, 0], [0, 2, 0]], dtype=torch.float64)


def test_mpjpe_is_centroid_relative_and_masked():
    g = square()[None]
    p = g + T3([5.0, -1, 3], dtype=torch.float64)  # a pure translation costs nothing
    ones = torch.ones(1, 4, dtype=torch.bool)
    assert mpjpe(p, g, ones).item() == pytest.approx(0)
    # move one joint by 4 along x: centroid shifts by 1, so errors are 3, 1, 1, 1 -> mean 1.5
    p = g.clone()
    p[0, 1, 0] += 4
    assert mpjpe(p, g, ones).item() == pytest.approx(1.5)
    # masking that joint out makes the rest perfect again
    mask = T3([[True, False, True, True]])
    assert mpjpe(p, g, mask).item() == pytest.approx(0)
    p[0, 1] = float("nan")
    assert mpjpe(p, g, mask).item() == pytest.approx(0)


def test_n_mpjpe_removes_scale_only():
    g = square()[None]
    ones = torch.ones(1, 4, dtype=torch.bool)
    assert n_mpjpe(3 * g, g, ones).item() == pytest.approx(0)
    rotated = g[..., [1, 0, 2]]  # a reflection across x=y: scale cannot fix it
    assert n_mpjpe(rotated, g, ones).item() > 0.5


def test_pa_mpjpe_removes_similarity_and_hand_case():
    g = square()[None]
    ones = torch.ones(1, 4, dtype=torch.bool)
    c, s = math.cos(0.7), math.sin(0.7)
    R = T3([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)
    assert pa_mpjpe(2.5 * g @ R.T + 1, g, ones).item() == pytest.approx(0, abs=1e-9)
    # square vs a 2x1 rectangle: best similarity error by hand. Centred rectangle corners (+-1, +-0.5) vs square
    # corners (+-1, +-1): optimal scale s = sum(p.g)/sum(p.p) = (4*1 + 4*0.5)/(4*1.25) = 1.2, residual per corner
    # (1-1.2, 1-0.6) -> distance sqrt(0.04 + 0.16)
    rect = T3([[0.0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0]], dtype=torch.float64)[None]
    assert pa_mpjpe(rect, g, ones).item() == pytest.approx(math.sqrt(0.2), abs=1e-9)
    # pa-mpjpe% divides by the RMS radius of the ground truth: sqrt(2) for the square
    assert pa_mpjpe_pct(rect, g, ones).item() == pytest.approx(100 * math.sqrt(0.2) / math.sqrt(2), abs=1e-7)


def test_sequence_metrics_hand_cases():
    g = square()
    target = torch.stack([g, g + T3([1.0, 0, 0], dtype=torch.float64), g + T3([2.0, 0, 0], dtype=torch.float64)])[None]
    mask = torch.ones(1, 3, 4, dtype=torch.bool)
    # a scaled, shifted copy of the whole sequence is perfect for both
    assert sa_mpjpe(3 * target + 1, target, mask).item() == pytest.approx(0, abs=1e-9)
    assert sa_mpve(3 * target + 1, target, mask).item() == pytest.approx(0, abs=1e-9)
    # the path travelled is not part of the pose: a still prediction of a sliding target is exact
    slide = torch.stack([g + T3([k, 0.0, 0], dtype=torch.float64) for k in range(3)])[None]
    still = torch.stack([g] * 3)[None]
    assert sa_mpjpe(still, slide, mask).item() == pytest.approx(0, abs=1e-9)
    assert sa_mpve(still, slide, mask).item() == pytest.approx(0, abs=1e-9)
    # a still prediction of a growing target (1, 2, 3 times the square, corners sqrt(2) from the centre): the one
    # alignment scales by 2, leaving |k - 2| sqrt(2) per frame (mean 2 sqrt(2) / 3), and every velocity is off by
    # the target's, sqrt(2) per corner
    grow = torch.stack([k * g for k in (1.0, 2.0, 3.0)])[None]
    assert sa_mpjpe(still, grow, mask).item() == pytest.approx(2 * math.sqrt(2) / 3, abs=1e-6)
    assert sa_mpve(still, grow, mask).item() == pytest.approx(math.sqrt(2), abs=1e-6)
    # per-frame alignment cannot see that difference
    assert pa_mpjpe(still, grow, mask).abs().max().item() == pytest.approx(0, abs=1e-9)


def test_root_translation_error_hand_cases():
    g = square()
    slide = torch.stack([g + T3([k, 0.0, 0], dtype=torch.float64) for k in range(3)])[None]
    mask = torch.ones(1, 3, 4, dtype=torch.bool)
    # the path, scaled, rotated and shifted as a whole, is exact
    turn = T3([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float64)
    assert t_root(2 * slide @ turn.T + 5, slide, mask).item() == pytest.approx(0, abs=1e-9)
    # a still prediction of a target sliding 0, 1, 2 along x: the one alignment puts it at the middle frame, so
    # the centroid is off by 1, 0, 1: mean 2/3
    still = torch.stack([g] * 3)[None]
    assert t_root(still, slide, mask).item() == pytest.approx(2 / 3, abs=1e-9)
    # frames without any ground truth do not count
    mask[0, 2] = False
    assert t_root(still, slide, mask).item() == pytest.approx(0.5, abs=1e-9)


def test_reprojection_error_hand_cases():
    u = square()[:, :2]
    slide = torch.stack([u + T3([k, 0.0], dtype=torch.float64) for k in range(3)])[None]  # pixels, 1 per frame
    seen = torch.ones(1, 3, 4, dtype=torch.bool)
    # the lifter's nominal camera: any one scale and shift of the whole clip is exact
    assert j2d(2 * slide + 5, slide, seen).item() == pytest.approx(0, abs=1e-9)
    # a pose that stays still while the input slides 0, 1, 2: off by 1, 0, 1 after the one shift; centred, exact
    still = torch.stack([u] * 3)[None]
    assert j2d(still, slide, seen).item() == pytest.approx(2 / 3, abs=1e-9)
    assert j2d_centred(still, slide, seen).item() == pytest.approx(0, abs=1e-9)
    # one scale per clip: a pose that doubles in one frame is off by its extra size there
    grow = still.clone()
    grow[0, 2] *= 2
    assert j2d_centred(grow, still, seen).item() > 0.1
    # points the lifter did not see do not count, whatever is there
    wild = slide.clone()
    wild[0, 1, 3] = T3([1e6, float("nan")])
    hidden = seen.clone()
    hidden[0, 1, 3] = False
    assert j2d(2 * slide + 5, wild, hidden).item() == pytest.approx(0, abs=1e-9)
    # perspective: a camera-frame prediction at depth 2 is seen at half size; without depth, x and y as they are
    p = torch.cat([slide, torch.full_like(slide[..., :1], 2.0)], -1)
    assert torch.allclose(in_input_view(p, True), slide / 2) and torch.equal(in_input_view(p, False), slide)


def test_registry_and_aliases():
    assert get_metric("FA-MPJPE") is METRICS["pa-mpjpe"]
    assert get_metric("sa-mpve").sequence and not get_metric("mpjpe").sequence
    with pytest.raises(LfmError, match="unknown metric"):
        get_metric("mpjpe2")


# ----- the checks that need no 3D


def rotations(n: int, seed: int = 0) -> torch.Tensor:
    q = torch.randn(n, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]
    rows += [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]
    rows += [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]
    return torch.stack(rows, -1).reshape(n, 3, 3)


STAR = T3([[0.0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3], [-1, -1, 1]], dtype=torch.float64)  # not planar
STAR_BONES = T3([[0, 1], [0, 2], [0, 3], [0, 4]])


def test_bone_length_cv_of_a_rigid_shape_is_zero_however_it_moves():
    R = rotations(50)
    moving = torch.einsum("tab,jb->tja", R, STAR) + torch.randn(50, 1, 3, dtype=torch.float64)
    seen = torch.ones(1, 50, 5, dtype=torch.bool)
    assert bone_length_cv(moving[None], STAR_BONES, seen).item() == pytest.approx(0, abs=1e-9)


def test_bone_length_cv_of_a_known_stretch():
    # bone 0-1 is 1 long in two frames and 3 in two: mean 2, std 1, CV 0.5; the other bones keep their length
    frames = STAR.expand(4, 5, 3).clone()
    frames[2:, 1, 0] = 3
    seen = torch.ones(1, 4, 5, dtype=torch.bool)
    cvs = bone_length_cvs(frames[None], STAR_BONES, seen)
    assert cvs[0].tolist() == pytest.approx([0.5, 0, 0, 0])
    assert bone_length_cv(frames[None], STAR_BONES, seen).item() == pytest.approx(0.125)
    # a bone seen in one frame only has no CV and leaves the mean; unseen frames of a bone do not count
    seen[0, 1:, 4] = False
    seen[0, 2:, 1] = False
    assert bone_length_cvs(frames[None], STAR_BONES, seen)[0, 3].isnan()
    assert bone_length_cv(frames[None], STAR_BONES, seen).item() == pytest.approx(0)


def test_reprojection_of_an_exact_projection_is_zero_from_any_orientation():
    # the 2D: the shape turned anyhow in each frame, scaled to pixels, seen orthographically and shifted; the lift is
    # the unturned shape, with the depth of one point wrong for good measure in a frame where that point is hidden
    R = rotations(100, seed=1)
    uv = 40 * torch.einsum("tab,jb->tja", R, STAR)[..., :2] + T3([300.0, 200.0], dtype=torch.float64)
    lift = STAR.expand(1, 100, 5, 3).clone()
    seen = torch.ones(1, 100, 5, dtype=torch.bool)
    lift[0, 7, 2, 2], seen[0, 7, 2] = 5.0, False
    assert reprojection_px(lift, uv[None], seen).item() == pytest.approx(0, abs=1e-9)
    placed = weak_perspective(lift, uv[None], seen)
    assert bone_length_cv(placed, STAR_BONES, seen).item() == pytest.approx(0, abs=1e-6)  # in pixels: 40 x


def test_reprojection_of_a_known_offset():
    # a straight lift of three points, the 2D's middle point lifted by 9 px: the best camera puts the line through
    # the 2D's centroid (3 px up), so the points miss by 3, 6, 3 px: a mean of 4 px
    lift = T3([[[[-1.0, 0, 0], [0, 0, 0], [1, 0, 0]]]], dtype=torch.float64)
    uv = T3([[[[-1.0, 0], [0, 9], [1, 0]]]], dtype=torch.float64)
    seen = torch.ones(1, 1, 3, dtype=torch.bool)
    assert reprojection_px(lift, uv, seen).item() == pytest.approx(4)
    # frames with fewer than three points seen fit any lift and are left out
    assert reprojection_px(lift, uv, T3([[[True, True, False]]])).item() == pytest.approx(0)
