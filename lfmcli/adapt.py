"""Adapting a lifter to a new kind of object from its 2D alone (`lfm adapt`).

A model trained on other kinds of object turns a new kind's bones to the true side no more often than chance; the
new kind's own 2D, thousands of frames of it, says much about its 3D. `Adapter` is `lfm train`'s Trainer with a loss
that reads no 3D, each term a key of the ``adapt`` config block with its weight (0 turns it off):

- ``reprojection``: the lift, seen by the weak-perspective camera that fits it best, gives the input 2D (a model
  with depth output keeps the input 2D by construction; this is for residual and shape output);
- ``prior``: the lift turned about the vertical axis and tilted, seen by the camera that saw the input
  (`other_view`: perspective, and the object's place in the image, kept) and normalised as the model's input, must
  be a likely 2D pose of its rig under a fixed density of the rig's real 2D (`PosePrior`, fitted on the tracks
  before training);
- ``adversarial``: that other view must look like the real 2D of its rig to a critic (a small MLP per rig) that
  learns, on the same 2D, to tell the two apart (benchmarks/adapt_critic.py measures whether it rewards the true
  depth: the true 3D's views pass for real more often than the flat lift's). The critic alone learns the training
  sequences' views; with the fixed prior beside it, adaptation reaches the 3D-trained model's error on people and
  flies (docs/accuracy.md);
- ``cycle``: that other view, lifted and turned back, gives the first lift again, up to scale;
- ``bone_lengths``: each bone of the rig's tree keeps one length over its track, which its 2D shows: the longest
  the bone gets in 2D over the track, scaled in each frame by how near the object is then (`bone_targets`);
- ``symmetry``: mirrored bones (the rig's left/right pairs) have one length.

The rigs adapted to get a learned identity per joint (``adapt.identity``, model.identity): the critic knows which
joint is which, and a lifter must know it too to learn, say, that a dog's left legs are the near ones when its head
points right.

Batches hold frames (clips of ``data.window`` frames for a space-time model) of one rig. Validation scores the terms
without the critic (which changes as it learns) on fixed frames and views; the flat lift's score is logged beside
it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import default_checkpoint, load_checkpoint
from .config import MODEL_PRESETS, DataConfig, ModelConfig, RunConfig, _check, _read_yaml, check_kind
from .data.dataset import Batch, SampleBank, occlude, rotate_scale_2d
from .devices import resolve_device
from .errors import LfmError
from .geometry.procrustes import centre, masked_mse, similarity_align, spread
from .models import flat_lift
from .models.lfm import image_frame, normalize_2d
from .train import Trainer

MIN_SEEN = 3  # points a frame needs to count as a pose
FRAMES = 64  # frames per batch: single frames for a single-frame model, clips of its window for a space-time one
TRAINING = {  # adaptation's own training defaults: short runs of small batches, a step or time budget
    "steps_per_epoch": 50,
    "val_samples": 1024,
    "patience": 1000,
    "schedule": "cosine",
    "warmup_steps": 20,
}
# measured with the prior and the critic, 400 steps from a checkpoint: people left out 19% at 1e-3, 27% at 1e-4 (flat
# 28%); dogs, whose start knew their relatives, the other way (26% against 21%; docs/accuracy.md); in the default
# 5,000 steps, 3e-4 is worse than 1e-3 on validation for people, dogs and flies
LR = 1e-3
# the terms without a critic: validation's
STATIONARY = ("reprojection", "prior", "cycle", "bone_lengths", "symmetry")


@dataclass
class AdaptConfig:
    """The weights of the terms of the adaptation loss (0 turns one off) and how their views and critic are made."""

    reprojection: float = 1.0
    prior: float = 1.0
    adversarial: float = 1.0
    cycle: float = 0.0  # measured: it slows the others (a flat lift is nearly a fixed point of it)
    # weak: a bone that never lies across the image shows less than its length, so the term pulls towards flat;
    # chosen on the validation splits (means of three seeds at 0.1, 1, 0: flies 20.4%, 28.3, 22.5; dogs 16.9, 18.1,
    # 19.2; people 17.3, 17.7, 16.6; docs/accuracy.md)
    bone_lengths: float = 0.1
    symmetry: float = 0.1
    # the other views: turned about the object's vertical axis by up to +- azimuth_deg, then tilted by elevation_deg;
    # the vertical axis is the image's y axis tilted towards the camera by camera_elevation_deg, how far the camera
    # looks down on the object (0: a level camera, 90: from straight above)
    azimuth_deg: float = 180.0
    elevation_deg: list[float] = field(default_factory=lambda: [-10.0, 10.0])
    camera_elevation_deg: float = 0.0
    # the rigs adapted to get a learned embedding per joint (model.identity): measured, on dogs left out of a
    # model's training the critic teaches which limbs are near the camera only to a model that knows its joints
    # (34% against 44% before and 45% flat; without: 51%)
    identity: bool = True
    prior_dims: int = 8  # the pose prior's main components
    critic_dim: int = 128
    critic_lr: float = 1e-3
    min_frames: int = 200  # frames (showing at least half of their rig's joints) needed to learn from

    def __post_init__(self):
        _check(
            self,
            "adapt",
            at_least_1=("prior_dims", "critic_dim", "min_frames"),
            positive=("critic_lr",),
            not_negative=("azimuth_deg", *STATIONARY, "adversarial"),
        )
        low, high = self.elevation_deg if len(self.elevation_deg) == 2 else (1, 0)
        if not -90 <= low <= high <= 90:
            raise LfmError(f"config key 'adapt.elevation_deg' takes [low, high] in degrees, not {self.elevation_deg}")
        if not -90 <= self.camera_elevation_deg <= 90:
            raise LfmError(f"config key 'adapt.camera_elevation_deg' is in [-90, 90], not {self.camera_elevation_deg}")
        if not any(self.weights().values()):
            raise LfmError("every term of the adaptation loss is off (adapt.* weights 0): nothing to learn from")

    def weights(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in (*STATIONARY, "adversarial")}


@dataclass
class AdaptRunConfig(RunConfig):
    """`lfm train`'s blocks and the ``adapt`` block; saved as the run folder's config.yaml."""

    adapt: AdaptConfig = field(default_factory=AdaptConfig)

    def __post_init__(self):
        if self.data.augment.active:
            raise LfmError("config key 'data.augment' makes new 2D from 3D, which adaptation has none of: leave it off")
        if self.training.batches != "cpu":  # its batches are clips of one rig, for that rig's critic
            raise LfmError("config key 'training.batches': lfm adapt makes its batches on the CPU; leave it cpu")

    @classmethod
    def resume(cls, run: str | Path, overrides: Iterable[str] = (), training: dict | None = None) -> AdaptRunConfig:
        path = Path(run) / "config.yaml"
        if path.exists():
            saved = _read_yaml(path)
            if "adapt" not in saved:
                raise LfmError(
                    "not an adaptation run (its config.yaml has no adapt block): continue it with lfm train", run
                )
            if "prior" not in (saved["adapt"] or {}):  # made before the pose prior: it goes on without it
                overrides = ["adapt.prior=0", *overrides]
        return super().resume(run, overrides, training)


def adapt_config(
    checkpoint: str | Path | None = None,
    scratch: str | None = None,
    kind: str = "lfm",
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    paths: Iterable[str | Path] = (),
    training: dict | None = None,
) -> AdaptRunConfig:
    """A new adaptation's config: the model of ``checkpoint`` (the packaged model of ``kind`` by default) with its
    weights, or a fresh model of preset ``scratch``; then adaptation's defaults, ``config_file``, ``--set``
    overrides, the data ``paths`` and the command's flags."""
    check_kind(kind)
    if scratch is not None:
        if checkpoint is not None:
            raise LfmError("give a --checkpoint to start from or --scratch, not both")
        if scratch not in MODEL_PRESETS[kind]:
            raise LfmError(f"--preset {scratch!r}: {kind} presets are {', '.join(MODEL_PRESETS[kind])}")
        model, init = {"kind": kind, **MODEL_PRESETS[kind][scratch]}, None
        window = DataConfig().window if kind == "spacetime" else 1
    else:
        path = Path(checkpoint) if checkpoint is not None else default_checkpoint(kind)
        start = load_checkpoint(path)
        if not isinstance(start.config, ModelConfig):
            raise LfmError("lfm adapt starts from an lfm or spacetime model, not this kind of checkpoint", path)
        model, init = start.config.to_dict(), str(path)
        window = start.window if start.model.temporal else 1
    defaults = {**TRAINING, "batch_size": max(FRAMES // window, 1), "lr": LR, "init": init}
    # no occlusion: the prior judges whole views, and a joint hidden at random is placed by the lift alone (measured:
    # people left out 18.7% without, 23.5% with 0.1; flat 27.7%)
    data = {"window": window, "occlusion": 0.0}
    cfg = AdaptRunConfig().merged({"model": model, "data": data, "training": defaults})
    no_data = "no data to adapt to: give --data TRACKS.h5 (lfm build-dataset tracks makes one)"
    return cfg.given(config_file, overrides, paths, training, no_data)


def with_steps(cfg: AdaptRunConfig, steps: int, resume: bool = False) -> AdaptRunConfig:
    """``cfg`` set to stop after ``steps`` optimisation steps in all (epochs of at most training.steps_per_epoch;
    a resumed run keeps its epoch length)."""
    if steps < 1:
        raise LfmError(f"--steps {steps}: give at least 1")
    per_epoch = cfg.training.steps_per_epoch or TRAINING["steps_per_epoch"]
    epochs = math.ceil(steps / per_epoch)
    if not resume:
        per_epoch = math.ceil(steps / epochs)
    return cfg.merged({"training": {"epochs": epochs, "steps_per_epoch": per_epoch}})


# ----- the data


def adaptation_banks(d: DataConfig, a: AdaptConfig, clips: bool) -> tuple[SampleBank, SampleBank]:
    """The 2D of the training and validation splits (the training frames where there is no validation split),
    refused with what would help where it is too little to learn from. ``clips``: a term needs consecutive frames."""
    chosen = d.categories, d.exclude_categories
    train = SampleBank(d.paths, "train", *chosen, read_3d=False)
    check_learnable(train, a.min_frames, clips, ", ".join(map(str, d.paths)))
    try:
        val = SampleBank(d.paths, d.val_split, *chosen, read_3d=False)
    except LfmError:  # the files are readable (train was): a few tracks may all be in the training split
        val = train
    return train, val


def check_learnable(bank: SampleBank, min_frames: int, clips: bool, where: str) -> None:
    """One error naming what is missing: enough frames, frames that show most of their joints, joints that move
    relative to one another, and (``clips``) sequences of two frames or more."""
    total, usable = bank.num_samples, 0
    still = []
    for name, g in bank.groups.items():
        J = g.rig.num_joints
        shown = g.visible.sum(-1) >= min(J, max(MIN_SEEN, math.ceil(J / 2)))
        usable += int(shown.sum())
        pose = normalize_2d(torch.as_tensor(g.points2d[shown]), torch.as_tensor(g.visible[shown])).numpy()
        seen = g.visible[shown]
        if len(pose) > 1:
            mean = (pose * seen[..., None]).sum(0) / np.maximum(seen.sum(0), 1)[:, None]
            change = np.sqrt((((pose - mean) ** 2).sum(-1) * seen).sum() / max(seen.sum(), 1))
            if change < 0.01:  # detector jitter on a still object is about this
                still.append(name)
    if total < min_frames:
        raise LfmError(
            f"{total} frames of 2D in the training split; adaptation needs at least {min_frames} (adapt.min_frames): "
            "give more or longer tracks, with varied poses and views",
            where,
        )
    if usable < min_frames:
        raise LfmError(
            f"only {usable} of {total} frames show at least half of their joints (most points are missing in most "
            f"frames); adaptation needs {min_frames}: track the joints more reliably, or build the tracks with a "
            "lower --min-confidence",
            where,
        )
    if len(still) == len(bank.groups):  # one still rig among moving ones only adds nothing
        raise LfmError(
            f"the joints of rig {still[0]!r} keep one shape in every frame (they never move relative to one "
            "another): there is no depth to learn from them; give tracks where the object moves and turns",
            where,
        )
    if clips and not (bank.view_length[bank.window_views()] > 1).any():
        raise LfmError(
            "no track has two frames or more (still images only): the bone-length term and the space-time model "
            "need sequences; give tracks with a frame rate, or set adapt.bone_lengths=0",
            where,
        )


def clip_batch(bank: SampleBank, d: DataConfig, size: int, rng: np.random.Generator) -> tuple[int, np.ndarray, Batch]:
    """``size`` random clips of ``d.window`` frames, all of one rig (its critic judges the whole batch): the rig
    group, the views the clips are from, and the batch."""
    views = np.arange(len(bank.view_length))
    first = rng.choice(views, p=bank.view_weights(views, d.balance_categories, d.category_weights))
    group = bank.view_group[first]
    views = views[bank.view_group == group]
    chosen = rng.choice(views, size, p=bank.view_weights(views, d.balance_categories, d.category_weights))
    starts = (rng.random(size) * np.maximum(bank.view_length[chosen] - d.window + 1, 1)).astype(int)
    batch = occlude(bank.windows(chosen, starts, d.window), d.occlusion, rng)
    return int(group), chosen, rotate_scale_2d(batch, d.rotate_2d, d.scale_2d, rng)


def longest_bones(bank: SampleBank, share: float = 95) -> np.ndarray:
    """(views, J) the length in pixels of each joint's bone to its parent, as long as its 2D gets over the view's
    sequence (a high percentile, not the maximum: a mislabelled frame stretches bones); NaN where there is no bone or
    it is never seen, or the view holds independent samples. A sequence that turns shows each bone near the image
    plane at some moment."""
    out = np.full((len(bank.view_length), bank.max_joints), np.nan, np.float32)
    for v in bank.window_views():
        g, a, n = bank.view_group[v], bank.view_start[v], bank.view_length[v]
        grp = bank.groups[bank.group_names[g]]
        child = np.flatnonzero(grp.parents >= 0)
        uv, seen = grp.points2d[a : a + n], grp.visible[a : a + n]
        both = seen[:, child] & seen[:, grp.parents[child]]
        length = np.linalg.norm(uv[:, child] - uv[:, grp.parents[child]], axis=-1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a bone never seen
            out[v, child] = np.nanpercentile(np.where(both, length, np.nan), share, axis=0)
    return out


def turns(count: int, a: AdaptConfig, rng: np.random.Generator) -> torch.Tensor:
    """(count, 3, 3) random rotations of camera-frame points about the object's vertical axis, then about the
    image x axis."""
    az = np.deg2rad(rng.uniform(-a.azimuth_deg, a.azimuth_deg, count))
    el = np.deg2rad(rng.uniform(*a.elevation_deg, count))
    up = _about_x(np.full(1, np.deg2rad(a.camera_elevation_deg)))  # takes the image y axis to the vertical
    zero, one = np.zeros(count), np.ones(count)
    about_y = np.stack([np.cos(az), zero, np.sin(az), zero, one, zero, -np.sin(az), zero, np.cos(az)], -1)
    about_up = up @ about_y.reshape(-1, 3, 3) @ up.transpose(0, 2, 1)
    return torch.as_tensor(_about_x(el) @ about_up, dtype=torch.float32)


def _about_x(angle: np.ndarray) -> np.ndarray:
    zero, one, c, s = np.zeros_like(angle), np.ones_like(angle), np.cos(angle), np.sin(angle)
    return np.stack([one, zero, zero, zero, c, -s, zero, s, c], -1).reshape(-1, 3, 3)


# ----- the terms: lifts (B, T, J, 3), masks (B, T, J) of the points seen


def other_view(points: torch.Tensor, points2d: torch.Tensor, seen: torch.Tensor, turn: torch.Tensor, K: torch.Tensor):
    """(B, T, J, 2) pixels: the lifts turned by ``turn`` (B, 3, 3) about their centres and seen by the camera that
    saw them (``K`` (B, 3, 3)), so that an other view is imaged as the real 2D is, perspective and all. Each point
    is put on the ray through where the lift places it in the image (the lift is in the units of the 2D normalised
    about its mean ``points2d``), at the depth it gives it, the object's centre at depth 1."""
    mean, scale = image_frame(points2d, seen)
    scale, K = scale[..., None, None], K.to(points.dtype)
    pixel = mean + scale * points[..., :2]
    depth = 1 + points[..., 2:] * scale / K[:, 0, 0, None, None, None]
    homogeneous = torch.cat([pixel, torch.ones_like(depth)], -1)
    camera = torch.einsum("bij,btkj->btki", torch.linalg.inv(K), homogeneous) * depth
    middle = centre(camera, seen)
    turned = torch.einsum("bij,btkj->btki", turn, middle) + (camera - middle)
    image = torch.einsum("bij,btkj->btki", K, turned)
    return image[..., :2] / image[..., 2:].clamp(min=0.05)


def reprojection_error(points: torch.Tensor, xy: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the lift seen by its best weak-perspective camera to the normalised 2D ``xy``: the
    camera by alternating similarity alignment to the 2D with the aligned lift's own depth."""
    J = points.shape[-2]
    p, g, m = points.reshape(-1, J, 3), xy.reshape(-1, J, 2), seen.reshape(-1, J)
    keep = m.sum(-1) >= MIN_SEEN
    p, g, m = p[keep], g[keep], m[keep]
    fit = p
    for _ in range(4):
        fit = similarity_align(p, torch.cat([g, fit[..., 2:].detach()], -1), m)
    return masked_mse(fit[..., :2], g, m)


def cycle_error(first: torch.Tensor, again: torch.Tensor, turn: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """How far the lift of the other view, turned back, is from the first lift after one scale per frame (the
    second lift is in its own view's units), relative to the first lift's spread."""
    back = torch.einsum("bji,btkj->btki", turn, centre(again, seen))
    target = centre(first, seen)
    w = seen[..., None].to(first.dtype)
    scale = ((w * back * target).sum((-2, -1)) / (w * back * back).sum((-2, -1)).clamp(min=1e-12)).detach()
    err = (w * (scale[..., None, None] * back - target) ** 2).sum((-2, -1)) / seen.sum(-1).clamp(min=1)
    frames = seen.sum(-1) >= MIN_SEEN
    return (err / spread(target, seen).clamp(min=1e-12))[frames].mean() if frames.any() else err.sum() * 0


def image_scale(points2d: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """(...,) the scale of `image_frame`."""
    return image_frame(points2d, seen)[1]


def bone_lengths(points: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """(B, T, J) length of each joint's bone to its parent (``parents`` (B, J), -1: none; its value then is
    meaningless)."""
    B, T, J, _ = points.shape
    base = torch.gather(points, 2, parents.clamp(min=0)[:, None, :, None].expand(B, T, J, 3))
    return ((points - base) ** 2).sum(-1).add(1e-12).sqrt()


def bone_targets(points2d: torch.Tensor, seen: torch.Tensor, parents: torch.Tensor, longest: torch.Tensor):
    """(B, T, J) the length in pixels each bone has in each frame: ``longest`` (B, J), the longest its 2D gets over
    its track, times how near the object is now relative to then, which the bones that lie flattest in the image
    show (a high quantile of their 2D length over their longest: an animal walks towards and away from the
    camera)."""
    B, T, J, _ = points2d.shape
    flat = bone_lengths(torch.cat([torch.nan_to_num(points2d), torch.zeros_like(points2d[..., :1])], -1), parents)
    both = seen & torch.gather(seen, 2, parents.clamp(min=0)[:, None].expand(B, T, J)) & (parents >= 0)[:, None]
    ratio = torch.where(both & (longest > 0)[:, None], flat / longest[:, None].clamp(min=1e-9), torch.nan)
    near = torch.nanquantile(ratio, 0.9, dim=-1, keepdim=True)
    return longest[:, None] * torch.nan_to_num(near, nan=1.0)


def bone_length_error(points: torch.Tensor, parents: torch.Tensor, target: torch.Tensor, frames: torch.Tensor):
    """Mean squared relative difference of each bone's length from its ``target`` (B, T, J, NaN where unknown) in
    ``frames`` (B, T): every bone keeps one length, which the 2D shows. ``points`` and targets in pixels: with a
    free scale per frame, a lift whose depth dwarfs its 2D would keep every length."""
    length = bone_lengths(points, parents)
    known = (parents >= 0)[:, None] & torch.isfinite(target) & (torch.nan_to_num(target) > 0) & frames[..., None]
    w = known.to(points.dtype)
    target = torch.where(known, target, torch.ones_like(target))
    return (w * (length / target - 1) ** 2).sum() / w.sum().clamp(min=1)


def symmetry_error(points: torch.Tensor, parents: torch.Tensor, mirror: torch.Tensor, frames: torch.Tensor):
    """Mean squared relative difference of the lengths of mirrored bones (``mirror`` (B, J): each joint's left/right
    counterpart, itself where it has none) in ``frames`` (B, T)."""
    B, T, J, _ = points.shape
    length = bone_lengths(points, parents)
    other = torch.gather(length, 2, mirror[:, None].expand(B, T, J))
    bone = parents >= 0
    pair = bone & torch.gather(bone, 1, mirror) & (mirror != torch.arange(J, device=mirror.device))
    w = (pair[:, None] & frames[..., None]).to(points.dtype)
    return (w * ((length - other) / (length + other).clamp(min=1e-9)) ** 2).sum() / w.sum().clamp(min=1)


@dataclass
class Clips:
    """What the loss needs beside a batch of clips: its rig's critic (-1: none), the longest 2D length of each bone
    in the clips' sequences (B, J), their cameras' intrinsics (B, 3, 3) and the turns of their other views (B, 3,
    3; drawn at each training step)."""

    rig: int
    longest: torch.Tensor
    camera: torch.Tensor
    turn: torch.Tensor | None

    def to(self, device) -> Clips:
        turn = None if self.turn is None else self.turn.to(device)
        return Clips(self.rig, self.longest.to(device), self.camera.to(device), turn)


class PosePrior(nn.Module):
    """How unlike a rig's real 2D a pose is: a Gaussian over the main components of the rig's 2D poses, normalised
    as the model's input (probabilistic PCA: ``dims`` components, one variance for the rest), fitted once on the
    tracks and then fixed. Unlike the critic it learns nothing during adaptation, so it cannot learn the training
    sequences' views against the lift, and validation can score it."""

    def __init__(self, bank: SampleBank, dims: int):
        super().__init__()
        self.rigs: set[int] = set()  # the rig groups with a density
        for i, name in enumerate(bank.group_names):
            g = bank.groups[name]
            J = g.rig.num_joints
            # frames showing every joint, where there are enough: a pose normalised about some of its points is
            # in another frame than the same pose about all of them
            shown = g.visible.all(-1)
            if shown.sum() < 4 * J:
                shown = g.visible.sum(-1) >= min(J, max(MIN_SEEN, math.ceil(J / 2)))
            if shown.sum() < 2:
                continue
            seen = torch.as_tensor(g.visible[shown])
            pose = normalize_2d(torch.as_tensor(g.points2d[shown]), seen).flatten(1).double()
            known = seen.repeat_interleave(2, -1)
            mean = (pose * known).sum(0) / known.sum(0).clamp(min=1)
            pose = torch.where(known, pose, mean)  # a hidden point counts as its mean: no evidence either way
            _, s, vt = torch.linalg.svd(pose - mean, full_matrices=False)
            k = min(dims, len(s) - 1)
            var = s**2 / (len(pose) - 1)
            rest = (var[k:].sum() / max(pose.shape[1] - k, 1)).clamp(min=1e-6)
            self.rigs.add(i)
            self.register_buffer(f"mean{i}", mean.float())
            self.register_buffer(f"basis{i}", vt[:k].T.float())
            self.register_buffer(f"sd{i}", var[:k].clamp(min=rest).sqrt().float())
            self.register_buffer(f"rest{i}", rest.float())

    def __contains__(self, rig: int) -> bool:
        return rig in self.rigs

    def forward(self, rig: int, points2d: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """(N, J, 2) poses with (N, J) masks -> (N,) negative log-density per coordinate (up to a constant)."""
        mean, basis, sd, rest = (getattr(self, f"{k}{rig}") for k in ("mean", "basis", "sd", "rest"))
        known = seen.repeat_interleave(2, -1)
        off = torch.where(known, normalize_2d(points2d, seen).flatten(1) - mean, 0)
        z = off @ basis
        residual = off - z @ basis.T
        return 0.5 * (((z / sd) ** 2).sum(-1) + (residual**2).sum(-1) / rest) / off.shape[-1]


class Critic(nn.Module):
    """Tells real 2D poses of a rig from other views of lifts: one small MLP per rig, on the pose normalised as the
    model's input (hidden points 0) and which points are seen."""

    def __init__(self, joints: list[int], dim: int):
        super().__init__()
        self.nets = nn.ModuleList(
            nn.Sequential(
                nn.Linear(3 * J, dim), nn.LeakyReLU(0.2), nn.Linear(dim, dim), nn.LeakyReLU(0.2), nn.Linear(dim, 1)
            )
            for J in joints
        )

    def forward(self, rig: int, points2d: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """(N, J, 2) poses with (N, J) masks -> (N,) scores: 1 real, 0 made."""
        pose = normalize_2d(points2d, seen)
        return self.nets[rig](torch.cat([pose.flatten(1), seen.to(pose.dtype)], -1))[:, 0]

    def learn(self, rig: int, optimizer, real, real_seen, made, made_seen) -> torch.Tensor:
        """One step of ``optimizer`` on the least-squares loss of telling ``real`` poses (N, J, 2) from ``made``
        ones (M, J, 2), each with its (N, J) / (M, J) masks; returns the loss (0.5 when it cannot tell them)."""
        optimizer.zero_grad(set_to_none=True)
        loss = ((self(rig, real, real_seen) - 1) ** 2).mean() + (self(rig, made.detach(), made_seen) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss.detach()


# ----- the trainer


class Adapter(Trainer):
    """Adapts the model of ``cfg`` (training.init names the checkpoint it starts from, which is only read) to the 2D
    of cfg.data.paths, into the run folder ``run`` (``resume``: continues the run there)."""

    def __init__(self, cfg: AdaptRunConfig, run: str | Path, *, resume: bool = False, on_step=None):
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise LfmError("lfm adapt runs in one process: start it without torchrun")
        run = Path(run)
        init = cfg.training.init
        if init and Path(init).resolve() in {(run / n).resolve() for n in ("best.safetensors", "last.safetensors")}:
            raise LfmError("adapting would overwrite the checkpoint it starts from: choose another --output", init)
        self.start_info = load_checkpoint(init).info if init and Path(init).exists() else {}
        tracks = cfg.adapt.bone_lengths > 0 or cfg.model.kind == "spacetime"
        self.banks = adaptation_banks(cfg.data, cfg.adapt, tracks)
        if cfg.adapt.identity:
            rigs = {name: g.rig.num_joints for name, g in self.banks[0].groups.items()}
            cfg = cfg.merged({"model": {"identity": {**cfg.model.identity, **rigs}}})
        torch.manual_seed(cfg.training.seed)
        joints = [self.banks[0].groups[n].rig.num_joints for n in self.banks[0].group_names]
        device = resolve_device(cfg.training.device)
        self.critic = Critic(joints, cfg.adapt.critic_dim).to(device)
        self.critic_opt = torch.optim.AdamW(self.critic.parameters(), lr=cfg.adapt.critic_lr, betas=(0.5, 0.9))
        self.prior = PosePrior(self.banks[0], cfg.adapt.prior_dims).to(device) if cfg.adapt.prior else None
        self.longest = {self.banks[0]: longest_bones(self.banks[0])}  # per bank: (views, J) bone lengths
        self.clips: Clips | None = None  # of the batch being trained on
        self.flat_val = float("nan")
        super().__init__(cfg, run, resume=resume, on_step=on_step)
        if not init and not resume:  # a fresh model is the flat lift, where every term that sees lengths is still
            nn.init.normal_(self.model.decode[-1].weight, std=0.1)

    def _banks(self) -> tuple[SampleBank, SampleBank]:
        return self.banks

    def _train_batches(self, steps: int) -> Iterator[Batch]:
        # made one at a time: self.clips describes the batch that the loss is computed on
        longest = self.longest[self.train_bank]
        for _ in range(steps):
            rig, views, batch = clip_batch(self.train_bank, self.cfg.data, self.cfg.training.batch_size, self.rng)
            camera = torch.as_tensor(self.train_bank.view_K[views])
            self.clips = Clips(rig, torch.as_tensor(longest[views]), camera, None)
            yield batch

    def _validation_batches(self) -> list[tuple[Clips, Batch]]:
        """Fixed clips, each batch of one rig, with fixed views."""
        bank, d, a = self.val_bank, self.cfg.data, self.cfg.adapt
        rng = np.random.default_rng(12345)
        T, B = d.window, self.cfg.training.batch_size
        longest = self.longest.setdefault(bank, longest_bones(bank))
        pairs = [(v, s) for v in range(len(bank.view_length)) for s in range(0, max(bank.view_length[v] - T, 0) + 1, T)]
        pairs = [pairs[i] for i in rng.permutation(len(pairs))[: max(self.cfg.training.val_samples // T, 1)]]
        out = []
        for g in np.unique(bank.view_group):
            name = bank.group_names[g]  # critics follow the training bank's rigs
            rig = self.train_bank.group_names.index(name) if name in self.train_bank.groups else -1
            mine = np.array([(v, s) for v, s in pairs if bank.view_group[v] == g]).reshape(-1, 2)
            for i in range(0, len(mine), B):
                v, s = mine[i : i + B].T
                batch = bank.windows(v, s, T)
                J = batch.exists.shape[1]
                camera = torch.as_tensor(bank.view_K[v])
                out.append((Clips(rig, torch.as_tensor(longest[v, :J]), camera, turns(len(v), a, rng)), batch))
        return out

    # ----- the loss
    def _lift(self, points2d, visible, exists, adjacency) -> torch.Tensor:
        return self.model.lift_clips(points2d, visible, exists, adjacency)

    def _forward(self, batch: Batch) -> torch.Tensor:
        return self._lift(*batch.model_inputs())

    def terms(self, pred: torch.Tensor, batch: Batch, clips: Clips, lift) -> tuple[dict, torch.Tensor]:
        """The terms without a critic that have a weight, and the other view of the lift ``pred``."""
        a = self.cfg.adapt
        seen = batch.visible & batch.exists[:, None]
        frames = seen.sum(-1) >= MIN_SEEN
        out = {}
        if a.reprojection and self.cfg.model.output != "depth":  # depth output keeps the input 2D: exact
            B, T, J, _ = batch.points2d.shape
            xy = normalize_2d(batch.points2d.reshape(B * T, J, 2), seen.reshape(B * T, J)).reshape(B, T, J, 2)
            out["reprojection"] = reprojection_error(pred, xy, seen)
        view = other_view(pred, batch.points2d, seen, clips.turn, clips.camera)
        if a.prior and clips.rig in self.prior and frames.any():
            J = view.shape[-2]
            keep = frames.reshape(-1)
            # every joint of the view, hidden ones where the lift puts them: the prior knows poses whole
            whole = batch.exists[:, None].expand_as(seen).reshape(-1, J)[keep]
            unlikely = self.prior(clips.rig, view.reshape(-1, J, 2)[keep], whole)
            out["prior"] = unlikely.log1p().mean()  # a view that passes behind the camera must not outweigh the rest
        if a.cycle:
            out["cycle"] = cycle_error(pred, lift(view, seen, batch.exists, batch.adjacency), clips.turn, seen)
        if a.bone_lengths:  # in pixels: the lift is in each frame's normalised image units
            pixels = pred * image_scale(batch.points2d, seen)[..., None, None]
            longest = clips.longest[:, : pred.shape[-2]]
            target = bone_targets(batch.points2d, seen, batch.parents, longest)
            out["bone_lengths"] = bone_length_error(pixels, batch.parents, target, frames)
        if a.symmetry:
            out["symmetry"] = symmetry_error(pred, batch.parents, batch.mirror, frames)
        return out, view

    def loss(self, pred: torch.Tensor, batch: Batch) -> torch.Tensor:
        a = self.cfg.adapt
        clips = replace(self.clips, turn=turns(len(batch), a, self.rng)).to(pred.device)
        found, view = self.terms(pred, batch, clips, self._lift)
        total = sum((getattr(a, k) * v for k, v in found.items()), pred.new_zeros(()))
        if a.adversarial:
            total = total + a.adversarial * self._adversarial(clips.rig, view, batch)
        return total

    def _adversarial(self, rig: int, view: torch.Tensor, batch: Batch) -> torch.Tensor:
        """One step of the critic on the batch's real 2D against the other views, then the lift's term: how far the
        critic is from taking the other views for real (least-squares GAN)."""
        J = view.shape[-2]
        seen = (batch.visible & batch.exists[:, None]).reshape(-1, J)
        keep = seen.sum(-1) >= MIN_SEEN
        real, made, seen = batch.points2d.reshape(-1, J, 2)[keep], view.reshape(-1, J, 2)[keep], seen[keep]
        if not len(seen):
            return view.sum() * 0
        self.critic.learn(rig, self.critic_opt, real, seen, made, seen)
        self.critic.requires_grad_(False)  # the lift's term moves the lift, not the critic
        try:
            return ((self.critic(rig, made, seen) - 1) ** 2).mean()
        finally:
            self.critic.requires_grad_(True)

    def evaluate(self, batches: list | None = None, flat: bool = False) -> float:
        """The weighted terms without a critic, frame-weighted over the validation clips (``flat``: of the z = 0
        lift); with only the critic's term on, that term under the current critic."""
        a = self.cfg.adapt
        lift = (lambda p, v, e, adj: flat_lift(p, v & e[:, None])) if flat else self._lift
        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for clips, batch in batches if batches is not None else self._val_batches:
                batch, clips = batch.to(self.device), clips.to(self.device)
                pred = lift(*batch.model_inputs())
                found, view = self.terms(pred, batch, clips, lift)
                value = sum(getattr(a, k) * float(v) for k, v in found.items())
                if not found and clips.rig >= 0:
                    J = view.shape[-2]
                    seen = (batch.visible & batch.exists[:, None]).reshape(-1, J)
                    keep = seen.sum(-1) >= MIN_SEEN
                    score = self.critic(clips.rig, view.reshape(-1, J, 2)[keep], seen[keep])
                    value = a.adversarial * float(((score - 1) ** 2).mean())
                n = int((batch.visible.sum(-1) >= MIN_SEEN).sum())
                total += value * n
                count += n
        self.model.train()
        return total / max(count, 1)

    # ----- files
    def _extra_state(self) -> dict:
        return {"critic": self.critic.state_dict(), "critic_optimizer": self.critic_opt.state_dict()}

    def _load_extra_state(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.critic_opt.load_state_dict(state["critic_optimizer"])

    def _info(self) -> dict:
        """What the model now knows: the kinds and rigs it started from and the ones adapted to."""
        info = super()._info()
        info["val_adapt_loss"] = info.pop("val_pa_mpjpe")
        info["categories"] = sorted({*self.start_info.get("categories", []), *info["categories"]})
        info["rigs"] = {**self.start_info.get("rigs", {}), **info["rigs"]}
        info["adapted_from"] = self.cfg.training.init
        return info

    def _log(self, row: dict) -> None:
        # the validation of an adaptation is its loss, not a 3D error
        row = {k.replace("pa_mpjpe", "adapt_loss"): v for k, v in row.items()}
        if "val_flat_adapt_loss" in row:
            self.flat_val = row["val_flat_adapt_loss"]
        super()._log(row)
