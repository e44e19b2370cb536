"""The two things `lfm lift` passes around: 2D keypoints read from a user's file, and the 3D lifted from them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import LfmError
from .rigs import Rig, RigError


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
    named: bool = False  # the joint names come from the file (so another rig is matched to them by name)
    frame_names: list[str] | None = None  # where each frame came from: image file or id, per-frame file, CSV index
    notes: list[str] = field(default_factory=list)  # what the reader assumed, to be said aloud

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.points.shape[:3]

    def with_rig(self, rig: Rig, source) -> Keypoints2D:
        """These keypoints as joints of ``rig``: matched by name when the file names its joints (in any order; a
        name the rig lacks is an error), else taken in order (the counts must agree)."""
        T, I, J = self.shape
        if not self.named:
            if rig.num_joints != J:
                raise LfmError(f"{J} joints, but rig {rig.name!r} has {rig.num_joints}", source)
            return replace(self, rig=rig, joints=list(rig.joints))
        order, unknown = [], []
        for name in self.joints:
            try:
                order.append(rig.index(name))  # by name or alias
            except RigError:
                unknown.append(name)
        if unknown:
            raise LfmError(
                f"{len(unknown)} of the file's keypoints are not joints of rig {rig.name!r} "
                f"({', '.join(unknown[:4])}{', ...' if len(unknown) > 4 else ''})",
                source,
            )
        if len(set(order)) < len(order):
            raise LfmError(f"two of the file's keypoints are one joint of rig {rig.name!r}", source)
        points = np.full((T, I, rig.num_joints, 2), np.nan, np.float32)
        confidence = np.full((T, I, rig.num_joints), np.nan, np.float32)
        points[:, :, order], confidence[:, :, order] = self.points, self.confidence
        notes = list(self.notes)
        if len(order) < rig.num_joints:
            notes.append(f"{rig.num_joints - len(order)} joints of rig {rig.name!r} are not in the file: missing")
        return replace(self, points=points, confidence=confidence, rig=rig, joints=list(rig.joints), notes=notes)


@dataclass
class Lifted:
    """The lift of a `Keypoints2D`: a canonical 3D shape per frame and individual."""

    position: np.ndarray  # (T, I, J, 3) float32, NaN where the input joint was missing
    visible: np.ndarray  # (T, I, J) bool: the 2D points the model used
    empty_frames: int = 0  # frames (per individual in them) whose every 2D point was unusable: output NaN
    notes: list[str] = field(default_factory=list)
    frame: str | None = None  # what frame and units position is in (None: a canonical shape per frame)
    root: np.ndarray | None = None  # (T, I, 3) the path of the root joint, where the frame keeps one
