"""Training speed of each model preset: samples/s (frames/s for the space-time model), peak memory and, on a GPU,
model FLOPs utilisation (FLOPs of a training step, counted by torch, per second over the GPU's dense bf16 peak).

Random inputs of the sizes the targets name: 32 joints for 3D-LFM, 48 frames x 29 joints for the space-time model.
Prints one table. Usage: python benchmarks/train_speed.py [--device auto] [--presets lfm:small,spacetime:tiny]
[--steps 20] [--batch 0 (preset default)]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from _table import print_table  # benchmarks/ is the script folder
from torch.utils.flop_counter import FlopCounterMode

from lfmcli.config import MODEL_PRESETS, LossConfig, ModelConfig
from lfmcli.devices import resolve_device
from lfmcli.losses import lifting_loss
from lfmcli.models import build_model

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--presets", default="")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--compile", action="store_true")
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
    header = ["model", "batch", "samples/s (windows/s)", "frames/s", "peak memory", "GFLOP/step", "MFU"]
    table = [
        [
            r["model"],
            str(r["batch"]),
            f"{r['items/s']:,.0f}",
            f"{r['frames/s']:,.0f}",
            f"{r['peak GiB']:.2f} GiB" if cuda else f"{r['peak GiB']:.2f} GiB RSS",
            f"{r['GFLOP/step']:.1f}",
            f"{100 * r['MFU']:.1f}%" if r["MFU"] is not None else "n/a",
        ]
        for r in rows
    ]
    print_table(header, table)


if __name__ == "__main__":
    main()
