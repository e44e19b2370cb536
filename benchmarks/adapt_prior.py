"""Does `lfm adapt`'s pose prior rank the true depth above the flat lift? Its term asks that other views of the lift be
likely under a Gaussian fitted on the kind's real 2D (`lfmcli.adapt.PosePrior`); that teaches depth only if other
views of the true 3D score better than those of wrong depths.

For each kind (benchmarks/adapt.py's kinds and data: one random camera per sequence), the prior is fitted on the
training split's 2D as `lfm adapt` fits it, and the table gives the median score (negative log-density per
coordinate; lower is more likely) of: the test split's real 2D (sequences it never saw), and other views (the
adaptation's turns, seen by the input camera: `lfmcli.adapt.other_view`) of the true 3D, of its depth halved,
mirrored (negated) and doubled, and of the flat lift, all on training-split frames.

--azimuth 180,30 scores the other views turned by up to each of these angles (adapt.azimuth_deg; 180 by default).

Usage: python benchmarks/adapt_prior.py [--kinds dog,human17,fly] [--frames 3000] [--azimuth 180]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder
from adapt_critic import kind_banks, true_lift

from lfmcli.adapt import PosePrior, clip_batch, other_view, turns
from lfmcli.data.dataset import SampleBank

DEPTHS = {"true 3D": 1.0, "depth halved": 0.5, "mirrored": -1.0, "doubled": 2.0, "flat lift": 0.0}


def scores(prior: PosePrior, rigs: list[str], bank: SampleBank, cfg, frames: int, depth: float | None) -> float:
    """The median score of ``frames`` poses of ``bank``: its real 2D (``depth`` None) or other views of its true 3D
    with the depth scaled by ``depth`` (0: the flat lift). ``rigs``: the names of the prior's rigs, in order."""
    rng = np.random.default_rng(0)
    found = []
    while sum(map(len, found)) < frames:
        rig, views, batch = clip_batch(bank, cfg.data, 64, rng)
        name = bank.group_names[rig]
        rig = rigs.index(name) if name in rigs else -1
        if rig not in prior:
            continue
        seen = batch.visible & batch.exists[:, None]
        if depth is None:
            made = batch.points2d
        else:
            K = torch.as_tensor(bank.view_K[views])
            lift = true_lift(batch, K)  # its x, y are the normalised 2D: with no depth, the flat lift
            lift = torch.cat([lift[..., :2], depth * lift[..., 2:]], -1)
            made = other_view(lift, batch.points2d, seen, turns(len(batch), cfg.adapt, rng), K)
        J = made.shape[-2]
        keep = seen.reshape(-1, J).all(-1)  # whole poses, as adaptation scores them
        if keep.any():
            found.append(prior(rig, made.reshape(-1, J, 2)[keep], seen.reshape(-1, J)[keep]))
    return float(torch.cat(found).median())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="dog,human17,fly")
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--azimuth", default="180", help="the other views' largest turns (adapt.azimuth_deg), e.g. 180,30")
    args = ap.parse_args()
    try:
        azimuths = [float(a) for a in args.azimuth.split(",")]
        usable = all(0 <= a <= 180 for a in azimuths)
    except ValueError:
        usable = False
    if not usable:
        ap.error(f"--azimuth takes degrees from 0 to 180 separated by commas, such as 180,30, not {args.azimuth!r}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            cfg, train, test = kind_banks(kind, Path(tmp))
            with torch.no_grad():
                prior, rigs = PosePrior(train, cfg.adapt.prior_dims), train.group_names
                real = scores(prior, rigs, test, cfg, args.frames, None)
                for azimuth in azimuths:
                    turned = replace(cfg, adapt=replace(cfg.adapt, azimuth_deg=azimuth))
                    found = [real, *(scores(prior, rigs, train, turned, args.frames, d) for d in DEPTHS.values())]
                    rows.append([kind, f"{azimuth:g}", *(f"{x:.3f}" for x in found)])
                    print_table(HEADER, rows[-1:], kind)
    print_table(HEADER, rows, f"The pose prior's median score (lower: more likely; {args.frames} poses each)")


HEADER = ["kind", "turns up to (deg)", "test-split real 2D", *DEPTHS]

if __name__ == "__main__":
    main()
