"""Writes the example inputs in this folder from the procedural zoo (no outside data): a biped walking and a
quadruped trotting, filmed by a fixed camera, as lfm keypoints JSON with their rigs inline."""

import json
from pathlib import Path

import numpy as np

from lfmcli.geometry.cameras import random_orbit_camera
from lfmcli.sources import synthetic

HERE = Path(__file__).resolve().parent

for kind, motion, seed in (("biped", "walk", 3), ("quadruped", "trot", 5)):
    creature = synthetic.make_creature(kind, np.random.default_rng(seed))
    points, _ = synthetic.animate(creature, motion, 60, 30.0, np.random.default_rng(seed))
    camera = random_orbit_camera(points, "y", np.random.default_rng(seed), elevation_deg=(10, 20))
    uv = camera.project(points)
    uv[20:24, 3] = np.nan  # a few missed detections, as real 2D has
    rig = creature.rig()
    doc = {
        "keypoints": [
            [None if np.isnan(p).any() else [round(float(p[0]), 1), round(float(p[1]), 1)] for p in f] for f in uv
        ],
        "rig": {
            "name": rig.name,  # the zoo rig the packaged model trained on
            "category": kind,
            "joints": list(rig.joints),
            "edges": [[rig.joints[a], rig.joints[b]] for a, b in rig.edges],
        },
        "fps": 30,
        "image_size": list(camera.image_size),
    }
    (HERE / f"{kind}_{motion}.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {kind}_{motion}.json: {len(uv)} frames, {rig.num_joints} joints")
