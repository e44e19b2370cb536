"""MVLift trained on 2D alone against the flat lift and a lifter trained with 3D (MVLift's Tables 1 and 3).

The data are the real 3D motions of ../shared/data (humans of CMU and Bandai Namco, and dogs), each sequence seen by
one random camera; MVLift reads only their 2D. Its stages are the library calls behind the commands a user runs:

    lfm build-dataset npz ... --views 1          one random camera per sequence
    lfm mvlift prior / views / multiview / distil
    lfm train --model spacetime                  the same clips, with their 3D (the supervised reference)
    lfm adapt --scratch --max-minutes M          fresh weights, the same 2D alone, for as long as MVLift's four
                                                 stages took together (equal CPU time; seconds.json keeps them)
    lfm adapt --checkpoint C --max-minutes M     the same, from a lifter trained with the 3D of every kind of
                                                 ../shared/data but people and dogs (benchmarks/adapt.py's start)

and every model is scored on the held-out test clips (with 3D): t-root (root path error after one similarity per
clip), sa-mpjpe (pose error after one similarity per clip), pa-mpjpe (per frame), pa-mpjpe% (scale-free), j2d and
j2d-centred (reprojection error in the input view, pixels, with and without the path; lfm's lifters, which give a
shape up to rotation, have none). The row
"MVLift stages 2+3" is the optimisation itself (score distillation and epipolar consistency, then the fitted 3D)
run on each test clip; "MVLift full" is the multi-view model's one pass. Prints one table with the time of each
stage (stages already in --out are reused: delete it to train them again). Usage:

python benchmarks/mvlift.py [--out out/mvlift_bench] [--preset cpu|gpu] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder
from adapt import CAMERAS, base_model

from lfmcli.adapt import Adapter, adapt_config
from lfmcli.config import RunConfig
from lfmcli.data.dataset import SampleBank
from lfmcli.data.format import DatasetFile
from lfmcli.eval import evaluate
from lfmcli.metrics import get_metric, in_input_view
from lfmcli.mvlift.config import MVLiftConfig
from lfmcli.mvlift.multiview import train_multiview
from lfmcli.mvlift.prior import train_prior
from lfmcli.mvlift.runs import read_run_config
from lfmcli.mvlift.views import Y_UP, synthesize
from lfmcli.sources import build_dataset
from lfmcli.train import Trainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
METRICS = ("t-root", "sa-mpjpe", "pa-mpjpe", "pa-mpjpe%", "j2d", "j2d-centred")
PRESETS = {  # sized for a session: the 2-core CPU, or one GPU
    "cpu": {
        "mvlift": [
            *("model.dim=32", "model.layers=2", "data.window=16", "prior.batch_size=16", "prior.eval_every=200"),
            *("views.steps=60", "views.batch_size=64", "views.max_clips=256"),
            *("multiview.batch_size=8", "multiview.eval_every=200", "multiview.sample_steps=20"),
        ],
        "prior_steps": 600,
        "multiview_steps": 600,
        "lifter": ("tiny", ["data.window=16", "training.steps_per_epoch=100"]),
        "lifter_minutes": 6,
    },
    "gpu": {
        "mvlift": [
            *("model.dim=128", "model.layers=4", "data.window=32", "prior.batch_size=64"),
            *("views.steps=200", "views.batch_size=256", "views.max_clips=4096"),
            *("multiview.batch_size=32", "multiview.sample_steps=50"),
        ],
        "prior_steps": 6000,
        "multiview_steps": 6000,
        "lifter": ("small", ["data.window=32"]),
        "lifter_minutes": 4,
    },
}
ADAPT_PRESET = "small"  # lfm adapt's fresh model
BASE_STEPS = 600  # the start that never saw people or dogs, as benchmarks/adapt.py's


def adapt_for(data: Path, run: Path, seconds: float, device: str, start: Path | None = None) -> None:
    """`lfm adapt --data data.h5 -o run --max-minutes (seconds / 60)` with `--checkpoint start`, or `--scratch
    --preset ADAPT_PRESET` without: the time is the budget (the learning rate anneals over it), not the steps."""
    budget = {"max_minutes": seconds / 60, "epochs": 1_000_000, "device": device}
    scratch = None if start else ADAPT_PRESET
    cfg = adapt_config(start, scratch, overrides=CAMERAS, paths=[data], training=budget)
    adapter = Adapter(cfg, run)
    adapter.fit()
    print(f"lfm adapt: {adapter.step} steps", flush=True)


def benchmark_data(out: Path) -> Path:
    """The benchmark's clips (built into ``out`` once): every sequence seen by one random camera."""
    data = out / "data.h5"
    if not data.exists():
        out.mkdir(parents=True, exist_ok=True)
        sources = [DATA / "human_cmu", DATA / "human_bandai", DATA / "dog_ai4animation"]
        build_dataset("npz", sources, data, views=1, seed=7)
    return data


def scores(checkpoint: Path, data: Path, device: str) -> dict:
    return evaluate(checkpoint, [data], METRICS, split="test", baseline=True, device=device)


def stage3_scores(views: Path, data: Path, radius: float) -> dict:
    """The 3D that stages 2 and 3 fitted to each test clip (views.h5) against that clip's true 3D."""
    bank = SampleBank([data], "test")
    where = {name: k for k, name in enumerate(bank.view_names)}
    sums, frames = {m: 0.0 for m in METRICS}, 0
    with DatasetFile(views) as f:
        for i in np.flatnonzero(f.sequences["split"] == "test"):
            name, start = f.sequences["name"][i].rsplit("@", 1)
            seq = f.sequence(int(i))
            n = seq.num_frames
            pred = seq.points3d @ Y_UP + [0.0, 0.0, radius]  # the input camera's frame
            batch = bank.windows(np.array([where[name]]), np.array([int(start)]), n)
            target, mask = batch.target.double(), batch.has_3d
            p = torch.as_tensor(pred, dtype=torch.float64)[None]
            for m in METRICS:
                metric = get_metric(m)
                if metric.image:
                    seen = batch.visible & batch.exists[:, None]
                    value = metric.fn(in_input_view(p, True), batch.points2d.double(), seen)
                elif metric.sequence:
                    value = metric.fn(p, target, mask)
                else:
                    value = metric.fn(p[0], target[0], mask[0])
                sums[m] += float(value.mean()) * n
            frames += n
    return {m: s / max(frames, 1) for m, s in sums.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/mvlift_bench"))
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    p, out, dev = PRESETS[args.preset], args.out, args.device
    out.mkdir(parents=True, exist_ok=True)
    data = benchmark_data(out)
    run, times = out / "run", out / "seconds.json"
    seconds = json.loads(times.read_text()) if times.exists() else {}  # of the stages reused from --out

    def timed(name: str, stage: Callable[[], object]) -> None:
        started = time.perf_counter()
        stage()
        seconds[name] = time.perf_counter() - started
        times.write_text(json.dumps(seconds))
        print(f"{name}: {seconds[name]:.0f} s", flush=True)

    def lifter(source: Path, folder: Path) -> None:  # `lfm train --model spacetime`, as `lfm mvlift distil` runs it
        preset, sets = p["lifter"]
        flags = {"max_minutes": p["lifter_minutes"], "device": dev}
        Trainer(RunConfig.resolve("spacetime", preset, None, sets, [source], flags), folder).fit()

    views = run / "views.h5"
    if not (run / "prior.safetensors").exists():
        words = [*p["mvlift"], f"prior.steps={p['prior_steps']}"]
        timed("prior", lambda: train_prior(MVLiftConfig.resolve(None, words, [data], device=dev), run))
    if not views.exists():
        timed("views", lambda: synthesize(run, views))
    if not (run / "multiview.safetensors").exists():
        steps = {"multiview": {"steps": p["multiview_steps"]}}
        timed("multiview", lambda: train_multiview(run, [views], overrides=steps))
    if not (run / "lifter" / "best.safetensors").exists():
        timed("distil", lambda: lifter(views, run / "lifter"))
    supervised = out / "supervised"
    if not (supervised / "best.safetensors").exists():
        timed("supervised", lambda: lifter(data, supervised))
    # lfm adapt for as long as MVLift's stages took: from nothing trained with 3D, and from a lifter trained with the
    # 3D of every other kind (its own training not counted: a user starts from the packaged model)
    mvlift_seconds = sum(seconds.get(k, math.nan) for k in ("prior", "views", "multiview", "distil"))
    if math.isnan(mvlift_seconds):
        raise SystemExit(f"{times} lacks a stage's time: delete {run} to train MVLift's stages again")
    start, _ = base_model(["dog", "human"], out, BASE_STEPS, dev)
    adapted = {"adapt": None, "adapt_unseen": start}
    for name, begin in adapted.items():
        if not (out / name / "best.safetensors").exists():
            timed(name, partial(adapt_for, data, out / name, mvlift_seconds, dev, begin))

    radius = read_run_config(run).data.radius
    full = scores(run / "multiview.safetensors", data, dev)
    rows = {
        "flat lift": full["baseline"]["overall"],
        "MVLift stages 2+3 (optimised per clip)": stage3_scores(views, data, radius),
        "MVLift full (multi-view model)": full["overall"],
        "distilled space-time lifter": scores(run / "lifter" / "best.safetensors", data, dev)["overall"],
        "space-time lifter trained with 3D": scores(supervised / "best.safetensors", data, dev)["overall"],
        "lfm adapt, fresh weights, as long as MVLift": scores(out / "adapt" / "best.safetensors", data, dev)["overall"],
        "lifter trained with 3D of every other kind": scores(start, data, dev)["overall"],
        "lfm adapt from it, as long as MVLift": scores(out / "adapt_unseen" / "best.safetensors", data, dev)["overall"],
    }
    table = [[name, *(f"{r[m]:.4f}" if m in r else "-" for m in METRICS)] for name, r in rows.items()]
    print_table(["test clips (m; pa-mpjpe% scale-free; j2d px)", *METRICS], table)
    names = ("flat lift", "MVLift full (multi-view model)", "space-time lifter trained with 3D")
    flat, mv, sup = (rows[k]["pa-mpjpe"] for k in names)
    print(f"MVLift full: pa-mpjpe {100 * (1 - mv / flat):.0f}% below the flat lift, {mv / sup:.2f}x the 3D-supervised")
    print("stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()) + f"; device {dev}")


if __name__ == "__main__":
    main()
