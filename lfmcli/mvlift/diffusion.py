"""Diffusion over 2D motion of any rig: the denoiser of MVLift's line-conditioned prior (one view) and of its
multi-view model (several views with cross-view attention), the noise schedule, sampling and score distillation.

Tokens are one per view, frame and joint. Each layer attends over the joints of a frame (the 3D-LFM hybrid layer:
graph attention along the rig's edges beside global self-attention, so no joint identity is needed), over the
frames of a joint, and, with several views, over the views of a joint at a frame. A token's input is its noisy 2D,
optionally the epipolar line it must lie on, and, for a view that is given, its clean 2D. The model predicts the
clean 2D (x0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..models.layers import HybridLayer, TemporalLayer

LINE_FEATURES = 4  # geometry.line_features
COS_OFFSET = 0.008  # the cosine schedule's small offset (Nichol and Dhariwal), keeps the first steps noisy enough


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Signal share of the cosine schedule at diffusion time t in [0, 1] (1 = pure noise)."""

    def f(time):
        return torch.cos((time + COS_OFFSET) / (1 + COS_OFFSET) * math.pi / 2) ** 2

    return (f(t) / f(torch.zeros_like(t))).clamp(1e-5, 1.0)


def add_noise(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    a = alpha_bar(t).reshape(-1, *([1] * (x0.dim() - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _sinusoid(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features (..., dim) of the numbers x (...)."""
    half = dim // 2
    freq = torch.exp(-math.log(1000.0) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angle = x[..., None].float() * freq
    return torch.cat([angle.sin(), angle.cos()], -1)


@dataclass
class Conditions:
    """What a denoiser is told besides the noisy 2D. Shapes: B batch, V views, T frames, J joints."""

    exists: torch.Tensor  # (B, J) bool: joints of the rig (False: padding)
    adjacency: torch.Tensor  # (B, J, J) bool: the rig's graph with self-loops
    frames: torch.Tensor  # (B, T) bool: frames of the clip (False: padding)
    lines: torch.Tensor | None = None  # (B, V, T, J, 3) epipolar lines with unit normals
    has_line: torch.Tensor | None = None  # (B, V, T, J) bool
    given: torch.Tensor | None = None  # (B, V) bool: views given clean (multi-view model)
    clean: torch.Tensor | None = None  # (B, V, T, J, 2) their 2D (anything where not given)

    def to(self, device) -> Conditions:
        return Conditions(**{k: None if v is None else v.to(device) for k, v in self.__dict__.items()})

    def take(self, items: slice) -> Conditions:
        return Conditions(**{k: None if v is None else v[items] for k, v in self.__dict__.items()})


class MotionDenoiser(nn.Module):
    """x0-predicting denoiser of 2D motion in ``views`` views (1: the line-conditioned prior)."""

    def __init__(self, dim: int = 64, heads: int = 4, layers: int = 3, mlp_ratio: int = 2, views: int = 1):
        super().__init__()
        self.views = views
        in_dim = 2 + LINE_FEATURES + 1 + 2 + 1  # noisy xy, line, has line, clean xy, given
        self.embed = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.view_slot = nn.Parameter(torch.zeros(views, dim)) if views > 1 else None
        self.space = nn.ModuleList(HybridLayer(dim, heads, mlp_ratio) for _ in range(layers))
        self.motion = nn.ModuleList(TemporalLayer(dim, heads, mlp_ratio) for _ in range(layers))
        self.across = nn.ModuleList(_CrossView(dim, heads, mlp_ratio) for _ in range(layers)) if views > 1 else None
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2))
        self.dim = dim

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """x_t (B, V, T, J, 2) noisy 2D at diffusion times t (B,) -> predicted clean 2D, same shape."""
        from .geometry import line_features

        B, V, T, J, _ = x_t.shape
        zeros = x_t.new_zeros(B, V, T, J, 1)
        if cond.lines is not None:
            has = cond.has_line[..., None].to(x_t.dtype)
            line = line_features(torch.nan_to_num(cond.lines)) * has
        else:
            has, line = zeros, x_t.new_zeros(B, V, T, J, LINE_FEATURES)
        if cond.given is not None:
            given = cond.given[:, :, None, None, None].expand(B, V, T, J, 1).to(x_t.dtype)
            clean = torch.nan_to_num(cond.clean) * given
        else:
            given, clean = zeros, x_t.new_zeros(B, V, T, J, 2)
        h = self.embed(torch.cat([x_t, line, has, clean, given], -1))
        h = h + self.time(_sinusoid(t * 1000, self.dim))[:, None, None, None]
        h = h + _sinusoid(torch.arange(T, device=x_t.device), self.dim)[None, None, :, None] * 0.1
        if self.view_slot is not None:
            h = h + self.view_slot[None, :V, None, None]
        eye = torch.eye(J, dtype=torch.bool, device=x_t.device)
        keys = cond.exists[:, None, :]
        graph = ((cond.adjacency & keys) | eye)[:, None, None].expand(B, V, T, J, J).reshape(-1, J, J)
        every = (keys | eye)[:, None, None].expand(B, V, T, J, J).reshape(-1, J, J)
        time_keys = cond.frames[:, None, :] | torch.eye(T, dtype=torch.bool, device=x_t.device)
        time_mask = time_keys[:, None, None].expand(B, V, J, T, T).reshape(-1, T, T)
        for k in range(len(self.space)):
            h = self.space[k](h.reshape(-1, J, self.dim), graph, every).reshape(B, V, T, J, self.dim)
            h = h.permute(0, 1, 3, 2, 4).reshape(-1, T, self.dim)
            h = self.motion[k](h, time_mask).reshape(B, V, J, T, self.dim).permute(0, 1, 3, 2, 4)
            if self.across is not None:
                h = h.permute(0, 2, 3, 1, 4).reshape(-1, V, self.dim)
                h = self.across[k](h).reshape(B, T, J, V, self.dim).permute(0, 3, 1, 2, 4)
        return self.out(h)


class _CrossView(nn.Module):
    """Attention over the views of one joint at one frame (pre-norm, residual, starts as the identity)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.layer = TemporalLayer(dim, heads, mlp_ratio)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        V = h.shape[1]
        return self.layer(h, torch.ones(h.shape[0], V, V, dtype=torch.bool, device=h.device))


def denoising_loss(model: MotionDenoiser, x0, weight, cond: Conditions, generator=None) -> torch.Tensor:
    """Mean squared error of the predicted clean 2D where ``weight`` (B, V, T, J) counts, at random times."""
    B = x0.shape[0]
    t = torch.rand(B, generator=generator, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    pred = model(add_noise(x0, t, noise), t, cond)
    err = ((pred - x0) ** 2).sum(-1) * weight
    return err.sum() / weight.sum().clamp(min=1)


@torch.no_grad()
def sample(model: MotionDenoiser, shape, cond: Conditions, steps: int = 50, generator=None, device="cpu"):
    """Deterministic DDIM sampling from noise: clean 2D of ``shape`` (B, V, T, J, 2)."""
    x = torch.randn(shape, generator=generator, device=device)
    times = torch.linspace(1.0, 0.0, steps + 1, device=device)
    for a, b in zip(times[:-1], times[1:], strict=True):
        t = a.expand(shape[0])
        x0 = model(x, t, cond)
        if cond.given is not None:  # the given views are what they are
            x0 = torch.where(cond.given[:, :, None, None, None], torch.nan_to_num(cond.clean), x0)
        ab_a, ab_b = alpha_bar(a), alpha_bar(b)
        eps = (x - ab_a.sqrt() * x0) / (1 - ab_a).sqrt()
        x = ab_b.sqrt() * x0 + (1 - ab_b).sqrt() * eps if b > 0 else x0
    return x


def sds_target(model: MotionDenoiser, x: torch.Tensor, cond: Conditions, t_range=(0.02, 0.98), generator=None):
    """Score distillation: the model's clean estimate of ``x`` noised to a random time (no gradient). Pulling x
    towards it (loss 0.5 |x - target|^2) follows the prior's score at that noise level."""
    with torch.no_grad():
        B = x.shape[0]
        t = t_range[0] + (t_range[1] - t_range[0]) * torch.rand(B, generator=generator, device=x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        return model(add_noise(x.detach(), t, noise), t, cond)
