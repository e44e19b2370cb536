"""Does `lfm adapt`'s critic reward the true depth? Its adversarial term asks that other views of the lift look like
the real 2D to a critic that learns to tell them apart; that pulls towards the truth only if the other views of the
true 3D look real to it, and those of a wrong lift (the flat lift) do not.

For each kind (benchmarks/adapt.py's kinds and data: one random camera per sequence), the critic of `lfm adapt`
(same network, optimiser and batches: frames of one rig) trains for --steps on the training split's real 2D
against the other views of one lift, and the table gives its loss over the last 100 steps: 0.5 when it cannot tell
them from real (least squares, chance), near 0 when it always can. The lifts: the true 3D (put in the model's units:
the normalised 2D and its depth), the flat lift (z = 0); each turned by adaptation's views and seen either by the
camera that saw the input (`lfmcli.adapt.other_view`, perspective and the object's place in the image kept) or
orthographically about its centre. The last column trains the critic against the real 2D of the test split's
sequences, which no view makes: how well the critic, fed one camera per sequence, generalises to sequences it never
saw.

Usage: python benchmarks/adapt_critic.py [--kinds dog,human17,fly] [--steps 600]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder
from adapt import CAMERAS, kind_files

from lfmcli.adapt import MIN_SEEN, Critic, adapt_config, clip_batch, image_scale, other_view, turns
from lfmcli.data.dataset import Batch, SampleBank
from lfmcli.geometry.procrustes import centre
from lfmcli.models import flat_lift
from lfmcli.models.lfm import normalize_2d
from lfmcli.sources import build_dataset


def true_lift(batch: Batch, K: torch.Tensor) -> torch.Tensor:
    """The true 3D in a depth-output model's units: each frame's normalised 2D, and its depth about the centre's,
    relative to the centre's depth and in units of the normalised 2D (K's focal length over the frame's 2D scale)."""
    seen = batch.visible & batch.exists[:, None]
    B, T, J, _ = batch.points2d.shape
    xy = normalize_2d(batch.points2d.reshape(B * T, J, 2), seen.reshape(B * T, J)).reshape(B, T, J, 2)
    z, w = torch.nan_to_num(batch.target[..., 2]), seen.to(batch.target.dtype)
    middle = ((z * w).sum(-1, keepdim=True) / w.sum(-1, keepdim=True).clamp(min=1)).clamp(min=1e-6)
    depth = (z - middle) / middle * K[:, 0, 0, None, None] / image_scale(batch.points2d, seen)[..., None]
    return torch.cat([xy, depth[..., None]], -1)


def orthographic_view(points: torch.Tensor, seen: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """The lift turned about its centre and seen orthographically: the views before they were imaged by the
    input's camera."""
    return torch.einsum("bij,btkj->btki", turn, centre(points, seen))[..., :2]


def critic_loss(bank: SampleBank, cfg, steps: int, lift: str = "", camera: bool = True, other=None) -> float:
    """The critic of adaptation config ``cfg`` after ``steps``: its mean loss over the last 100 against other views
    of ``lift`` ("true" or "flat", seen by the input camera or orthographically), or against the real 2D of the
    SampleBank ``other``."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    critic = Critic([bank.groups[n].rig.num_joints for n in bank.group_names], cfg.adapt.critic_dim)
    opt = torch.optim.AdamW(critic.parameters(), lr=cfg.adapt.critic_lr, betas=(0.5, 0.9))
    rigs = {bank.group_names.index(n) for n in (other.group_names if other else bank.group_names)}
    size, losses = cfg.training.batch_size, []
    while len(losses) < steps:
        rig, views, batch = clip_batch(bank, cfg.data, size, rng)
        if rig not in rigs:
            continue
        seen = batch.visible & batch.exists[:, None]
        if other is not None:
            while True:  # the held-out 2D of the same rig
                r, _, made_batch = clip_batch(other, cfg.data, size, rng)
                if bank.group_names.index(other.group_names[r]) == rig:
                    break
            made, made_seen = made_batch.points2d, made_batch.visible & made_batch.exists[:, None]
        else:
            K = torch.as_tensor(bank.view_K[views])
            pred = true_lift(batch, K) if lift == "true" else flat_lift(batch.points2d, seen)
            turn = turns(len(batch), cfg.adapt, rng)
            made = other_view(pred, batch.points2d, seen, turn, K) if camera else orthographic_view(pred, seen, turn)
            made_seen = seen
        J = batch.points2d.shape[-2]
        real, real_seen = batch.points2d.reshape(-1, J, 2), seen.reshape(-1, J)
        made, made_seen = made.reshape(-1, J, 2), made_seen.reshape(-1, J)
        a, b = real_seen.sum(-1) >= MIN_SEEN, made_seen.sum(-1) >= MIN_SEEN
        losses.append(float(critic.learn(rig, opt, real[a], real_seen[a], made[b], made_seen[b])))
    return float(np.mean(losses[-100:]))


def kind_banks(kind: str, tmp: Path) -> tuple:
    """``kind``'s data as benchmarks/adapt.py builds it (one random camera per sequence) in folder ``tmp``: the
    adaptation config that reads it, and its training and test splits' SampleBanks."""
    kind_files(kind, tmp / kind)
    data = tmp / f"{kind}.h5"
    build_dataset("npz", [tmp / kind], data, views=1, seed=3)
    cfg = adapt_config(scratch="tiny", overrides=CAMERAS, paths=[data])
    return cfg, SampleBank([data], "train"), SampleBank([data], "test")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="dog,human17,fly")
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    arms = [("true", True), ("flat", True), ("true", False), ("flat", False)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            cfg, bank, test = kind_banks(kind, Path(tmp))
            found = [critic_loss(bank, cfg, args.steps, lift, camera) for lift, camera in arms]
            found.append(critic_loss(bank, cfg, args.steps, other=test))
            rows.append([kind, *(f"{x:.3f}" for x in found)])
            print_table(HEADER, rows[-1:], kind)
    title = f"The critic's loss against each (0.5: it cannot tell them from real 2D; {args.steps} steps)"
    print_table(HEADER, rows, title)


HEADER = [
    "kind",
    "true 3D, input camera",
    "flat lift, input camera",
    "true 3D, orthographic",
    "flat lift, orthographic",
    "test-split real 2D",
]

if __name__ == "__main__":
    main()
