"""What every dataset builder produces and the dataset file stores: 3D motion of one object with its camera views."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .geometry.cameras import Camera
from .rigs import Rig

SPLITS = ("train", "val", "test")
VIEW_KINDS = ("real", "synthetic")
PROJECTIONS = ("perspective", "weak")  # weak: every point of a frame divided by that frame's mean depth


@dataclass
class View:
    """One camera's 2D observation of a sequence."""

    camera: Camera
    points2d: np.ndarray  # (T, J, 2) float32 pixels
    visible: np.ndarray  # (T, J) bool; a visible point has finite 2D (and, in a synthetic view, finite 3D)
    kind: str = "synthetic"  # "real" 2D labels or "synthetic" projections of the 3D points
    projection: str = "perspective"  # how synthetic 2D was made from the camera: one of PROJECTIONS


@dataclass
class Sequence:
    """3D points of one object over time (or one static sample, T = 1) with its camera views."""

    name: str
    category: str
    rig: Rig
    points3d: np.ndarray  # (T, J, 3) float32, world frame, NaN = joint absent (all NaN: a 2D-only sequence)
    fps: float = 0.0  # 0: frames are independent samples, not a time series
    split: str = "train"
    units: str = "m"
    up_axis: str = "y"
    source: str = ""
    license: str = ""
    views: list[View] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.points3d.shape[0])

    @property
    def has_3d(self) -> bool:
        return bool(np.isfinite(self.points3d).any())

    def world_anchors(self) -> np.ndarray:
        """Joints left at one world point while the object moves away from them: a BVH root left at the origin while
        the body walks metres away, say. Such a point is a place in the world, not on the object; no 2D can tell its
        depth, so a dataset stores it as absent (`hide_joints`). Stillness alone is no sign (a robot arm's base, a
        tethered fly, an animal walking in place): a still joint is off the object only where every bone to a neighbour
        changes length."""
        p = self.points3d.astype(np.float64)
        if p.shape[0] < 2:
            return np.zeros(0, dtype=int)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN joints
            travel = np.linalg.norm(np.nanmax(p, 0) - np.nanmin(p, 0), axis=-1)  # (J,)
            size = np.sqrt(np.nanmean(np.sum((p - np.nanmean(p, 1, keepdims=True)) ** 2, -1)))
            tracked = np.isfinite(p).all(-1).sum(0) >= 2
            moving = tracked & (travel > 0.05 * size)
            if not moving.any():
                return np.zeros(0, dtype=int)
            anchors = []
            for j in np.flatnonzero(tracked & (travel <= 1e-5 * size)):
                bones = [b for e in self.rig.edges if j in e for b in e if b != j]
                lengths = np.linalg.norm(p[:, bones] - p[:, j : j + 1], axis=-1)  # (T, bones)
                stretch = np.nanmax(lengths, 0) - np.nanmin(lengths, 0)
                if bones and (stretch > 0.05 * size).all():  # one bone that holds its length ties it to the object
                    anchors.append(j)
        return np.asarray(anchors, dtype=int)

    def hide_joints(self, joints: np.ndarray) -> None:
        """Mark ``joints`` absent in every frame: no 3D, not visible in any view."""
        self.points3d = self.points3d.copy()
        self.points3d[:, joints] = np.nan
        for v in self.views:
            v.visible = v.visible.copy()
            v.visible[:, joints] = False
