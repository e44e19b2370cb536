"""How fast training batches are made (sampled, augmented, occluded): the pace a GPU waits for when the data is the
bottleneck. Uses a run config's data settings and batch size, with batches made on the CPU in the training process
(cpu:0), by worker processes (cpu:N, `training.workers`), or on the model's device (device, `training.batches`).
Prints one table. Usage:
python benchmarks/batch_speed.py DATA.h5 [DATA.h5 ...] [--config configs/default_lfm_gpu.yaml] [--batches 10]
[--ways cpu:0,cpu:2,device] [--device auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from _table import print_table  # benchmarks/ is the script folder

from lfmcli.config import RunConfig
from lfmcli.devices import resolve_device
from lfmcli.train import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+")
    ap.add_argument("--config", default="configs/default_lfm_gpu.yaml")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--ways", default="cpu:0,cpu:2,device", help="cpu:WORKERS or device")
    ap.add_argument("--device", default="auto", help="the model's device: where device batches are made")
    args = ap.parse_args()
    device = resolve_device(args.device)
    rows = []
    for way in args.ways.split(","):
        batches, _, workers = way.partition(":")
        sets = [f"training.device={device}", f"training.batches={batches}", f"training.workers={workers or 0}"]
        cfg = RunConfig.resolve("lfm", "small", args.config, sets, args.data)
        trainer = Trainer(cfg, tempfile.mkdtemp())
        next(iter(trainer._train_batches(1)))  # caches and worker start-up are not timed
        started = time.perf_counter()
        frames = sum(
            len(b) * (b.points2d.shape[1] if b.points2d.dim() == 4 else 1) for b in trainer._train_batches(args.batches)
        )
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - started) / args.batches
        where = device if batches == "device" else "cpu"
        rows.append(
            [way, where, str(cfg.training.batch_size), f"{seconds:.3f}", f"{frames / (seconds * args.batches):,.0f}"]
        )
    print_table(["batches", "made on", "batch", "s per batch", "frames/s"], rows, f"Training batches of {args.config}")


if __name__ == "__main__":
    main()
