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
    rotations: np.ndarray,
    offsets: np.ndarray,
    parents: Sequence[int],
    root_positions: np.ndarray,
    return_rotations: bool = False,
):
    """World joint positions (T, J, 3), and with ``return_rotations`` also world rotations (T, J, 3, 3).

    rotations: (T, J, 3) local axis-angle rotation of each joint (applied to its children's offsets);
    offsets: (J, 3) or (T, J, 3) rest offset of each joint from its parent (the root's is ignored);
    root_positions: (T, 3).
    """
    T, J = rotations.shape[:2]
    offsets = np.broadcast_to(offsets, (T, J, 3))
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
            pos[:, j] = pos[:, p] + (world_rot[:, p] @ offsets[:, j, :, None])[..., 0]
    return (pos, world_rot) if return_rotations else pos


def depth_levels(parents: Sequence[int]) -> list[np.ndarray]:
    """Joints grouped by depth in the tree (the root's level first): each level can be posed at once."""
    depth = [0] * len(parents)
    for j in topological_order(parents):
        depth[j] = depth[parents[j]] + 1 if parents[j] >= 0 else 0
    return [np.flatnonzero(np.array(depth) == d) for d in range(max(depth) + 1)]


def bone_offsets(points: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """(..., J, 3) offset of each joint from its parent (zero for the root)."""
    offsets = np.zeros_like(points)
    for j, p in enumerate(parents):
        if p >= 0:
            offsets[..., j, :] = points[..., j, :] - points[..., p, :]
    return offsets


def _align_rotations(rest: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) taking rest vectors (T, C, 3) onto target vectors (T, C, 3) in the least-squares sense;
    for one vector, the smallest such rotation."""
    if rest.shape[1] == 1:
        a = rest[:, 0] / np.maximum(np.linalg.norm(rest[:, 0], axis=-1, keepdims=True), 1e-12)
        b = target[:, 0] / np.maximum(np.linalg.norm(target[:, 0], axis=-1, keepdims=True), 1e-12)
        axis = np.cross(a, b)
        sin = np.linalg.norm(axis, axis=-1, keepdims=True)
        angle = np.arctan2(sin, (a * b).sum(-1, keepdims=True))
        return rodrigues(axis / np.maximum(sin, 1e-12) * angle)
    u, _, vt = np.linalg.svd(np.swapaxes(target, 1, 2) @ rest)  # Kabsch: sum_c b_c a_c^T
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    return (u * fix[:, None, :]) @ vt


def initial_rotations(points: np.ndarray, rest_offsets: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Local axis-angle rotations (T, J, 3) that point each joint's bones along the observed ones (an IK start)."""
    from scipy.spatial.transform import Rotation

    T, J = points.shape[:2]
    children: list[list[int]] = [[] for _ in range(J)]
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    world = np.empty((T, J, 3, 3))
    local = np.zeros((T, J, 3))
    for j in topological_order(parents):
        p = parents[j]
        if children[j]:
            rest = np.stack([rest_offsets[:, c] for c in children[j]], 1)
            seen = np.stack([points[:, c] - points[:, j] for c in children[j]], 1)
            world[:, j] = _align_rotations(rest, seen)
        else:
            world[:, j] = world[:, p] if p >= 0 else np.eye(3)
        rel = world[:, j] if p < 0 else np.swapaxes(world[:, p], 1, 2) @ world[:, j]
        local[:, j] = Rotation.from_matrix(rel).as_rotvec()
    return local


def refine_bone_lengths(
    markers: np.ndarray,
    parents: Sequence[int],
    sequence_starts: Sequence[int],
    smooth_weight: float = 0.1,
    steps: int = 100,
    lr: float = 0.02,
    device: str = "cpu",
    progress=None,
    rest_frames: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Fit a constant-bone-length skeleton to marker joints by inverse kinematics.

    markers: (T, J, 3) frames of several sequences stacked (sequence i starts at row ``sequence_starts[i]``).
    Each sequence keeps the bone lengths (and rest directions) of its first frame, or of its row of
    ``rest_frames`` (S, J, 3) where given; per-frame local axis-angle
    rotations and root positions are optimised with Adam against the markers, plus ``smooth_weight`` times the
    squared acceleration of the joints within each sequence. All frames are optimised together in one batch.
    Returns the refined positions (T, J, 3) and per-sequence errors before and after (RMS joint distance).
    """
    import torch

    T, J = markers.shape[:2]
    starts = np.asarray(list(sequence_starts) + [T])
    seq_of_frame = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    rest_pose = markers[starts[:-1]] if rest_frames is None else rest_frames
    rest = bone_offsets(rest_pose, parents)[seq_of_frame]  # (T, J, 3): the rest frame of each sequence
    rot0 = initial_rotations(markers, rest, parents)
    root = int(list(parents).index(-1))
    scale = float(np.linalg.norm(rest, axis=-1).mean()) or 1.0

    dev = torch.device(device)
    target = torch.as_tensor(markers, dtype=torch.float32, device=dev)
    offsets = torch.as_tensor(rest, dtype=torch.float32, device=dev)
    rot = torch.nn.Parameter(torch.as_tensor(rot0, dtype=torch.float32, device=dev))
    shift = torch.nn.Parameter(torch.zeros(T, 3, device=dev))  # root position = marker root + scale * shift
    root_init = target[:, root]
    # second differences only where three consecutive frames belong to one sequence
    inner = torch.as_tensor((seq_of_frame[:-2] == seq_of_frame[2:]), device=dev)
    levels = [torch.as_tensor(level, device=dev) for level in depth_levels(parents)]
    parent_of = torch.as_tensor([max(p, 0) for p in parents], device=dev)

    def positions() -> torch.Tensor:
        # one batched step per tree depth instead of one per joint
        local = rodrigues_torch(rot)
        world = torch.zeros(T, J, 3, 3, device=dev)
        pos = torch.zeros(T, J, 3, device=dev)
        world = world.index_copy(1, levels[0], local[:, levels[0]])
        pos = pos.index_copy(1, levels[0], (root_init + scale * shift)[:, None].expand(-1, len(levels[0]), -1))
        for level in levels[1:]:
            pw = world[:, parent_of[level]]
            world = world.index_copy(1, level, pw @ local[:, level])
            pos = pos.index_copy(1, level, pos[:, parent_of[level]] + (pw @ offsets[:, level, :, None])[..., 0])
        return pos

    def errors(pos: torch.Tensor) -> np.ndarray:
        d = ((pos - target) ** 2).sum(-1).mean(-1).detach().cpu().numpy()
        return np.array([np.sqrt(d[a:b].mean()) for a, b in zip(starts[:-1], starts[1:], strict=True)])

    with torch.no_grad():
        before = errors(positions())
    opt = torch.optim.Adam([rot, shift], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        pos = positions()
        fit = ((pos - target) ** 2).sum(-1).mean() / scale**2
        acc = pos[2:] - 2 * pos[1:-1] + pos[:-2]
        smooth = (((acc**2).sum(-1).mean(-1)) * inner).sum() / inner.sum().clamp(min=1) / scale**2
        (fit + smooth_weight * smooth).backward()
        opt.step()
        if progress:
            progress()
    with torch.no_grad():
        pos = positions()
    return pos.cpu().numpy(), {"rms_before": before, "rms_after": errors(pos)}


def rodrigues_torch(axis_angle):
    """Differentiable rotation matrices (..., 3, 3) from axis-angle (..., 3), safe at zero angle."""
    import torch

    theta = torch.sqrt((axis_angle**2).sum(-1, keepdim=True) + 1e-16)
    k = axis_angle / theta
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    cross = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).reshape(k.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(cross)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return eye + s * cross + (1 - c) * (cross @ cross)
