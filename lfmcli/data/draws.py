"""Random numbers for making training batches, as tensors on the device the batch is made on.

Every augmentation draws through `Draws`, so one implementation serves both places a batch is made: on the CPU
(from a numpy Generator: the trainer saves its state for a resume, and each worker process has its own) and on the
model's device (from a torch Generator there, seeded afresh each epoch).
"""

from __future__ import annotations

import numpy as np
import torch


class Draws:
    """Uniform and normal draws from ``source`` (a numpy or torch Generator), returned on ``device`` (a torch
    Generator's own device; the CPU for a numpy one unless given)."""

    def __init__(self, source: np.random.Generator | torch.Generator, device: str | torch.device | None = None):
        self.source = source
        self.numpy = isinstance(source, np.random.Generator)
        if not self.numpy and not isinstance(source, torch.Generator):
            raise TypeError(f"draws come from a numpy or torch Generator, not {type(source).__name__}")
        self.device = torch.device(device or "cpu") if self.numpy else source.device

    def random(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform in [0, 1)."""
        if self.numpy:
            u = torch.from_numpy(self.source.random(shape)).to(self.device, dtype)
            return u.clamp_(max=1 - torch.finfo(dtype).eps / 2)  # float64 just below 1 rounds up to 1 in float32
        return torch.rand(shape, generator=self.source, device=self.device, dtype=dtype)

    def uniform(self, low, high, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform in [low, high) (numbers, or tensors that broadcast to ``shape``)."""
        low, high = (v if isinstance(v, torch.Tensor) else float(v) for v in (low, high))  # numpy scalars too
        return low + (high - low) * self.random(*shape, dtype=dtype)

    def normal(self, *shape: int) -> torch.Tensor:
        if self.numpy:
            return torch.from_numpy(self.source.standard_normal(shape)).to(self.device, torch.float32)
        return torch.randn(shape, generator=self.source, device=self.device)


def draws(source: Draws | np.random.Generator | torch.Generator, device: str | torch.device | None = None) -> Draws:
    """``source`` as `Draws` (a Generator of either kind, or `Draws` already); a numpy Generator's draws are put on
    ``device``."""
    if isinstance(source, Draws):
        return source
    return Draws(source, device if isinstance(source, np.random.Generator) else None)
