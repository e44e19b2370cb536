"""Forward kinematics along a rig tree with axis-angle (Rodrigues) joint rotations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3); exact at zero angle."""
    theta = np.linalg.norm(axis_angle, axis=-1, keepdims=True)[..., None]  # (..., 1, 1)
    k = axis_angle / np.where(theta[..., 0] > 1e-12, theta[..., 0], 1.0)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    cross = np.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], axis=-1).reshape(k.shape[:-1] + (3, 3))
    eye = np.broadcast_to(np.eye(3), cross.shape)
    return eye + np.sin(theta) * cross + (1 - np.cos(theta)) * (cross @ cross)


def topological_order(parents: Sequence[int]) -> list[int]:
    """Joint indices ordered so that every parent comes before its children."""
    children: list[list[int]] = [[] for _ in parents]
    roots = []
    for j, p in enumerate(parents):
        (children[p] if p >= 0 else roots).append(j)
    order, stack = [], roots[::-1]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(children[j][::-1])
    return order


def forward_kinematics(
    rotations: np.ndarray, offsets: np.ndarray, parents: Sequence[int], root_positions: np.ndarray
) -> np.ndarray:
    """World joint positions (T, J, 3).

    rotations: (T, J, 3) local axis-angle rotation of each joint (applied to its children's offsets);
    offsets: (J, 3) rest offset of each joint from its parent (the root's is ignored);
    root_positions: (T, 3).
    """
    T, J = rotations.shape[:2]
    local = rodrigues(rotations)
    world_rot = np.empty((T, J, 3, 3))
    pos = np.empty((T, J, 3))
    for j in topological_order(parents):
        p = parents[j]
        if p < 0:
            world_rot[:, j] = local[:, j]
            pos[:, j] = root_positions
        else:
            world_rot[:, j] = world_rot[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + world_rot[:, p] @ offsets[j]
    return pos
