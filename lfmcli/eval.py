"""Evaluating a checkpoint on a dataset split (`lfm eval`).

Every view of every sequence is cut into clips: sequences (fps > 0) into consecutive clips of ``window`` frames,
static samples into one-frame clips. A single-frame model lifts each frame of a clip on its own; the space-time
model lifts the clip as a whole. Frame metrics average over frames; sequence metrics are computed per clip and
weighted by its frames. Results are frame-weighted per category and overall. Image metrics (j2d) need no 3D: asked
for alone, they evaluate 2D-only data too, and "frames" counts frames with 2D. They need a lifter whose output is
seen from the input camera (``image_view``: MVLift's, the flat lift's, a depth-output lifter's); the residual and
shape lifters give a shape up to rotation, which has no view to compare, so they get a note instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np
import torch

from . import mvlift  # noqa: F401  (it registers its lifter's checkpoints)
from .checkpoint import load_checkpoint
from .data.dataset import Batch, SampleBank, occlude
from .data.format import DatasetFile
from .devices import resolve_device
from .errors import LfmError
from .metrics import get_metric, in_input_view
from .models import flat_lift

DEFAULT_METRICS = ("mpjpe", "pa-mpjpe", "pa-mpjpe%")


class _Tally:
    """Frame-weighted sums of metric values per key (category, sequence, overall)."""

    def __init__(self):
        self.sums: dict = defaultdict(lambda: defaultdict(float))
        self.weights: dict = defaultdict(lambda: defaultdict(float))
        self.frames: dict = defaultdict(int)

    def add(self, keys, metric: str, values: np.ndarray, weights: np.ndarray) -> None:
        for key in keys:
            self.sums[key][metric] += float((values * weights).sum())
            self.weights[key][metric] += float(weights.sum())

    def result(self, key) -> dict:
        out = {m: self.sums[key][m] / w for m, w in self.weights[key].items() if w > 0}
        return {**out, "frames": self.frames[key]}


def evaluate(
    checkpoint: str | Path,
    paths: Seq[str | Path],
    metrics: Seq[str] = DEFAULT_METRICS,
    split: str | None = "test",
    occlusion: float = 0.0,
    categories: Seq[str] | None = None,
    exclude: Seq[str] = (),
    baseline: bool = False,
    per_sequence: bool = False,
    window: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    batch_frames: int = 2048,
    advance: Callable[[int], None] | None = None,
) -> dict:
    """Metrics of ``checkpoint`` on ``split`` of ``paths`` (None: every split):
    {"overall": {metric: value}, "categories": {name: {metric: value, "frames": n}}, ...}; with ``baseline`` also
    "baseline" (the same for the z = 0 lift), with ``per_sequence`` also "sequences", and "notes" on metrics that
    could not be computed."""
    chosen = [get_metric(m) for m in metrics]
    if not 0 <= occlusion < 1:
        raise LfmError("--occlude must be a ratio in [0, 1)")
    if window is not None and window < 1:
        raise LfmError(f"--window {window}: give at least 1 frame")
    if split is not None:
        _check_split(paths, split)
    device = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, device)
    window = window or ckpt.window
    needs_3d = not all(m.image for m in chosen)
    bank = SampleBank(paths, split, categories, exclude, read_3d=needs_3d)
    rng = np.random.default_rng(seed)
    lifters = {"model": (lambda b: ckpt.model.lift_clips(*b.model_inputs()), getattr(ckpt.model, "image_view", None))}
    if baseline:
        lifters["baseline"] = (lambda b: flat_lift(b.points2d, b.visible & b.exists[:, None]), "orthographic")
    tallies = {k: _Tally() for k in lifters}
    by_length: dict[int, list] = defaultdict(list)  # clip length -> (view, first frame) of each clip
    for v in range(len(bank.view_length)):
        T = window if bank.view_fps[v] > 0 else 1
        by_length[T] += [(v, s) for s in range(0, int(bank.view_length[v]), T)]
    notes = []
    for T, items in sorted(by_length.items()):
        step = max(batch_frames // T, 1)
        for i in range(0, len(items), step):
            views, starts = (np.array(x) for x in zip(*items[i : i + step], strict=True))
            batch = occlude(bank.windows(views, starts, T), occlusion, rng).to(device)
            item_keys = [
                [("category", bank.categories[bank.view_category[v]]), ("overall",)]
                + ([("sequence", bank.view_names[v])] if per_sequence else [])
                for v in views
            ]
            truth = batch.has_3d if needs_3d else batch.visible & batch.exists[:, None]
            frames = truth.any(-1).cpu().numpy()  # (B, T) frames with ground truth (3D, or 2D for image metrics)
            for k, (lift, view) in lifters.items():
                with torch.no_grad():
                    pred = lift(batch).float()
                _score(tallies[k], chosen, pred, view, batch, item_keys, frames, T)
            if advance:
                advance(len(views))
    for m in chosen:
        if m.sequence and not m.image and not any(T > 1 for T in by_length):
            notes.append(f"{m.name}: no sequences in this split (static samples only)")
        if m.image and lifters["model"][1] is None:
            notes.append(f"{m.name}: this model lifts to a shape up to rotation, not a view of the input camera")
    out = _report(tallies["model"], bank, per_sequence)
    if baseline:
        out["baseline"] = _report(tallies["baseline"], bank, per_sequence)
    out.update(notes=notes, split=split, window=window, occlusion=occlusion, checkpoint=str(checkpoint))
    return out


def _score(tally: _Tally, chosen, pred, view: str | None, batch: Batch, item_keys, frames, T) -> None:
    """Add a batch of clips: ``item_keys[b]`` are the tallies clip b counts towards, ``frames`` (B, T) its frames
    with ground truth; ``view``: how the lifter's output projects into the input view ("perspective",
    "orthographic", or None: it does not, and image metrics are left out)."""
    B, _, J, _ = pred.shape
    target, mask = batch.target, batch.has_3d
    counts = frames.sum(1)
    for b in range(B):
        for key in item_keys[b]:
            tally.frames[key] += int(counts[b])
    for m in chosen:
        if m.image:
            if view is None:
                continue
            seen = batch.visible & batch.exists[:, None]
            projected = in_input_view(pred.double(), view == "perspective")
            values = m.fn(projected, batch.points2d.double(), seen).cpu().numpy()
            seen_frames = seen.any(-1).sum(1).cpu().numpy().astype(float)
            for b in range(B):
                tally.add(item_keys[b], m.name, values[b : b + 1], seen_frames[b : b + 1])
        elif m.sequence:
            if T < 2:
                continue
            values = m.fn(pred.double(), target.double(), mask).cpu().numpy()
            weights = counts.astype(float) * (counts >= 2)
            for b in range(B):
                tally.add(item_keys[b], m.name, values[b : b + 1], weights[b : b + 1])
        else:
            values = m.fn(
                pred.reshape(B * T, J, 3).double(), target.reshape(B * T, J, 3).double(), mask.reshape(B * T, J)
            )
            values = values.reshape(B, T).cpu().numpy()
            for b in range(B):
                tally.add(item_keys[b], m.name, values[b][frames[b]], np.ones(int(counts[b])))


def _report(tally: _Tally, bank: SampleBank, per_sequence: bool) -> dict:
    out = {
        "overall": tally.result(("overall",)),
        "categories": {c: tally.result(("category", c)) for c in bank.categories},
    }
    if per_sequence:
        out["sequences"] = {k[1]: tally.result(k) for k in tally.frames if k[0] == "sequence"}
    return out


def _check_split(paths: Seq[str | Path], split: str) -> None:
    for path in paths:
        with DatasetFile(path) as f:
            if split in set(f.sequences["split"]):
                return
    raise LfmError(f"no sequences in split {split!r} of {', '.join(map(str, paths))}")
