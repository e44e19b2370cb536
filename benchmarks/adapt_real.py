"""What can be checked of lifts of real 2D without any 3D: how constant each bone's length stays over a track, and
how far the lift, seen by its best weak-perspective camera, lands from the 2D it was lifted from.

Each argument is a result of `lfm lift` (NAME=PATH, or PATH named by its file), all of the same 2D with a rig that
has bones. For each, and for the flat lift (the 2D itself, depth 0), per individual: the bone-length CV (std / mean
of each bone's length over the track, averaged over the bones, lower is steadier), the reprojection error in pixels
and the depth the lift adds (RMS depth about the frame's centroid over the RMS radius of its 2D, in %). Each frame's
lift is first placed in pixels by its best weak-perspective camera (lfmcli.metrics.weak_perspective), so the
model's own scale, which follows each frame's normalised 2D, is not counted as stretching. Neither check sees the
sign of the depth (a lift and its mirror image score alike); "bones away" does: the share of frames in which a bone
points away from the camera (its second joint farther than its first), worth reading where the scene says what it
should be (a fly's feet are on the floor, below its thorax, for a camera above it). --bones gives both per bone,
averaged over the individuals.

Usage: python benchmarks/adapt_real.py before=out/adapt_real/before.h5 after=out/adapt_real/after.h5 [--bones]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder

from lfmcli.metrics import bone_length_cvs, placed_error_px, weak_perspective


def read_lift(path: str) -> dict:
    """A result of lfm lift as (I, T, J, ...) tensors, with its bones and names."""
    with h5py.File(path, "r") as f:
        names = lambda key: [n.decode() if isinstance(n, bytes) else str(n) for n in f[key][:]]  # noqa: E731
        return {
            "position": torch.as_tensor(f["position"][:], dtype=torch.float64).transpose(0, 1),
            "points2d": torch.as_tensor(f["position_2d"][:], dtype=torch.float64).transpose(0, 1),
            "seen": torch.as_tensor(f["visible"][:].astype(bool)).transpose(0, 1),
            "edges": torch.as_tensor(f["edges"][:].astype(np.int64)),
            "joints": names("keypoint"),
            "individuals": names("individual"),
        }


def checks(position: torch.Tensor | None, points2d: torch.Tensor, seen: torch.Tensor, edges: torch.Tensor) -> dict:
    """Per individual: each bone's CV (I, E), the reprojection error in pixels and the depth added in % (I,).
    ``position`` None: the flat lift, which its camera places on the 2D exactly."""
    if position is None:
        placed = torch.cat([points2d, torch.zeros_like(points2d[..., :1])], -1)
    else:
        seen = seen & torch.isfinite(position).all(-1)
        placed = weak_perspective(position, points2d, seen)
    w = seen.to(placed.dtype)
    placed = torch.nan_to_num(placed)
    about = placed - (w[..., None] * placed).sum(-2, keepdim=True) / w.sum(-1)[..., None, None].clamp(min=1)
    depth = (w * about[..., 2] ** 2).sum((1, 2))
    radius = (w * (about[..., :2] ** 2).sum(-1)).sum((1, 2))
    a, b = edges[:, 0], edges[:, 1]
    both = seen[..., a] & seen[..., b]
    away = both & (placed[..., b, 2] > placed[..., a, 2])  # placed in the camera frame: z points away from it
    return {
        "cvs": bone_length_cvs(placed, edges, seen),
        "px": placed_error_px(placed, points2d, seen),
        "depth": 100 * (depth / radius.clamp(min=1e-12)).sqrt(),
        "away": None if position is None else 100 * away.sum(1) / both.sum(1).clamp(min=1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lifts", nargs="+", help="NAME=PATH or PATH: results of lfm lift of the same 2D")
    ap.add_argument("--bones", action="store_true", help="also each bone's CV")
    args = ap.parse_args()
    named = [a.split("=", 1) if "=" in a else (Path(a).stem, a) for a in args.lifts]
    lifts = {name: read_lift(path) for name, path in named}
    first = next(iter(lifts.values()))
    if not len(first["edges"]):
        raise SystemExit("the lifts' rig has no bones: lift with --rig naming one that has")
    found = {"flat": checks(None, first["points2d"], first["seen"], first["edges"])}
    for name, lift in lifts.items():
        if lift["points2d"].shape != first["points2d"].shape or not torch.equal(lift["edges"], first["edges"]):
            raise SystemExit(f"{name}: not a lift of the same 2D with the same rig as the first")
        found[name] = checks(lift["position"], lift["points2d"], lift["seen"], lift["edges"])
    rows = []
    for name, c in found.items():
        for i, who in enumerate(first["individuals"]):
            cv, px, depth = float(c["cvs"][i].nanmean()), float(c["px"][i]), float(c["depth"][i])
            away = "-" if c["away"] is None else f"{float(c['away'][i].mean()):.0f}"
            rows.append([name, who, f"{cv:.3f}", f"{px:.2f}", f"{depth:.1f}", away])
    header = ["lift", "individual", "bone-length CV", "reprojection px", "depth %", "bones away %"]
    T, J = first["seen"].shape[1:]
    print_table(header, rows, f"checks without 3D ({T} frames, {J} joints, {len(first['edges'])} bones)")
    if args.bones:
        joints = first["joints"]
        bones = [f"{joints[a]}-{joints[b]}" for a, b in first["edges"].tolist()]
        cvs = [c["cvs"].nanmean(0) for c in found.values()]
        aways = {name: c["away"].mean(0) for name, c in found.items() if c["away"] is not None}
        rows = [
            [bone, *(f"{float(cv[e]):.3f}" for cv in cvs), *(f"{float(a[e]):.0f}" for a in aways.values())]
            for e, bone in enumerate(bones)
        ]
        header = ["bone", *(f"CV {n}" for n in found), *(f"away % {n}" for n in aways)]
        print_table(header, rows, "per bone (mean over individuals)")


if __name__ == "__main__":
    main()
