"""Pose-error metrics, all masked (joints without ground truth never count) and batched, in the target's units."""

from __future__ import annotations

import torch

from .geometry.procrustes import similarity_align


def _mean_distance(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    d = torch.linalg.norm(torch.nan_to_num(a - b), dim=-1) * mask
    return d.sum(-1) / mask.sum(-1).clamp(min=1)


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-item mean joint error after the best similarity alignment (reflection-free) of each item: (...,)."""
    return _mean_distance(similarity_align(pred, target, mask), target, mask)
