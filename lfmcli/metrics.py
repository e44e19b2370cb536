"""Pose-error metrics, as the lifting literature defines them (formulas in docs/metrics.md).

All are masked (joints without ground truth, or padding, never count), batched, and in the units of the ground
truth, except ``pa-mpjpe%`` which is scale-free. Frame metrics take (..., J, 3) and return one value per frame
(...,); sequence metrics take (B, T, J, 3) with mask (B, T, J) and return one value per sequence (B,). Image metrics
(``j2d``, ``j2d-centred``) need no 3D: they compare the prediction's projection into the input view, (B, T, J, 2),
with the input 2D in pixels, masked by the points the lifter saw.
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
