"""Pose-error metrics, as the lifting literature defines them (formulas in docs/metrics.md).

All are masked (joints without ground truth, or padding, never count), batched, and in the units of the ground
truth, except ``pa-mpjpe%`` which is scale-free. Frame metrics take (..., J, 3) and return one value per frame
(...,); sequence metrics take (B, T, J, 3) with mask (B, T, J) and return one value per sequence (B,). Image metrics
(``j2d``, ``j2d-centred``) need no 3D: they compare the prediction's projection into the input view, (B, T, J, 2),
with the input 2D in pixels, masked by the points the lifter saw. The checks of a lift without 3D at the end
(reprojection by the best weak-perspective camera, bone-length constancy) are not among METRICS: lfm lift's results
have no view to compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .geometry.procrustes import centre, sequence_align, sequence_aligned, similarity_align, spread


def _mean_distance(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = mask.to(a.dtype)
    d = torch.linalg.norm(torch.nan_to_num(a - torch.nan_to_num(b)), dim=-1) * w
    return d.sum(-1) / w.sum(-1).clamp(min=1)


def mpjpe(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error after centring both on the centroid of their masked joints (no rotation or
    scale alignment)."""
    return _mean_distance(centre(pred, mask), centre(target, mask), mask)


def n_mpjpe(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MPJPE after centring and the least-squares scale of the prediction (no rotation)."""
    p, g = centre(pred, mask), centre(target, mask)
    w = mask.to(p.dtype)[..., None]
    s = (w * p * g).sum((-1, -2)) / (w * p * p).sum((-1, -2)).clamp(min=1e-12)
    return _mean_distance(s[..., None, None] * p, g, mask)


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MPJPE after the best similarity transform (scale, rotation without reflection, translation) of each frame;
    the space-time paper's FA-MPJPE."""
    return _mean_distance(similarity_align(pred, target, mask), target, mask)


def pa_mpjpe_pct(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PA-MPJPE as a percentage of the RMS distance of the ground-truth joints to their centroid: scale-free, so
    categories of different size (and units) compare."""
    return 100 * pa_mpjpe(pred, target, mask) / spread(target, mask).sqrt().clamp(min=1e-12)


def sa_mpjpe(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Centroid-relative MPJPE after one similarity transform for the whole sequence (B, T, J, 3) -> (B,)."""
    aligned, target = sequence_aligned(pred, target, mask)
    B = pred.shape[0]
    return _mean_distance(aligned.reshape(B, -1, 3), target.reshape(B, -1, 3), mask.reshape(B, -1))


def sa_mpve(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean per-joint velocity error (per frame step) after one similarity transform for the whole sequence;
    counts joints present in both frames of a step. (B, T, J, 3) -> (B,)."""
    aligned, target = sequence_aligned(pred, target, mask)
    both = mask[:, 1:] & mask[:, :-1]
    B = pred.shape[0]
    dv = (aligned[:, 1:] - aligned[:, :-1]).reshape(B, -1, 3)
    dg = torch.nan_to_num(target[:, 1:] - target[:, :-1]).reshape(B, -1, 3)
    return _mean_distance(dv, dg, both.reshape(B, -1))


def _centroids(points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = mask.to(points.dtype)[..., None]
    return (torch.nan_to_num(points) * w).sum(-2) / w.sum(-2).clamp(min=1)


def t_root(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Root translation error: the mean distance between the predicted and true paths of each frame's centroid,
    after one similarity transform for the whole sequence fitted to every joint of every frame, paths included
    (B, T, J, 3) -> (B,). A lifter that gives no path (centred shapes) scores the distance travelled."""
    aligned = sequence_align(torch.nan_to_num(pred), target, mask)
    frames = mask.any(-1)
    d = torch.linalg.norm(_centroids(aligned, mask) - _centroids(target, mask), dim=-1) * frames
    return d.sum(-1) / frames.sum(-1).clamp(min=1)


def in_input_view(pred: torch.Tensor, perspective: bool) -> torch.Tensor:
    """The prediction (..., J, 3) seen by the input camera: x/z, y/z for a lifter whose output is in a camera frame
    with depth (MVLift), x, y for one that keeps the image axes without a distance (the orthographic view)."""
    if perspective:
        return pred[..., :2] / pred[..., 2:].clamp(min=1e-6)
    return pred[..., :2]


def _scaled_to(points: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``points`` (B, T, J, D) times the one least-squares scale per sequence that best fits ``target``."""
    w = mask.to(points.dtype)[..., None]
    p, g = torch.nan_to_num(points), torch.nan_to_num(target)
    s = (w * p * g).sum((1, 2, 3)) / (w * p * p).sum((1, 2, 3)).clamp(min=1e-12)
    return s[:, None, None, None] * p


def j2d(view: torch.Tensor, points2d: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Reprojection error in the input view (pixels): the projected prediction (B, T, J, 2) placed in the image by
    one scale and one shift per sequence (the lifter's camera is a nominal one), so the path across the image
    counts; (B, T, J, 2) -> (B,)."""
    w = seen.to(view.dtype)[..., None]
    n = w.sum((1, 2)).clamp(min=1)
    shift = lambda x: (torch.nan_to_num(x) * w).sum((1, 2)) / n  # noqa: E731
    p, g = view - shift(view)[:, None, None], points2d - shift(points2d)[:, None, None]
    B = view.shape[0]
    return _mean_distance(_scaled_to(p, g, seen).reshape(B, -1, 2), g.reshape(B, -1, 2), seen.reshape(B, -1))


def j2d_centred(view: torch.Tensor, points2d: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """J2D with each frame centred on its seen points (the pose without its path), one scale per sequence."""
    p, g = centre(view, seen), centre(points2d, seen)
    B = view.shape[0]
    return _mean_distance(_scaled_to(p, g, seen).reshape(B, -1, 2), g.reshape(B, -1, 2), seen.reshape(B, -1))


# ----- checks of a lift that need no 3D (not in METRICS: they score a lift against its own 2D, not ground truth)


def weak_perspective(points: torch.Tensor, points2d: torch.Tensor, seen: torch.Tensor, steps: int = 100):
    """The lift (..., J, 3) placed by the weak-perspective camera (scale, rotation, shift) that best fits its seen
    2D (..., J, 2) in each frame: x, y are the lift as that camera sees it, in the 2D's pixels, and z its depth in
    the same units. The camera by alternating similarity alignment to the 2D with the placed lift's own depth (each
    step lowers the 2D error), from the rotation nearest the best affine camera: exact where the 2D is an exact
    projection; on noisy 2D, 100 steps matched the best of eight random starts."""
    target = torch.nan_to_num(points2d)
    fit = torch.cat([target, _affine_depth(points, target, seen)], -1)
    for _ in range(max(steps, 1)):
        fit = similarity_align(points, torch.cat([target, fit[..., 2:]], -1), seen)
    return fit


def _affine_depth(points: torch.Tensor, target: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """(..., J, 1) depth of the lift under the rotation whose first two rows are nearest the least-squares affine
    map of the lift to the 2D, times that map's mean scale."""
    p, g = centre(points, seen), centre(target, seen)
    w = seen.to(p.dtype)[..., None]
    affine = (torch.linalg.pinv((w * p).transpose(-1, -2) @ p) @ ((w * p).transpose(-1, -2) @ g)).transpose(-1, -2)
    u, s, vh = torch.linalg.svd(affine, full_matrices=False)  # (..., 2, 3) = u diag(s) vh
    rows = u @ vh
    axis = torch.linalg.cross(rows[..., 0, :], rows[..., 1, :])
    return s.mean(-1)[..., None, None] * (p @ axis[..., None])


def reprojection_px(points: torch.Tensor, points2d: torch.Tensor, seen: torch.Tensor, min_seen: int = 3):
    """Mean distance in pixels of the lift (B, T, J, 3) seen by its best weak-perspective camera of each frame to
    the 2D (B, T, J, 2), over the seen points of the frames that see at least ``min_seen`` (fewer fit any lift)
    -> (B,)."""
    return placed_error_px(weak_perspective(points, points2d, seen), points2d, seen, min_seen)


def placed_error_px(placed: torch.Tensor, points2d: torch.Tensor, seen: torch.Tensor, min_seen: int = 3):
    """`reprojection_px` of a lift already placed by `weak_perspective` (its x, y are what its camera sees)."""
    seen = seen & (seen.sum(-1, keepdim=True) >= min_seen)
    B = placed.shape[0]
    return _mean_distance(placed[..., :2].reshape(B, -1, 2), points2d.reshape(B, -1, 2), seen.reshape(B, -1))


def bone_length_cvs(points: torch.Tensor, edges: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """How much each bone's length varies over a track: std / mean of its length (B, T, J, 3) over the frames that
    see both its ends (population std), per bone of ``edges`` (E, 2) -> (B, E); NaN where a bone is seen in fewer
    than two frames. A rigid object scores 0 whatever its motion."""
    a, b = edges[:, 0], edges[:, 1]
    length = torch.linalg.norm(torch.nan_to_num(points[..., a, :] - points[..., b, :]), dim=-1)  # (B, T, E)
    both = (seen[..., a] & seen[..., b]).to(length.dtype)
    n = both.sum(1)
    mean = (both * length).sum(1) / n.clamp(min=1)
    std = ((both * (length - mean[:, None]) ** 2).sum(1) / n.clamp(min=1)).sqrt()
    return torch.where(n >= 2, std / mean.clamp(min=1e-12), torch.nan)


def bone_length_cv(points: torch.Tensor, edges: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """`bone_length_cvs` averaged over the bones seen in two frames or more -> (B,)."""
    return bone_length_cvs(points, edges, seen).nanmean(-1)


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    sequence: bool  # needs (B, T, J, 3) sequences
    image: bool = False  # compares the input-view projection with the input 2D: needs no 3D


METRICS = {
    m.name: m
    for m in (
        Metric("mpjpe", mpjpe, False),
        Metric("n-mpjpe", n_mpjpe, False),
        Metric("pa-mpjpe", pa_mpjpe, False),
        Metric("pa-mpjpe%", pa_mpjpe_pct, False),
        Metric("sa-mpjpe", sa_mpjpe, True),
        Metric("sa-mpve", sa_mpve, True),
        Metric("t-root", t_root, True),
        Metric("j2d", j2d, True, image=True),
        Metric("j2d-centred", j2d_centred, True, image=True),
    )
}
ALIASES = {"fa-mpjpe": "pa-mpjpe", "pa-mpjpe-pct": "pa-mpjpe%", "j2d-centered": "j2d-centred"}


def get_metric(name: str) -> Metric:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in METRICS:
        from .errors import LfmError

        raise LfmError(f"unknown metric {name!r}; choose from {', '.join([*METRICS, *ALIASES])}")
    return METRICS[key]
