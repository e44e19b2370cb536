"""The two things `lfm lift` passes around: 2D keypoints read from a user's file, and the 3D lifted from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rigs import Rig


@dataclass
class Keypoints2D:
    """2D keypoints of one or more individuals over time, as every reader returns them."""

    points: np.ndarray  # (T, I, J, 2) float32 pixels, NaN = missing
    confidence: np.ndarray  # (T, I, J) float32, 1 where the format has none, NaN where missing
    joints: list[str]
    rig: Rig | None  # None: no graph is known
    individuals: list[str]
    fps: float | None = None
    image_size: tuple[int, int] | None = None
    format: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.points.shape[:3]


@dataclass
class Lifted:
    """The lift of a `Keypoints2D`: a canonical 3D shape per frame and individual."""

    position: np.ndarray  # (T, I, J, 3) float32, NaN where the input joint was missing
    visible: np.ndarray  # (T, I, J) bool: the 2D points the model used
    empty_frames: int = 0  # frames (per individual) with no usable 2D point: output NaN
    notes: list[str] = field(default_factory=list)
