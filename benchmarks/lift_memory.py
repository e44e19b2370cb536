"""Peak memory of `lfm lift` on a long input: the whole command (reading, lifting, writing) in a fresh process.

Prints one table: the input's size on disk and the peak resident memory of the process, per input format and model.
Target: 200,000 frames lift in under 2 GB with either model. Weights are random (memory does not depend on them).
Usage: python benchmarks/lift_memory.py [--frames 200000] [--models lfm,spacetime] [--formats json,csv]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _table import print_table  # benchmarks/ is the script folder
from lift_speed import random_checkpoint
from lift_speed import write_input as write_json

JOINTS = 17  # as lift_speed's JSON input
# the child lifts and reports its own peak resident memory (ru_maxrss is in KiB on Linux)
CHILD = """
import resource, sys
from lfmcli.lift import lift_file
lift_file(sys.argv[1], sys.argv[2], checkpoint=sys.argv[3], device="cpu")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_input(path: Path, frames: int, rng) -> None:
    if path.suffix == ".json":
        write_json(path, frames, rng)
        return
    walk = np.round(np.cumsum(rng.normal(size=(frames, 1, 2)), 0) + rng.uniform(200, 800, (1, JOINTS, 2)), 2)
    parts = [f"p{j}" for j in range(JOINTS)]  # a DeepLabCut csv
    with path.open("w") as f:
        f.write("scorer," + ",".join(["net"] * 3 * JOINTS) + "\n")
        f.write("bodyparts," + ",".join(p for p in parts for _ in range(3)) + "\n")
        f.write("coords," + ",".join(["x", "y", "likelihood"] * JOINTS) + "\n")
        for t in range(frames):
            f.write(f"{t}," + ",".join(f"{x},{y},0.99" for x, y in walk[t]) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--models", default="lfm,spacetime")
    ap.add_argument("--formats", default="json,csv")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in args.models.split(","):
            ckpt = random_checkpoint(tmp, kind, "small")
            for fmt in args.formats.split(","):
                src = tmp / f"points.{fmt}"
                if not src.exists():
                    write_input(src, args.frames, rng)
                out = tmp / "out.h5"
                run = subprocess.run(
                    [sys.executable, "-c", CHILD, str(src), str(out), str(ckpt)], capture_output=True, text=True
                )
                if run.returncode:
                    sys.exit(f"lift failed: {run.stderr.strip().splitlines()[-1]}")
                peak = int(run.stdout.split()[-1]) / 1024**2
                out.unlink()
                rows.append((kind, fmt, f"{args.frames:,}", f"{src.stat().st_size / 1024**2:.0f} MB", f"{peak:.2f} GB"))
    print_table(["model", "input", "frames", "file size", "peak memory"], rows)


if __name__ == "__main__":
    main()
