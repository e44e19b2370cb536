"""Choosing where torch work runs: ``auto`` takes the GPU when there is one."""

from __future__ import annotations

from .errors import LfmError


def resolve_device(name: str = "auto") -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LfmError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise LfmError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    return name
