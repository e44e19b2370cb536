"""2D tracks as a dataset without 3D: the files users have (DeepLabCut, SLEAP, COCO, OpenPose, lfm JSON), each
individual of each file one sequence with one real view and no 3D (docs/format.md, "2D-only data")."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..data.build import Plan, Planned, source
from ..errors import LfmError
from ..geometry.cameras import Camera, intrinsics
from ..io.readers import READERS, read_keypoints
from ..keypoints import Keypoints2D
from ..rigs import Rig, get_rig
from ..sequence import Sequence, View


@dataclass
class TracksOptions:
    category: str | None = None  # default: the rig's category
    rig: str | None = None  # a shipped rig name or YAML file; default: the file's own skeleton
    format: str | None = None  # default: detected per file
    fps: float | None = None  # default: the file's frame rate
    min_confidence: float = 0.0
    skip_bad: bool = False

    def __post_init__(self):
        if self.format is not None and self.format not in READERS:
            raise LfmError(f"--format {self.format!r}: choose from {', '.join(READERS)}")
        if self.fps is not None and not 0 < self.fps < math.inf:
            raise LfmError(f"--fps {self.fps}: a frame rate is a positive number")
        if not 0 <= self.min_confidence <= 1:
            raise LfmError(f"--min-confidence {self.min_confidence}: a confidence between 0 and 1")


def nominal_camera(points: np.ndarray, image_size: tuple[int, int] | None) -> Camera:
    """The camera of 2D whose camera is unknown: R = I, t = 0, focal length the larger image side, principal point
    at the image centre; without an image size, the smallest image from (0, 0) that holds every point."""
    if image_size is None:
        far = np.nanmax(points.reshape(-1, 2), axis=0)
        image_size = (max(int(math.ceil(far[0])) + 1, 1), max(int(math.ceil(far[1])) + 1, 1))
    return Camera(K=intrinsics(float(max(image_size)), image_size), R=np.eye(3), t=np.zeros(3), image_size=image_size)


def _rig(kp: Keypoints2D, chosen: Rig | None, path: Path) -> tuple[Keypoints2D, list[str]]:
    if chosen is not None:
        return kp.with_rig(chosen, path), []
    if kp.rig is not None:
        return kp, []
    digest = hashlib.sha1("\n".join(kp.joints).encode()).hexdigest()[:6]
    rig = Rig(name=f"{kp.format or 'tracks'}_{len(kp.joints)}_{digest}", joints=tuple(kp.joints), edges=())
    note = f"{path}: the file gives no skeleton, so its joints have no graph edges (pass --rig to give one)"
    return replace(kp, rig=rig), [note]


def _check_track(points: np.ndarray, visible: np.ndarray, what: str, path: Path) -> None:
    """A sequence to learn motion from: two frames or more, some points, and some movement."""
    if len(points) < 2:
        raise LfmError(f"{what} has {len(points)} frame(s); a motion needs at least 2", path)
    if not visible.any():
        raise LfmError(f"{what}: every point is missing", path)
    seen = points[visible]
    if len(seen) < 2 or np.ptp(seen, 0).max() <= 0:
        raise LfmError(f"{what}: every point is at the same place (no variation)", path)
    high = np.where(visible[..., None], points, -np.inf).max(0)
    low = np.where(visible[..., None], points, np.inf).min(0)
    if not (high - low > 0).any():  # a joint never seen gives -inf here, never > 0
        raise LfmError(f"{what}: no point moves over the frames (no variation in time)", path)


def read_tracks(path: Path, options: TracksOptions, rig: Rig | None) -> tuple[list[Sequence], list[str]]:
    """One 2D-only sequence per individual of the file at ``path`` (frames from its first to its last appearance)."""
    kp = read_keypoints(path, options.format)
    kp, notes = _rig(kp, rig, path)
    fps = options.fps or kp.fps
    if not fps:
        raise LfmError("the file gives no frame rate: pass --fps", path)
    category = options.category or kp.rig.category
    if not category:
        raise LfmError(f"rig {kp.rig.name!r} names no category: pass --category (e.g. mouse)", path)
    T, I, J = kp.shape
    visible = np.isfinite(kp.points).all(-1) & ~(kp.confidence < options.min_confidence)
    sequences = []
    for i, individual in enumerate(kp.individuals):
        frames = np.flatnonzero(visible[:, i].any(-1))
        what = f"individual {individual!r}" if I > 1 else "the track"
        if len(frames) == 0:
            raise LfmError(f"{what}: every point is missing", path)
        cut = slice(frames[0], frames[-1] + 1)
        seen = visible[cut, i]
        uv = np.where(seen[..., None], kp.points[cut, i], np.nan).astype(np.float32)
        _check_track(uv, seen, what, path)
        view = View(camera=nominal_camera(kp.points, kp.image_size), points2d=uv, visible=seen, kind="real")
        sequences.append(
            Sequence(
                name=path.stem if I == 1 else f"{path.stem}/{individual}",
                category=category,
                rig=kp.rig,
                points3d=np.full((len(uv), J, 3), np.nan, np.float32),
                fps=float(fps),
                units="",
                source=f"{kp.format} file {path.name}",
                views=[view],
            )
        )
    return sequences, notes


@source("tracks", "2D keypoint files (DeepLabCut, SLEAP, COCO, OpenPose, lfm JSON) as 2D-only sequences", TracksOptions)
def plan_tracks(paths: list[Path], options: TracksOptions, progress) -> Plan:
    rig = get_rig(options.rig) if options.rig else None
    planned, notes, skipped = [], [], []
    for path in paths:
        try:
            sequences, said = read_tracks(path, options, rig)  # small files: read once, while planning
        except LfmError as e:
            if not options.skip_bad:
                raise
            skipped.append((str(path), str(e)))
            sequences, said = [], []
        notes += said
        for seq in sequences:
            planned.append(Planned(seq.name, seq.category, lambda seq=seq: seq))
        if progress:
            progress("reading", path.name, len(paths))
    if not planned:
        raise LfmError(f"no usable track in {len(paths)} file(s); the first problem: {skipped[0][1]}")
    return Plan(planned, notes=notes, skipped=skipped)
