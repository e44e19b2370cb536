"""Lifting 2D keypoints to 3D with a checkpoint (`lfm lift`).

The single-frame model lifts every frame of every individual on its own; the space-time model lifts each
individual's frames in windows of its training length that overlap by half and are blended with triangular
weights. The result is a canonical 3D shape per frame: defined up to rotation, scale and translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .io.readers import Keypoints2D


@dataclass
class Lifted:
    position: np.ndarray  # (T, I, J, 3) float32, NaN where the input joint was missing
    visible: np.ndarray  # (T, I, J) bool: the 2D points the model used
    empty_frames: int = 0  # frames (per individual) with no usable 2D point: output NaN
    notes: list[str] = field(default_factory=list)


def lift_keypoints(
    kp: Keypoints2D,
    model: torch.nn.Module,
    kind: str,
    window: int = 48,
    min_confidence: float = 0.0,
    device: str = "cpu",
    batch_frames: int = 4096,
) -> Lifted:
    T, I, J = kp.shape
    visible = np.isfinite(kp.points).all(-1) & ~(kp.confidence < min_confidence)
    adjacency = torch.as_tensor(kp.rig.adjacency() if kp.rig is not None else np.eye(J, dtype=bool), device=device)
    out = np.full((T, I, J, 3), np.nan, np.float32)
    with torch.no_grad():
        if kind == "spacetime":
            for i in range(I):
                out[:, i] = _lift_windows(model, kp.points[:, i], visible[:, i], adjacency, window, device)
        else:
            frames = kp.points.reshape(T * I, J, 2)
            seen = visible.reshape(T * I, J)
            flat = out.reshape(T * I, J, 3)
            for a in range(0, T * I, batch_frames):
                b = min(a + batch_frames, T * I)
                pts = torch.as_tensor(np.nan_to_num(frames[a:b]), device=device)
                vis = torch.as_tensor(seen[a:b], device=device)
                exists = torch.ones_like(vis)
                flat[a:b] = model(pts, vis, exists, adjacency.expand(b - a, J, J)).float().cpu().numpy()
    empty = ~visible.any(-1)  # (T, I)
    out[~visible] = np.nan  # only joints that were seen get a position
    out[empty] = np.nan
    notes = [] if kp.rig is not None else ["no rig is known for these joints: the model attended without graph edges"]
    return Lifted(position=out, visible=visible, empty_frames=int(empty.sum()), notes=notes)


def _lift_windows(model, points: np.ndarray, visible: np.ndarray, adjacency, window: int, device) -> np.ndarray:
    """(T, J, 2) -> (T, J, 3) through overlapping windows blended with triangular weights."""
    T, J, _ = points.shape
    W = min(window, T)
    starts = list(range(0, max(T - W, 0) + 1, max(W // 2, 1)))
    if starts[-1] + W < T:
        starts.append(T - W)
    total = np.zeros((T, J, 3))
    weight = np.zeros((T, 1, 1))
    ramp = np.minimum(np.arange(1, W + 1), np.arange(W, 0, -1)).astype(float)[:, None, None]
    batch = torch.as_tensor(np.stack([np.nan_to_num(points[s : s + W]) for s in starts]), device=device)
    vis = torch.as_tensor(np.stack([visible[s : s + W] for s in starts]), device=device)
    exists = torch.ones(len(starts), J, dtype=torch.bool, device=device)
    pred = model(batch, vis, exists, adjacency.expand(len(starts), J, J)).float().cpu().numpy()
    for k, s in enumerate(starts):
        total[s : s + W] += pred[k] * ramp
        weight[s : s + W] += ramp
    return (total / weight).astype(np.float32)
