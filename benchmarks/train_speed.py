"""Training speed of each model preset: samples/s (frames/s for the space-time model), peak memory and, on a GPU,
model FLOPs utilisation (FLOPs of a training step, counted by torch, per second over the GPU's dense bf16 peak); then
end to end: frames a second that `lfm train` trains on real data, its batches made on the CPU in the training
process (workers 0), by worker processes (workers 2), or on the model's device (``training.batches=device``).

The model columns use random inputs of the sizes the targets name: 32 joints for 3D-LFM, 48 frames x 32 joints for
the space-time model. The end-to-end columns train each preset on DATA (the dataset files given; without any, a small
synthetic one that `lfm build-dataset synthetic` builds) with the data block of --data-config (its augmentations),
windows of 48 frames for the space-time model, at the batch size of the model columns; the figure is the second
epoch's (frames with any visible point, over the epoch's time: batches, steps and the worker start-up of an epoch).
Prints one table. Usage: python benchmarks/train_speed.py [DATA.h5 ...] [--device auto]
[--presets lfm:small,spacetime:tiny] [--steps 20] [--batch 0 (preset default)] [--train-steps 20 (0: none)]
[--data-config configs/default_lfm_gpu.yaml] [--ways cpu:0,cpu:2,device] [--repeats 1 (the best of these)]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder
from torch.utils.flop_counter import FlopCounterMode

from lfmcli.config import MODEL_PRESETS, LossConfig, ModelConfig, RunConfig
from lfmcli.devices import resolve_device
from lfmcli.losses import lifting_loss
from lfmcli.models import build_model
from lfmcli.train import Trainer

DENSE_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # FLOP/s, dense (no sparsity)
BATCH = {"lfm": 4096, "spacetime": 64}


def inputs(kind: str, B: int, device: str, J: int = 32, T: int = 48):
    shape = (B, J) if kind == "lfm" else (B, T, J)
    g = torch.Generator(device="cpu").manual_seed(0)
    pts = (torch.rand(*shape, 2, generator=g) * 1000).to(device)
    vis = (torch.rand(*shape, generator=g) > 0.1).to(device)
    exists = torch.ones(B, J, dtype=torch.bool, device=device)
    adj = (torch.rand(J, J, generator=g) > 0.85).to(device)
    adj = (adj | adj.T | torch.eye(J, dtype=torch.bool, device=device)).expand(B, J, J)
    target = torch.randn(*shape, 3, generator=g).to(device)
    return (pts, vis, exists, adj), target, vis


def step(model, opt, kind, x, target, mask, cuda):
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        pred = model(*x).float()
    loss = lifting_loss(pred, target, mask, LossConfig())  # the trainer's loss with its default settings
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def measure(kind: str, preset: str, device: str, steps: int, batch: int, compile_: bool) -> dict:
    cuda = device.startswith("cuda")
    model = build_model(ModelConfig(kind=kind, **MODEL_PRESETS[kind][preset])).to(device)
    if compile_ and cuda:
        model = torch.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    B = batch or (BATCH[kind] if cuda else {"lfm": 256, "spacetime": 4}[kind])
    x, target, mask = inputs(kind, B, device)
    with FlopCounterMode(display=False) as counter:
        step(model, opt, kind, x, target, mask, cuda)
    flops = counter.get_total_flops()
    for _ in range(3):
        step(model, opt, kind, x, target, mask, cuda)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step(model, opt, kind, x, target, mask, cuda)
    if cuda:
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    frames = B * (1 if kind == "lfm" else 48)
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    name = torch.cuda.get_device_name() if cuda else ""
    peak_flops = next((v for k, v in DENSE_BF16_PEAK.items() if k in name), None)
    return {
        "model": f"{kind}:{preset}",
        "batch": B,
        "items/s": B / dt,
        "frames/s": frames / dt,
        "peak GiB": peak,
        "MFU": (flops / dt / peak_flops) if peak_flops else None,
        "GFLOP/step": flops / 1e9,
    }


def synthetic_data(folder: Path) -> list[str]:
    """A small synthetic dataset (time series of many rigs, with train and val splits), built by the CLI."""
    out = folder / "synthetic.h5"
    command = [sys.executable, "-m", "lfmcli", "build-dataset", "synthetic", "-o", str(out), "--creatures", "12"]
    command += ["--frames", "120", "--views", "2", "--ik-steps", "5", "--split", "0.8,0.2,0.0"]
    subprocess.run(command, check=True, capture_output=True)
    return [str(out)]


class _Trainer(Trainer):
    """`lfm train`'s trainer, its data read once for all the runs of this benchmark."""

    banks: dict = {}

    def _banks(self):
        key = tuple(self.cfg.data.paths)
        if key not in self.banks:
            self.banks[key] = super()._banks()
        return self.banks[key]


def train_pace(
    kind: str, preset: str, data: list[str], data_block: dict, device: str, batch: int, steps: int, way: str, compile_
) -> float:
    """Frames a second of `lfm train`'s second epoch of ``steps`` steps, batches made as ``way`` says (cpu:WORKERS
    or device)."""
    batches, _, workers = way.partition(":")
    sets = {
        "device": device,
        "batch_size": batch,
        "steps_per_epoch": steps,
        "epochs": 2,
        "patience": 10,
        "val_samples": 256,
        "batches": batches,
        "workers": int(workers or 0),
        "compile": compile_,
    }
    cfg = RunConfig.resolve(kind, preset, None, (), data).merged({"data": {**data_block, "window": 48}})
    cfg = cfg.merged({"training": sets})
    with tempfile.TemporaryDirectory() as run:
        reports = _Trainer(cfg, run).fit()
    return reports[-1].samples_per_second


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="*", help="dataset files for the end-to-end columns (default: a synthetic one)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--presets", default="")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--train-steps", type=int, default=20, help="steps per end-to-end epoch (0: no end-to-end columns)")
    ap.add_argument("--data-config", default="configs/default_lfm_gpu.yaml", help="its data block: augmentations")
    ap.add_argument("--ways", default="cpu:0,cpu:2,device", help="where batches are made: cpu:WORKERS or device")
    ap.add_argument("--repeats", type=int, default=1, help="end-to-end runs of each way, in turn: the best counts")
    args = ap.parse_args()
    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    if args.presets:
        chosen = [tuple(p.split(":")) for p in args.presets.split(",")]
    elif cuda:
        chosen = [("lfm", p) for p in MODEL_PRESETS["lfm"]] + [("spacetime", p) for p in MODEL_PRESETS["spacetime"]]
    else:
        chosen = [("lfm", "tiny"), ("lfm", "small"), ("spacetime", "tiny"), ("spacetime", "small")]
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"device: {device} ({where}); 3D-LFM inputs 32 joints; space-time inputs 48 frames x 32 joints; "
        f"{'bf16 autocast' if cuda else 'float32'}"
    )
    rows = [measure(kind, preset, device, args.steps, args.batch, args.compile) for kind, preset in chosen]
    ways = [w for w in args.ways.split(",") if w] if args.train_steps else []
    with tempfile.TemporaryDirectory() as folder:
        data = args.data or (synthetic_data(Path(folder)) if ways else [])
        block = {k: v for k, v in RunConfig.load(args.data_config).to_dict()["data"].items() if k != "paths"}
        if ways:
            print(f"end to end: {', '.join(args.data) or 'a synthetic dataset'}; the data block of {args.data_config}")
        for r in rows:
            kind, preset = r["model"].split(":")
            runs = [
                [
                    train_pace(kind, preset, data, block, device, r["batch"], args.train_steps, w, args.compile)
                    for w in ways
                ]
                for _ in range(args.repeats)
            ]
            r["train"] = np.max(runs, 0) if runs else []
    header = ["model", "batch", "samples/s (windows/s)", "frames/s", "peak memory", "GFLOP/step", "MFU"]
    header += [f"train frames/s {w}" for w in ways]
    table = [
        [
            r["model"],
            str(r["batch"]),
            f"{r['items/s']:,.0f}",
            f"{r['frames/s']:,.0f}",
            f"{r['peak GiB']:.2f} GiB" if cuda else f"{r['peak GiB']:.2f} GiB RSS",
            f"{r['GFLOP/step']:.1f}",
            f"{100 * r['MFU']:.1f}%" if r["MFU"] is not None else "n/a",
            *(f"{v:,.0f}" for v in r["train"]),
        ]
        for r in rows
    ]
    print_table(header, table)


if __name__ == "__main__":
    main()
