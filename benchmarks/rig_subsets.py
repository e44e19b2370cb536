"""A checkpoint on skeletons it never saw that are subsets of one it did: the Human3.6M 17-joint and HumanEva
15-joint layouts taken out of the CMU 28-joint humans of a dataset, with the graph rebuilt over the dropped joints
(as a user's own skeleton file would give it), beside the full 28 joints and the flat lift.

Prints pa-mpjpe% (lower is better) per layout. Usage:
python benchmarks/rig_subsets.py out/default/real.h5 [--checkpoint lfmcli/weights/default_lfm.safetensors]
[--split test] [--frames 3000]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder

from lfmcli.checkpoint import default_checkpoint, load_checkpoint
from lfmcli.data.augment import _bridged
from lfmcli.data.dataset import SampleBank
from lfmcli.metrics import pa_mpjpe_pct
from lfmcli.models import flat_lift

# joints of the cmu_28 rig (a joint sits where its bone starts: lfemur is the hip, ltibia the knee, ...)
LAYOUTS = {
    "Human3.6M-like, 17": [0, 6, 7, 8, 1, 2, 3, 11, 12, 13, 14, 16, 17, 18, 22, 23, 24],
    "HumanEva-like, 15": [0, 12, 14, 16, 17, 18, 22, 23, 24, 1, 2, 3, 6, 7, 8],
    "CMU, all 28": list(range(28)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--split", default="test")
    ap.add_argument("--frames", type=int, default=3000)
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint or default_checkpoint(), "cpu")
    bank = SampleBank([args.dataset], args.split, ["human"])
    cmu = [v for v in range(len(bank.view_length)) if bank.group_names[bank.view_group[v]] == "cmu_28"]
    samples = np.flatnonzero(np.isin(bank.sample_view, cmu))
    if not len(samples):
        raise SystemExit(f"no cmu_28 humans in the {args.split} split of {args.dataset}")
    samples = np.random.default_rng(0).choice(samples, min(args.frames, len(samples)), replace=False)
    batch = bank.frames(samples)
    rows = []
    for name, keep in LAYOUTS.items():
        dropped = np.ones(28, bool)
        dropped[keep] = False
        adjacency = torch.as_tensor(_bridged(batch.adjacency[0].numpy(), dropped)[np.ix_(keep, keep)])
        points, visible = batch.points2d[:, keep], batch.visible[:, keep]
        exists = torch.ones(len(samples), len(keep), dtype=torch.bool)
        with torch.no_grad():
            lifted = ckpt.model(points, visible, exists, adjacency.expand(len(samples), -1, -1))
        target, mask = batch.target[:, keep].double(), batch.has_3d[:, keep]
        model, flat = (
            float(pa_mpjpe_pct(p.double(), target, mask).mean()) for p in (lifted, flat_lift(points, visible))
        )
        rows.append([name, f"{model:.2f}", f"{flat:.2f}", f"{100 * (1 - model / flat):.0f}%"])
    print_table(["layout", "% model", "% flat", "below flat"], rows, f"{args.split} frames: {len(samples)}")


if __name__ == "__main__":
    main()
