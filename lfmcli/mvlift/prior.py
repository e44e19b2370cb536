"""Stage 1 of MVLift: a 2D motion prior conditioned on epipolar lines, learnt from 2D clips alone.

Each training clip gets a random virtual epipole (along the horizon, where the ring cameras put every other
camera's centre, mvlift/geometry.py) and each of its points the line through that epipole: the model learns
motions whose points lie on given lines, which is what a second view of the same motion must satisfy. A share of
clips is trained without lines, so the prior also generates freely.

The run folder holds ``config.yaml``, ``metrics.jsonl``, ``prior.safetensors`` (the weights with the config in
their metadata) and ``prior.state.pt`` (all ``--resume`` needs: weights, optimizer, step and random states).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import SampleBank
from ..errors import LfmError
from .config import MVLiftConfig, PriorConfig
from .diffusion import Conditions, MotionDenoiser
from .geometry import lines_through, normalise_clip
from .runs import RunFolder, fit_denoiser

PRIOR = "prior.safetensors"


@dataclass
class Clips:
    """Normalised 2D clips of one view each, ready for a denoiser: (B, 1, T, J, ...)."""

    x0: torch.Tensor  # (B, 1, T, J, 2) normalised 2D, 0 where unseen
    seen: torch.Tensor  # (B, 1, T, J) bool
    cond: Conditions

    def to(self, device) -> Clips:
        return Clips(self.x0.to(device), self.seen.to(device), self.cond.to(device))

    def training(self) -> tuple[torch.Tensor, torch.Tensor, Conditions]:
        """(clean 2D, where the loss counts, conditions) for `runs.fit_denoiser`."""
        return self.x0, self.seen.float(), self.cond


class ClipSource:
    """Random windows of the 2D of ``split`` in dataset files, their 3D never read."""

    def __init__(self, cfg: MVLiftConfig, split: str | None):
        d = cfg.data
        self.bank = SampleBank(d.paths, split, d.categories, d.exclude_categories, read_3d=False)
        usable = self.bank.window_views()
        usable = usable[self.bank.view_length[usable] >= 2]
        if not len(usable):
            where = f"no {split + ' ' if split else ''}motion in {', '.join(d.paths)}"
            raise LfmError(f"{where}: MVLift learns from time series (fps > 0) of 2 frames or more")
        self.views, self.window, self.radius = usable, d.window, d.radius
        self.weights = self.bank.view_weights(usable, balance=True)

    def draw(self, n: int, rng: np.random.Generator, prior: PriorConfig | None = None) -> Clips:
        """``n`` random training clips, half of them mirrored, with random epipolar lines when ``prior`` is given."""
        views = rng.choice(self.views, n, p=self.weights)
        starts = (rng.random(n) * np.maximum(self.bank.view_length[views] - self.window + 1, 1)).astype(int)
        clips = self.clips(views, starts)
        flip = torch.from_numpy(rng.random(n) < 0.5)  # a mirrored motion is a motion too
        clips.x0 = torch.where(flip[:, None, None, None, None], clips.x0 * torch.tensor([-1.0, 1.0]), clips.x0)
        if prior is not None:
            cond = clips.cond
            cond.lines, cond.has_line = random_lines(clips.x0[:, 0], clips.seen[:, 0], self.radius, prior, rng)
        return clips

    def tiles(self) -> tuple[np.ndarray, np.ndarray]:
        """(views, starts) of windows that cover every usable view without overlap; the last window of a view ends
        at its last frame (and a view shorter than a window is one padded window)."""
        views, starts = [], []
        for v in self.views:
            n = int(self.bank.view_length[v])
            first = list(range(0, max(n - self.window, 0) + 1, self.window))
            if first[-1] + self.window < n:
                first.append(n - self.window)
            views += [v] * len(first)
            starts += first
        return np.array(views, dtype=np.int64), np.array(starts, dtype=np.int64)

    def clips(self, views: np.ndarray, starts: np.ndarray) -> Clips:
        """The windows of ``views`` from ``starts``, normalised (mvlift/geometry.py), without lines."""
        lengths = self.bank.view_length[views]
        batch = self.bank.windows(views, starts, self.window)
        x0, _, _ = normalise_clip(batch.points2d, batch.visible)
        frames = torch.from_numpy(np.arange(self.window)[None] < (lengths - starts)[:, None])
        seen = batch.visible & frames[..., None] & batch.exists[:, None]
        return Clips(x0[:, None], seen[:, None], Conditions(batch.exists, batch.adjacency, frames))


def random_lines(x0: torch.Tensor, seen: torch.Tensor, radius: float, prior, rng: np.random.Generator):
    """Lines (B, 1, T, J, 3) through every point of each clip and one random epipole per clip, and where they hold
    (seen points of clips not dropped)."""
    B = x0.shape[0]
    pan = np.radians(rng.uniform(-prior.epipole_angle, prior.epipole_angle, B))
    tilt = np.radians(rng.normal(0.0, prior.epipole_tilt, B))
    epipole = torch.as_tensor(np.stack([radius * np.tan(pan), radius * np.tan(tilt)], -1), dtype=x0.dtype)
    lines = lines_through(x0.reshape(B, -1, 2), epipole).reshape(*x0.shape[:-1], 3)
    keep = torch.from_numpy(rng.random(B) >= prior.line_dropout)
    return lines[:, None], (seen & keep[:, None, None])[:, None]


def train_prior(
    cfg: MVLiftConfig,
    run: str | Path,
    resume: bool = False,
    on_step: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train the stage-1 prior into ``run``; returns the last metrics row."""
    folder = RunFolder(run, cfg, PRIOR, resume)
    try:
        torch.manual_seed(cfg.seed)
        train = ClipSource(cfg, "train")
        try:
            val = ClipSource(cfg, "val")
        except LfmError:
            val = train  # small datasets may have no validation motion: measure on training clips
        m = cfg.model
        model = MotionDenoiser(m.dim, m.heads, m.layers, m.mlp_ratio)
        fixed = val.draw(cfg.prior.val_clips, np.random.default_rng([cfg.seed, 1]), cfg.prior).training()
        return fit_denoiser(
            model,
            folder,
            cfg.prior,
            lambda rng: train.draw(cfg.prior.batch_size, rng, cfg.prior).training(),
            fixed,
            cfg,
            resume,
            on_step,
            info={"views": 1},
        )
    finally:
        folder.close()
