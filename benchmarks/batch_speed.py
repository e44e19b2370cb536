"""How fast training batches are made (sampled, augmented, occluded): the pace a GPU waits for when the data is the
bottleneck. Uses a run config's data settings and batch size, in the training process (workers 0) and in worker
processes (`training.workers`). Prints one table. Usage:
python benchmarks/batch_speed.py DATA.h5 [DATA.h5 ...] [--config configs/default_lfm_gpu.yaml] [--batches 10]
[--workers 0,2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _table import print_table  # benchmarks/ is the script folder

from lfmcli.config import RunConfig
from lfmcli.train import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+")
    ap.add_argument("--config", default="configs/default_lfm_gpu.yaml")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--workers", default="0,2")
    args = ap.parse_args()
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        cfg = RunConfig.resolve(
            "lfm", "small", args.config, ["training.device=cpu", f"training.workers={workers}"], args.data
        )
        trainer = Trainer(cfg, tempfile.mkdtemp())
        next(iter(trainer._train_batches(1)))  # caches and worker start-up are not timed
        started = time.perf_counter()
        frames = sum(
            len(b) * (b.points2d.shape[1] if b.points2d.dim() == 4 else 1) for b in trainer._train_batches(args.batches)
        )
        seconds = (time.perf_counter() - started) / args.batches
        rows.append(
            [str(workers), str(cfg.training.batch_size), f"{seconds:.3f}", f"{frames / (seconds * args.batches):,.0f}"]
        )
    print_table(["workers", "batch", "s per batch", "frames/s"], rows, f"Training batches of {args.config}")


if __name__ == "__main__":
    main()
