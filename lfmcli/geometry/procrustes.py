"""Batched, masked similarity Procrustes alignment (torch) and the alignment-invariant losses built on it.

``similarity_align(pred, target, mask)`` finds, per item, the scale s, rotation R and translation t minimising
sum_j mask_j |s R pred_j + t - target_j|^2 over the masked points, and returns the aligned prediction.

Gradients: the transform is computed without gradient and applied to ``pred`` with gradient. Because s, R, t are
the exact minimisers of the same squared error, the envelope theorem makes this the true gradient of the aligned
error with respect to ``pred``, and it avoids differentiating an SVD (unstable for near-planar or degenerate shapes).
"""

from __future__ import annotations

import torch

EPS = 1e-8


def similarity_transform(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    reflections: bool = False,
    scale: bool = True,
):
    """s (...), R (..., 3, 3), t (..., 3) aligning ``pred`` (..., J, 3) to ``target`` (..., J, 3) over ``mask``
    (..., J). Computed in float64 without gradient; items with fewer than one masked point get the identity."""
    with torch.no_grad():
        p, g = pred.detach().double(), target.detach().double()
        w = torch.ones(p.shape[:-1], dtype=p.dtype, device=p.device) if mask is None else mask.to(p.dtype)
        w = torch.where(torch.isfinite(g).all(-1) & torch.isfinite(p).all(-1), w, torch.zeros_like(w))
        p, g = torch.nan_to_num(p), torch.nan_to_num(g)
        n = w.sum(-1, keepdim=True).clamp(min=EPS)
        mu_p = (w[..., None] * p).sum(-2) / n
        mu_g = (w[..., None] * g).sum(-2) / n
        pc, gc = p - mu_p[..., None, :], g - mu_g[..., None, :]
        cov = torch.einsum("...j,...ja,...jb->...ab", w, gc, pc) / n[..., None]  # target x pred
        u, sv, vh = torch.linalg.svd(cov)
        d = torch.ones_like(sv)
        if not reflections:
            d[..., -1] = torch.sign(torch.det(u @ vh))
            d[..., -1] = torch.where(d[..., -1] == 0, torch.ones_like(d[..., -1]), d[..., -1])
        R = u @ torch.diag_embed(d) @ vh
        var_p = (w * (pc**2).sum(-1)).sum(-1) / n[..., 0]
        s = (sv * d).sum(-1) / var_p.clamp(min=EPS) if scale else torch.ones_like(var_p)
        s = torch.where(var_p > EPS, s, torch.ones_like(s))  # a collapsed prediction is only translated
        t = mu_g - s[..., None] * torch.einsum("...ab,...b->...a", R, mu_p)
    return s.to(pred.dtype), R.to(pred.dtype), t.to(pred.dtype)


def apply_similarity(points: torch.Tensor, s: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return s[..., None, None] * torch.einsum("...ab,...jb->...ja", R, points) + t[..., None, :]


def similarity_align(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    reflections: bool = False,
    scale: bool = True,
) -> torch.Tensor:
    """``pred`` (..., J, 3) aligned to ``target`` by the best similarity transform over ``mask`` (..., J)."""
    return apply_similarity(pred, *similarity_transform(pred, target, mask, reflections, scale))


def masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked points of the squared distance (a scalar); NaN in masked-out points is ignored."""
    w = mask.to(a.dtype)
    d = torch.nan_to_num(((a - torch.nan_to_num(b)) ** 2).sum(-1)) * w
    return d.sum() / w.sum().clamp(min=1.0)


def spread(target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the masked target points to their centroid, per item (...,)."""
    w = mask.to(target.dtype)
    return ((w * (centre(target, mask) ** 2).sum(-1)).sum(-1) / w.sum(-1).clamp(min=1)).detach()


def centre(points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``points`` (..., J, 3) minus the centroid of their masked points; NaN becomes 0."""
    w = mask.to(points.dtype)[..., None]
    p = torch.nan_to_num(points)
    return p - (w * p).sum(-2, keepdim=True) / w.sum(-2, keepdim=True).clamp(min=1)


def procrustes_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reflections: bool = False, scale_free: bool = False
) -> torch.Tensor:
    """MSE after per-item (per-frame) similarity alignment of the prediction to the target. ``scale_free`` divides
    each item's error by its target's spread, so objects of every size (and unit) weigh the same."""
    aligned = similarity_align(pred, target, mask, reflections)
    if not scale_free:
        return masked_mse(aligned, target, mask)
    w = mask.to(pred.dtype)
    err = (torch.nan_to_num(((aligned - torch.nan_to_num(target)) ** 2).sum(-1)) * w).sum(-1) / w.sum(-1).clamp(min=1)
    valid = (w.sum(-1) > 0).to(pred.dtype)
    return (err / spread(target, mask).clamp(min=1e-12) * valid).sum() / valid.sum().clamp(min=1)


def sequence_align(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reflections: bool = False
) -> torch.Tensor:
    """One similarity alignment per sequence: (B, T, J, 3) points treated as one point set of T*J points."""
    B, T, J, _ = pred.shape
    aligned = similarity_align(
        pred.reshape(B, T * J, 3), target.reshape(B, T * J, 3), mask.reshape(B, T * J), reflections
    )
    return aligned.reshape(B, T, J, 3)


def sequence_aligned(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reflections: bool = False):
    """(aligned prediction, target), both centred on each frame's centroid (the pose, not the path travelled,
    which no lifter sees in centred 2D), with one similarity transform for the whole sequence (B, T, J, 3)."""
    pred, target = centre(pred, mask), centre(target, mask)
    return sequence_align(pred, target, mask, reflections), target


def velocity_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE between frame-to-frame velocities of (B, T, J, 3) sequences, where both frames are masked in."""
    both = mask[:, 1:] & mask[:, :-1]
    return masked_mse(pred[:, 1:] - pred[:, :-1], torch.nan_to_num(target[:, 1:] - target[:, :-1]), both)


def centred_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE after centring each item on its masked centroid only (no rotation or scale): the plain-loss ablation."""
    return masked_mse(centre(pred, mask), centre(target, mask), mask)
