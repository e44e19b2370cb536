"""Speed of `lfm lift` end to end, through the library call the command makes (`lift_file`): reading the input,
loading the checkpoint, lifting, writing the HDF5.

Prints one table: the time for a one-frame input (the fixed cost) and frames/s for a 10,000-frame input, per preset.
Weights are random (speed does not depend on them). Usage: python benchmarks/lift_speed.py [--frames 10000]
[--device cpu] [--presets lfm:small,spacetime:small]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder

from lfmcli.checkpoint import save_checkpoint
from lfmcli.config import MODEL_PRESETS, ModelConfig
from lfmcli.lift import lift_file
from lfmcli.models import build_model


def write_input(path: Path, frames: int, rng) -> None:
    walk = np.cumsum(rng.normal(size=(frames, 1, 2)), 0) + rng.uniform(200, 800, (1, 17, 2))
    path.write_text(json.dumps({"keypoints": np.round(walk, 2).tolist(), "rig": "h36m_17", "fps": 50}))


def random_checkpoint(folder: Path, kind: str, preset: str) -> Path:
    """A checkpoint of the ``preset`` model with random weights (speed and memory do not depend on them)."""
    cfg = ModelConfig(kind=kind, **MODEL_PRESETS[kind][preset])
    torch.manual_seed(0)
    path = folder / f"{kind}_{preset}.safetensors"
    save_checkpoint(path, build_model(cfg), cfg, {"window": 48})
    return path


def run(input: Path, output: Path, checkpoint: Path, device: str) -> float:
    t = time.perf_counter()
    lift_file(input, output, checkpoint=checkpoint, device=device)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--presets", default="lfm:tiny,lfm:small,spacetime:small")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_input(tmp / "one.json", 1, rng)
        write_input(tmp / "big.json", args.frames, rng)
        for spec in args.presets.split(","):
            kind, preset = spec.split(":")
            ckpt = random_checkpoint(tmp, kind, preset)
            run(tmp / "one.json", tmp / "w.h5", ckpt, args.device)  # warm the file cache
            start = min(run(tmp / "one.json", tmp / "one.h5", ckpt, args.device) for _ in range(3))
            total = run(tmp / "big.json", tmp / "big.h5", ckpt, args.device)
            rows.append(
                (
                    spec,
                    f"{start:.2f} s",
                    f"{total:.2f} s",
                    f"{args.frames / total:,.0f}",
                    f"{args.frames / max(total - start, 1e-9):,.0f}",
                )
            )
    header = (
        "model",
        "1 frame (fixed cost)",
        f"{args.frames:,} frames",
        "frames/s (all)",
        "frames/s (after fixed cost)",
    )
    print(f"lfm lift end to end on {args.device} ({torch.get_num_threads()} threads), lfm JSON in, HDF5 out")
    print_table(header, rows)


if __name__ == "__main__":
    main()
