"""Package a trained checkpoint as a default model (used by examples/build_default_model.sh)."""

import argparse
import platform

import torch

from ..checkpoint import load_checkpoint, save_checkpoint

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("source")
ap.add_argument("target")
ap.add_argument("--minutes", type=float, required=True, help="wall time of the whole recipe so far")
ap.add_argument("--recipe", default="make default-model", help="how it was trained: the commands, or where they are")
ap.add_argument("--hardware", help="where it was trained, when packaged elsewhere (default: this machine)")
args = ap.parse_args()
ckpt = load_checkpoint(args.source)
hardware = args.hardware or (
    torch.cuda.get_device_name()
    if torch.cuda.is_available()
    else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
)
ckpt.info.update(hardware=hardware, recipe_minutes=args.minutes, recipe=args.recipe)
save_checkpoint(args.target, ckpt.model, ckpt.config, ckpt.info, half=True)  # packaged: small files
print(f"packaged {args.source} as {args.target}")
