"""Attention layers over joints (and frames) with masks.

Masks are boolean "may attend" matrices (..., Q, K). Every query may always attend to itself, so no row is empty;
padding and hidden joints are removed as keys, so they never influence the visible ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GraphAttention(nn.Module):
    """Multi-head graph attention (GAT): each joint attends over its rig neighbours (the mask) with scores
    LeakyReLU(a_q . W x_i + a_k . W x_j)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.proj = nn.Linear(dim, dim, bias=False)
        self.a_query = nn.Parameter(torch.randn(heads, self.head_dim) / self.head_dim**0.5)
        self.a_key = nn.Parameter(torch.randn(heads, self.head_dim) / self.head_dim**0.5)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, J, _ = x.shape
        h = self.proj(x).view(B, J, self.heads, self.head_dim)
        q = torch.einsum("bjhd,hd->bhj", h, self.a_query)
        k = torch.einsum("bjhd,hd->bhj", h, self.a_key)
        scores = F.leaky_relu(q[..., :, None] + k[..., None, :], 0.2)  # (B, H, J, J)
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        out = torch.softmax(scores, -1) @ h.transpose(1, 2)  # (B, H, J, d)
        return out.transpose(1, 2).reshape(B, J, -1)


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention under a mask."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
        return out.transpose(1, 2).reshape(B, N, D)


def _mlp(dim: int, ratio: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, ratio * dim), nn.GELU(), nn.Linear(ratio * dim, dim))


class HybridLayer(nn.Module):
    """The 3D-LFM layer: graph attention (local) and self-attention (global) side by side, concatenated and brought
    back to width D by a linear map and added to the input, U = X + W [GA(X); MHSA(X)]; then X' = LN(U) + U and
    X = LN(MLP_GELU(X')) + X'. The paper's U has no "X +": without it a token keeps its own 2D only through
    attention to itself, and the model learns several times slower (benchmarks/train_speed.py notes the runs).
    ``attention`` = "local" or "global" keeps one branch (the ablations)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2, attention: str = "hybrid"):
        super().__init__()
        if attention not in ("hybrid", "local", "global"):
            raise ValueError(f"attention must be hybrid, local or global, not {attention!r}")
        self.local = GraphAttention(dim, heads) if attention in ("hybrid", "local") else None
        self.glob = SelfAttention(dim, heads) if attention in ("hybrid", "global") else None
        self.merge = nn.Linear(dim * (2 if attention == "hybrid" else 1), dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = _mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, graph: torch.Tensor, visible_keys: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.local is not None:
            parts.append(self.local(x, graph))
        if self.glob is not None:
            parts.append(self.glob(x, visible_keys))
        u = x + self.merge(torch.cat(parts, -1))
        x = self.norm1(u) + u
        return self.norm2(self.mlp(x)) + x


class TemporalLayer(nn.Module):
    """Pre-norm transformer layer over time for each joint: self-attention within a window of frames, then MLP.
    Both branches end in a zero-initialised linear map, so a new layer is the identity: a space-time model starts
    as the single-frame model it may be initialised from, and learns what time adds."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2):
        super().__init__()
        self.attn = SelfAttention(dim, heads)
        self.out = nn.Linear(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = _mlp(dim, mlp_ratio)
        for last in (self.out, self.mlp[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = x + self.out(self.attn(self.norm1(x), allowed))
        return x + self.mlp(self.norm2(x))
