"""3D-LFM (Dabhi et al. 2023) and the space-time lifting model (Fusco et al. 2024).

Both take 2D keypoints with masks and an adjacency, and return a canonical 3D shape per joint (defined up to a
similarity transform; training aligns it to the ground truth by Procrustes). Unless ``model.identity`` names rigs, no
joint identity is used anywhere: permuting the joints (and the adjacency with them) permutes the output. A rig it
names gets a learned embedding per joint, added to the joint's token wherever an item has exactly that rig's graph.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .encoding import FourierFeatures, MLPEmbedding
from .layers import HybridLayer, TemporalLayer


def _centred(points2d: torch.Tensor, seen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """2D (..., N, 2) about the mean of its seen points (hidden points 0), that mean (..., 1, 2), and the largest
    coordinate of the seen points about it (...,)."""
    w = seen[..., None].to(points2d.dtype)
    p = torch.nan_to_num(points2d)
    mean = (w * p).sum(-2, keepdim=True) / w.sum(-2, keepdim=True).clamp(min=1)
    centred = (p - mean) * w
    return centred, mean, centred.abs().amax((-2, -1)).clamp(min=1e-6)


def image_frame(points2d: torch.Tensor, seen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame in which the models normalise 2D (..., N, 2): the mean of the seen points (..., 1, 2) and the
    largest coordinate of those points about it (...,), in the 2D's units (pixels)."""
    return _centred(points2d, seen)[1:]


def normalize_2d(points: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Centre on the mean of the visible points and scale into [-1, 1] keeping the aspect ratio; hidden points
    become 0. The statistics run over every axis but the last two, per item of the first dimension."""
    B = points.shape[0]
    centred, _, scale = _centred(points.reshape(B, -1, 2), visible.reshape(B, -1))
    return (centred / scale[:, None, None]).reshape(points.shape)


def flat_lift(points2d: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """The z = 0 baseline every model must beat: the normalised 2D of each frame with zero depth."""
    B = points2d.shape[0]
    frames = points2d.reshape(-1, *points2d.shape[-2:])
    xy = normalize_2d(frames, visible.reshape(frames.shape[:-1]))
    return torch.cat([xy, torch.zeros_like(xy[..., :1])], -1).reshape(B, *points2d.shape[1:-1], 3)


def _masks(visible: torch.Tensor, exists: torch.Tensor, adjacency: torch.Tensor):
    """(graph, global) "may attend" masks (B, J, J): keys must be visible, queries always see themselves."""
    J = visible.shape[-1]
    eye = torch.eye(J, dtype=torch.bool, device=visible.device)
    keys = (visible & exists)[:, None, :]
    return (adjacency & keys) | eye, keys | eye


class _Base(nn.Module):
    def __init__(self, cfg: ModelConfig, in_dim: int):
        super().__init__()
        self.cfg = cfg
        if cfg.encoding == "fourier":
            # x and y draw the same frequencies in both models (same seed), so a space-time model can start from a
            # single-frame one (training.init)
            sigmas = [cfg.sigma, cfg.sigma, cfg.time_sigma][:in_dim]
            self.encode = FourierFeatures(in_dim, cfg.dim, sigmas, cfg.seed)
            self.lift_in = nn.Linear(cfg.dim, cfg.dim)
        elif cfg.encoding == "mlp":
            self.encode, self.lift_in = MLPEmbedding(in_dim, cfg.dim), nn.Identity()
        else:  # ModelConfig checks the choices
            raise AssertionError(cfg.encoding)
        self.hidden_token = nn.Parameter(torch.zeros(cfg.dim))  # stands in for a joint whose 2D is missing
        if cfg.identity:  # zero at first: the model starts as it would be without
            sizes = list(cfg.identity.values())
            self.identity = nn.Parameter(torch.zeros(len(sizes), max(sizes), cfg.dim))
            # each rig's graph, by which an item is known as that rig (set by `know_rigs`; all False: never)
            self.register_buffer("identity_graph", torch.zeros(len(sizes), max(sizes), max(sizes), dtype=torch.bool))
        self.space = nn.ModuleList(
            HybridLayer(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.attention) for _ in range(cfg.layers)
        )
        self.decode = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, 3))
        if cfg.output != "shape":  # an untrained model is the flat lift
            nn.init.zeros_(self.decode[-1].weight)
            nn.init.zeros_(self.decode[-1].bias)

    @property
    def image_view(self) -> str | None:
        """How the output is seen from the input camera: a depth model keeps the image's axes (so j2d applies)."""
        return "orthographic" if self.cfg.output == "depth" else None

    def shape(self, x: torch.Tensor, xy: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """The 3D of each joint from its final token and its normalised 2D (0 where hidden)."""
        out = self.decode(x)
        if self.cfg.output == "shape":
            return out
        lifted = out + torch.cat([xy, torch.zeros_like(xy[..., :1])], -1)
        if self.cfg.output == "residual":
            return lifted
        # depth: a seen joint keeps its 2D; a hidden one gets all three coordinates from its token
        return torch.where(visible[..., None], torch.cat([xy, out[..., 2:]], -1), lifted)

    def tokens(self, features: torch.Tensor, visible: torch.Tensor, exists, adjacency) -> torch.Tensor:
        x = self.lift_in(self.encode(features))
        return self.identify(torch.where(visible[..., None], x, self.hidden_token.to(x.dtype)), exists, adjacency)

    def know_rigs(self, adjacency: dict) -> None:
        """Record the graphs (name -> (J, J) bool adjacency) of the rigs of model.identity. A rig without edges is
        left out: its graph would not tell it from another of as many joints."""
        for r, (name, size) in enumerate(self.cfg.identity.items()):
            graph = torch.as_tensor(adjacency[name]) if name in adjacency else None
            if graph is not None and graph.shape == (size, size) and (graph & ~torch.eye(size, dtype=torch.bool)).any():
                self.identity_graph[r] = False
                self.identity_graph[r, :size, :size] = graph

    def identify(self, x: torch.Tensor, exists: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Tokens (B, J, D) or (B, T, J, D) plus each joint's identity where the item's joints and graph are those
        of a rig of model.identity."""
        if not self.cfg.identity:
            return x
        B, J = exists.shape
        count = exists.sum(-1)
        for r, size in enumerate(self.cfg.identity.values()):
            if size > J:
                continue
            same = (count == size) & (adjacency[:, :size, :size] == self.identity_graph[r, :size, :size]).flatten(
                1
            ).all(-1)
            if same.any():
                own = nn.functional.pad(self.identity[r, :size], (0, 0, 0, J - size)).to(x.dtype)
                x = x + same.view(B, *[1] * (x.dim() - 1)).to(x.dtype) * own
        return x


class LFM(_Base):
    """Single-frame lifting: points2d (B, J, 2), visible (B, J), exists (B, J), adjacency (B, J, J) -> (B, J, 3)."""

    temporal = False

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg, in_dim=2)

    def lift_clips(self, points2d, visible, exists, adjacency):
        """Clips of frames, (B, T, J, 2) with visible (B, T, J) -> (B, T, J, 3), each frame lifted on its own."""
        B, T, J, _ = points2d.shape
        pred = self(
            points2d.reshape(B * T, J, 2),
            visible.reshape(B * T, J),
            exists.repeat_interleave(T, 0),
            adjacency.repeat_interleave(T, 0),
        )
        return pred.reshape(B, T, J, 3)

    def forward(self, points2d, visible, exists, adjacency):
        visible = visible & exists
        xy = normalize_2d(points2d, visible)
        x = self.tokens(xy, visible, exists, adjacency)
        graph, glob = _masks(visible, exists, adjacency)
        for layer in self.space:
            x = layer(x, graph, glob)
        return self.shape(x, xy, visible)


class SpaceTimeLFM(_Base):
    """Space-time lifting: points2d (B, T, J, 2), visible (B, T, J), exists (B, J), adjacency (B, J, J) ->
    (B, T, J, 3). Features of (x, y, t), the 2D normalised per frame as the single-frame model does (the pose, not
    the path across the image); temporal self-attention per joint within +-window frames; then the hybrid space
    layers per frame; then the decoder."""

    temporal = True

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg, in_dim=3)
        self.motion = nn.ModuleList(TemporalLayer(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.motion_layers))

    def lift_clips(self, points2d, visible, exists, adjacency):
        """Clips of frames, (B, T, J, 2) with visible (B, T, J) -> (B, T, J, 3), each clip lifted as a whole."""
        return self(points2d, visible, exists, adjacency)

    def forward(self, points2d, visible, exists, adjacency):
        B, T, J, _ = points2d.shape
        visible = visible & exists[:, None]
        xy = normalize_2d(points2d.reshape(B * T, J, 2), visible.reshape(B * T, J)).reshape(B, T, J, 2)
        t = torch.linspace(-1, 1, T, device=xy.device, dtype=xy.dtype) if T > 1 else xy.new_zeros(1)
        feats = torch.cat([xy, t[None, :, None, None].expand(B, T, J, 1)], -1)
        x = self.tokens(feats, visible, exists, adjacency)  # (B, T, J, D)
        # a single frame has no motion: it is lifted by the space layers alone, as the single-frame model the
        # temporal layers were trained on top of would lift it (they never saw a clip of one frame)
        if self.motion and T > 1:
            frames = torch.arange(T, device=xy.device)
            band = (frames[:, None] - frames[None, :]).abs() <= self.cfg.window
            seen = visible.permute(0, 2, 1).reshape(B * J, 1, T)
            allowed = (band[None] & seen) | torch.eye(T, dtype=torch.bool, device=xy.device)
            x = x.permute(0, 2, 1, 3).reshape(B * J, T, -1)
            for layer in self.motion:
                x = layer(x, allowed)
            x = x.reshape(B, J, T, -1).permute(0, 2, 1, 3)
        graph, glob = _masks(
            visible.reshape(B * T, J), exists.repeat_interleave(T, 0), adjacency.repeat_interleave(T, 0)
        )
        x = x.reshape(B * T, J, -1)
        for layer in self.space:
            x = layer(x, graph, glob)
        return self.shape(x, xy.reshape(B * T, J, 2), visible.reshape(B * T, J)).reshape(B, T, J, 3)


MODELS = {"lfm": LFM, "spacetime": SpaceTimeLFM}  # kind -> class; MODEL_PRESETS has the same keys


def build_model(cfg: ModelConfig) -> LFM | SpaceTimeLFM:
    if cfg.kind not in MODELS:
        raise ValueError(f"model kind must be {' or '.join(MODELS)}, not {cfg.kind!r}")
    return MODELS[cfg.kind](cfg)
