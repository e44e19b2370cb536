"""Dataset I/O speed and memory: building ../shared/data, and writing/reading a large synthetic file.

Prints one table. Usage: python benchmarks/dataset_io.py [--frames 1000000] [--reads 20000]
Each measurement runs in a fresh child process so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _table import print_table  # benchmarks/ is the script folder

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def write(path: Path, frames: int, chunk: int, compression: str) -> dict:
    import numpy as np

    from lfmcli.data import format as fmt
    from lfmcli.data.format import DatasetWriter
    from lfmcli.geometry.cameras import random_orbit_camera
    from lfmcli.rigs import get_rig
    from lfmcli.sequence import Sequence, View

    fmt.CHUNK_FRAMES = chunk
    rig = get_rig("animalsyn3d_foxZED")
    rng = np.random.default_rng(0)
    T = 1000
    t0 = time.perf_counter()
    with DatasetWriter(path, compression=None if compression == "none" else compression) as w:
        for i in range(frames // T):
            # smooth random motion: realistic compressibility, generated per sequence (never all in memory)
            base = rng.normal(size=(1, rig.num_joints, 3)) * 0.3
            pts = (base + np.cumsum(rng.normal(size=(T, rig.num_joints, 3)) * 0.003, 0)).astype(np.float32)
            seq = Sequence(name=f"s{i}", category="fox", rig=rig, points3d=pts, fps=30.0)
            cam = random_orbit_camera(pts, "y", rng)
            uv = cam.project(pts).astype(np.float32)
            seq.views = [View(cam, uv, np.ones(pts.shape[:2], bool))]
            w.add(seq)
    return {"seconds": time.perf_counter() - t0}


def build(shared: Path, out: Path) -> dict:
    from lfmcli.sources import build_dataset

    t0 = time.perf_counter()
    build_dataset("npz", [shared], out)
    return {"seconds": time.perf_counter() - t0}


def read(path: Path, reads: int) -> dict:
    import numpy as np

    from lfmcli.data.format import DatasetFile

    with DatasetFile(path) as f:
        idx = np.random.default_rng(1).integers(0, f.num_samples, reads)
        t0 = time.perf_counter()
        for k in idx:
            f.sample(int(k))
        dt = time.perf_counter() - t0
    return {"seconds": dt, "per_second": reads / dt}


def _measured(fn, *args) -> tuple[dict, float]:
    result = fn(*args)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(fn, *args) -> tuple[dict, float]:
    """Run ``fn(*args)`` in a fresh interpreter; return its result and that process's own peak RSS in MiB."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, fn, *args).result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--reads", type=int, default=20_000)
    ap.add_argument("--compare-frames", type=int, default=200_000, help="frames for the chunk/compression comparison")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if SHARED.is_dir():
            out = Path(tmp) / "real.h5"
            res, peak = child(build, SHARED, out)
            rows.append(
                (
                    "build ../shared/data (npz, 1 view)",
                    f"{res['seconds']:.1f} s",
                    f"{peak:.0f}",
                    f"{out.stat().st_size / 2**20:.1f} MiB",
                )
            )
        configs = [(256, "none", args.frames)] + [
            (c, z, args.compare_frames) for c, z in ((64, "none"), (16, "lzf"), (64, "lzf"), (256, "lzf"), (64, "gzip"))
        ]
        for chunk, compression, frames in configs:
            path = Path(tmp) / f"big_{chunk}_{compression}.h5"
            res, peak = child(write, path, frames, chunk, compression)
            size = path.stat().st_size / 2**20
            rows.append(
                (
                    f"write {frames:,} frames (chunk {chunk}, {compression})",
                    f"{frames / res['seconds']:,.0f} frames/s",
                    f"{peak:.0f}",
                    f"{size:.0f} MiB",
                )
            )
            res, peak = child(read, path, args.reads)
            rows.append(
                (
                    f"  random single-sample reads, {frames:,} frames",
                    f"{res['per_second']:,.0f} samples/s",
                    f"{peak:.0f}",
                    "",
                )
            )
            path.unlink()
    print_table(("what", "speed", "peak MiB", "file"), rows)


if __name__ == "__main__":
    main()
