"""Lifting models: 3D-LFM (single frame) and the space-time model."""

from .lfm import LFM, MODEL_PRESETS, ModelConfig, SpaceTimeLFM, build_model

__all__ = ["LFM", "MODEL_PRESETS", "ModelConfig", "SpaceTimeLFM", "build_model"]
