"""Lifting models: 3D-LFM (single frame) and the space-time model, and the flat (z = 0) baseline."""

from .lfm import LFM, MODELS, SpaceTimeLFM, build_model, flat_lift

__all__ = ["LFM", "MODELS", "SpaceTimeLFM", "build_model", "flat_lift"]
