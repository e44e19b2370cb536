"""The training loss of both models: per-frame Procrustes-aligned MSE, plus the velocity error after one alignment
per sequence for the space-time model (Fusco et al. 2024)."""

from __future__ import annotations

import torch

from .config import LossConfig
from .geometry.procrustes import centred_mse, procrustes_loss, sequence_aligned, spread, velocity_loss


def lifting_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    """``pred`` and ``target`` (B, J, 3) frames or (B, T, J, 3) clips, ``mask`` (B, J) / (B, T, J) where the
    target counts."""
    J = pred.shape[-2]
    frames = pred.reshape(-1, J, 3), target.reshape(-1, J, 3), mask.reshape(-1, J)
    if not cfg.align:  # the plain-loss ablation: centre only
        return centred_mse(*frames)
    frame = procrustes_loss(*frames, cfg.reflections, cfg.scale_free)
    if pred.dim() == 3 or cfg.velocity_weight <= 0:
        return frame
    B, T = pred.shape[:2]
    velocity = velocity_loss(*sequence_aligned(pred, target, mask, cfg.reflections), mask)
    if cfg.scale_free:  # in the same units as the frame term: relative to the sequence's spread
        velocity = velocity / spread(target.reshape(B, T * J, 3), mask.reshape(B, T * J)).mean().clamp(min=1e-12)
    return frame + cfg.velocity_weight * velocity
