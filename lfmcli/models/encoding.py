"""Per-point input encodings. Neither uses joint identity, so the models stay permutation-equivariant."""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierFeatures(nn.Module):
    """Frozen random Fourier features ("token positional encoding" of 3D-LFM):
    sqrt(2/D) [sin(x W + b); cos(x W + b)] with W ~ N(0, sigma^2) and b ~ U(0, 2 pi), fixed at construction.
    ``sigma`` may give one scale per input coordinate."""

    def __init__(self, in_dim: int, dim: int, sigma: float | list[float] = 1.0, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        scale = torch.as_tensor(sigma, dtype=torch.float32).expand(in_dim)[:, None]
        self.register_buffer("W", torch.randn(in_dim, dim // 2, generator=g) * scale)
        self.register_buffer("b", torch.rand(dim // 2, generator=g) * 2 * math.pi)
        self.scale = math.sqrt(2.0 / dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = x @ self.W + self.b
        return self.scale * torch.cat([torch.sin(proj), torch.cos(proj)], -1)


class MLPEmbedding(nn.Module):
    """Learned point embedding (the ablation baseline of 3D-LFM)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
