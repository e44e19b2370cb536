"""Bone-length refinement (inverse kinematics) speed at AnimalSyn3D scale: about 48,000 frames, 19-31 joints.

Builds the synthetic zoo's marker joints in memory (skinned meshes, surface markers), then refines every rig's
frames in one batch, as `lfm build-dataset animalsyn3d` does. Prints one table.
Usage: python benchmarks/ik_speed.py [--frames 48384] [--steps 100] [--device auto]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder

from lfmcli.devices import resolve_device
from lfmcli.geometry.kinematics import forward_kinematics
from lfmcli.sources import synthetic
from lfmcli.sources.animalsyn3d import refine


def zoo_markers(total_frames: int, frames: int = 288, seed: int = 0):
    """Marker joints of skinned zoo creatures, grouped by rig: {rig: (parents, [(name, (T, J, 3)), ...])}."""
    by_rig: dict = defaultdict(lambda: (None, []))
    done, i = 0, 0
    while done < total_frames:
        kind = synthetic.KINDS[i % len(synthetic.KINDS)]
        creature = synthetic.make_creature(kind, np.random.default_rng([seed, i]))
        offsets = np.stack(creature.offsets)
        rest = forward_kinematics(np.zeros((1, len(offsets), 3)), offsets, creature.parents, np.zeros((1, 3)))[0]
        motion = synthetic.MOTIONS[i % len(synthetic.MOTIONS)]
        n = min(frames, total_frames - done)
        pos, rot = synthetic.animate(creature, motion, n, 30.0, np.random.default_rng([seed, i, 1]))
        vertices, _, groups = synthetic.skin(creature, pos, rot, rest)
        joints = np.stack([vertices[:, g].mean(1) for g in groups], 1)
        rig = creature.rig()
        by_rig[rig.name] = (list(rig.parents), by_rig[rig.name][1] + [(f"{kind}{i}", joints)])
        done += n
        i += 1
    return by_rig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48_384)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    by_rig = zoo_markers(args.frames)
    prep = time.perf_counter() - t0
    rows = []
    total = 0.0
    for name, (parents, items) in sorted(by_rig.items()):
        frames = sum(len(p) for _, p in items)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        _, report = refine(items, parents, 0.1, args.steps, device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        total += dt
        rows.append(
            (
                name,
                str(len(items)),
                f"{frames:,}",
                str(len(parents)),
                f"{dt:.1f} s",
                f"{max(r['bone_cv_before'] for r in report) * 100:.2f}%",
                f"{max(r['bone_cv_after'] for r in report) * 100:.5f}%",
            )
        )
    frames = sum(sum(len(p) for _, p in items) for _, items in by_rig.values())
    rows.append(("all rigs", str(sum(len(i) for _, i in by_rig.values())), f"{frames:,}", "", f"{total:.1f} s", "", ""))
    header = ("rig", "sequences", "frames", "joints", f"refine ({args.steps} steps)", "bone CV before", "after")
    where = torch.cuda.get_device_name() if device.startswith("cuda") else f"{torch.get_num_threads()} CPU threads"
    print(f"device: {device} ({where}); marker generation {prep:.1f} s")
    print_table(header, rows)


if __name__ == "__main__":
    main()
