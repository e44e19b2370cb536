"""Lifting 2D keypoints to 3D with a checkpoint (`lfm lift`): the one place that decides how a model lifts.

Every individual's frames are cut into clips: a single-frame model lifts clips of one frame, the space-time model
clips of its training length that overlap by half and are blended with triangular weights. The result is a
canonical 3D shape per frame: defined up to rotation, scale and translation.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from . import __version__, mvlift  # noqa: F401  (mvlift registers its lifter's checkpoints)
from .checkpoint import Checkpoint, default_checkpoint, load_checkpoint
from .config import check_kind
from .devices import resolve_device
from .errors import LfmError, printable
from .files import check_not_input
from .io.readers import READERS, read_keypoints
from .io.results import WRITERS, beside, check_format, write_result
from .keypoints import Keypoints2D, Lifted
from .rigs import Rig, get_rig, import_rig


def lift_keypoints(
    kp: Keypoints2D, checkpoint: Checkpoint, min_confidence: float = 0.0, device: str = "cpu", batch_frames: int = 4096
) -> Lifted:
    """Lift every individual of ``kp``; points below ``min_confidence`` count as missing."""
    T, I, J = kp.shape
    visible = np.isfinite(kp.points).all(-1) & ~(kp.confidence < min_confidence)
    adjacency = torch.as_tensor(kp.rig.adjacency() if kp.rig is not None else np.eye(J, dtype=bool), device=device)
    window = min(checkpoint.window, T) if checkpoint.model.temporal else 1
    out = np.full((T, I, J, 3), np.nan, np.float32)
    whole = getattr(checkpoint.model, "lift_sequence", None)  # a model that keeps the motion's path (MVLift)
    for i in range(I):
        if whole is not None:
            out[:, i] = whole(kp.points[:, i], visible[:, i], adjacency)
            continue
        out[:, i] = _lift_clips(
            checkpoint.model, kp.points[:, i], visible[:, i], adjacency, window, device, max(batch_frames // window, 1)
        )
    empty = ~visible.any(-1)  # (T, I)
    out[~visible] = np.nan  # only joints that were seen get a position
    out[empty] = np.nan
    # frames of an individual that the file has at all (of several, one may be absent from a frame: not a failure)
    present = np.isfinite(kp.points).all(-1).any(-1) | (I == 1)
    note = "no rig is known for these joints: the model attended without graph edges" if kp.rig is None else None
    notes = [n for n in (note or kp.rig.graph_note(), checkpoint.familiarity_note(kp.rig)) if n]
    lifted = Lifted(position=out, visible=visible, empty_frames=int((empty & present).sum()), notes=kp.notes + notes)
    if whole is not None:
        lifted.frame = checkpoint.model.frame_note
        lifted.root = root_path(out, kp.rig)
    return lifted


def root_path(position: np.ndarray, rig: Rig | None) -> np.ndarray:
    """(T, I, 3) path of each individual: its rig's root joint where the rig has a tree and the root is seen,
    else the centroid of its lifted joints."""
    seen = np.isfinite(position).all(-1, keepdims=True)
    with np.errstate(invalid="ignore"):  # an individual absent from a frame has no centroid there: NaN
        centroid = np.where(seen, position, 0).sum(2) / seen.sum(2)
    if rig is None or rig.parents is None:
        return centroid
    root = position[:, :, list(rig.parents).index(-1)]
    return np.where(np.isfinite(root).all(-1, keepdims=True), root, centroid)


def _lift_clips(model, points: np.ndarray, visible: np.ndarray, adjacency, W: int, device, batch: int) -> np.ndarray:
    """(T, J, 2) -> (T, J, 3) through clips of W frames overlapping by half, blended with triangular weights."""
    T, J, _ = points.shape
    starts = list(range(0, max(T - W, 0) + 1, max(W // 2, 1)))
    if starts[-1] + W < T:
        starts.append(T - W)
    total = np.zeros((T, J, 3))
    weight = np.zeros((T, 1, 1))
    ramp = np.minimum(np.arange(1, W + 1), np.arange(W, 0, -1)).astype(float)[:, None, None]
    with torch.no_grad():
        for a in range(0, len(starts), batch):
            chunk = starts[a : a + batch]
            pts = torch.as_tensor(np.stack([np.nan_to_num(points[s : s + W]) for s in chunk]), device=device)
            vis = torch.as_tensor(np.stack([visible[s : s + W] for s in chunk]), device=device)
            exists = torch.ones(len(chunk), J, dtype=torch.bool, device=device)
            pred = model.lift_clips(pts, vis, exists, adjacency.expand(len(chunk), J, J)).float().cpu().numpy()
            for k, s in enumerate(chunk):
                total[s : s + W] += pred[k] * ramp
                weight[s : s + W] += ramp
    return (total / weight).astype(np.float32)


def rig_for_lift(spec: str) -> tuple[Rig, float | None]:
    """``--rig``: a shipped rig name, a rig YAML file, or a DeepLabCut project's config.yaml, which gives its body
    parts and skeleton, and its pcutoff as the confidence below which a point is missing (else None)."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            doc = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError, OSError):
            doc = None  # get_rig says what is wrong with it
        if isinstance(doc, dict) and ("bodyparts" in doc or "multianimalbodyparts" in doc):
            cutoff = doc.get("pcutoff")
            usable = isinstance(cutoff, int | float) and not isinstance(cutoff, bool) and 0 <= cutoff <= 1
            return import_rig(path), float(cutoff) if usable else None
    return get_rig(spec), None


@dataclass
class LiftReport:
    """What `lift_file` did: the input it read, the result, the model, and the files it wrote."""

    keypoints: Keypoints2D
    lifted: Lifted
    checkpoint: Checkpoint
    written: list[Path]


def lift_file(
    input: str | Path,
    output: str | Path,
    *,
    fmt: str | None = None,
    checkpoint: str | Path | None = None,
    model_kind: str = "lfm",
    rig: str | None = None,
    min_confidence: float | None = None,
    fps: float | None = None,
    also: Seq[str] = (),
    device: str = "auto",
) -> LiftReport:
    """Read a 2D keypoints file, lift it with ``checkpoint`` (else the packaged ``model_kind`` model) and write the
    result to ``output`` (HDF5) and beside it in the ``also`` formats, with the provenance in its attributes. Points
    below ``min_confidence`` are missing (None: a DeepLabCut config's pcutoff given as ``rig``, else the format's
    default, `Reader.min_confidence`); ``fps`` gives the frame
    rate where the input does not (or overrides it)."""
    input, output = Path(input), Path(output)
    also = list(dict.fromkeys(also))  # a format asked for twice is written once
    other = [f for f, w in WRITERS.items() if f != "h5" and w.suffix == output.suffix.lower()]
    if other:  # the main result is HDF5: a name promising another format would mislead whoever opens it
        raise LfmError(f"the result is HDF5, not {other[0]}: name it .h5 and add --also {other[0]}", output)
    for f in also:
        if f not in WRITERS or f == "h5":
            raise LfmError(f"--also {f!r}: choose {', '.join(w for w in WRITERS if w != 'h5')}")
        check_format(f)
    for target in [output] + [beside(output, f) for f in also]:
        check_not_input(target, [input], into_folders=True)  # an OpenPose folder would read a new .json next time
    if fps is not None and not 0 < fps < math.inf:
        raise LfmError(f"--fps {fps}: a frame rate is a positive number")
    kp = read_keypoints(input, fmt)
    kp.fps = fps or kp.fps
    if "c3d" in also and not kp.fps:  # refused before anything is written
        raise LfmError("--also c3d needs the frame rate, which the input does not give: pass --fps", input)
    cutoff = None
    if rig is not None:
        chosen, cutoff = rig_for_lift(rig)
        kp = kp.with_rig(chosen, input)
    if min_confidence is None:
        min_confidence = cutoff if cutoff is not None else getattr(READERS.get(kp.format), "min_confidence", 0.0)
    elif not 0 <= min_confidence <= 1:
        raise LfmError(f"--min-confidence {min_confidence}: a confidence between 0 and 1")
    check_kind(model_kind)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint or default_checkpoint(model_kind), dev)
    lifted = lift_keypoints(kp, ckpt, min_confidence=min_confidence, device=dev)
    words = ["lfm", "lift", str(input), "-o", str(output)]  # the command that reproduces this result
    for flag, value in (("--format", fmt), ("--checkpoint", checkpoint), ("--rig", rig), ("--fps", fps)):
        if value is not None:
            words += [flag, str(value)]
    words += ["--min-confidence", str(min_confidence), "--device", device, *(w for f in also for w in ("--also", f))]
    attrs = {
        "lfm_version": __version__,
        "checkpoint": printable(ckpt.path),
        "checkpoint_sha256": ckpt.sha256,
        "command": shlex.join(map(printable, words)),
        "input": printable(input),
        "input_format": kp.format,
    }
    written = [write_result(output, "h5", kp, lifted, attrs)]
    written += [write_result(beside(output, f), f, kp, lifted, attrs) for f in also]
    return LiftReport(kp, lifted, ckpt, written)
