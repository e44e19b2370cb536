"""The virtual cameras of MVLift and their epipolar geometry, in normalised image coordinates (torch, batched).

A 2D clip is normalised once (`normalise_clip`): centred on the mean of its visible points over the whole clip and
divided by its size, so the object is about one unit across and its motion within the clip is kept. The input view
is then camera 0 of a *ring*: cameras at the object's height on a circle of radius ``radius`` (in object sizes)
about the vertical axis through the clip's centre, all looking at it, with focal length ``radius`` and the
principal point at 0, so that a point at the centre's depth keeps its normalised coordinates. The world frame is
camera 0's frame moved to the ring's centre: x right, y down, z away from camera 0. This is the one assumption
that lets 2D alone define other views: a level camera about ``radius`` object sizes away.
"""

from __future__ import annotations

import math

import torch

RADIUS = 4.0  # default camera distance in object sizes: moderate perspective


def ring_cameras(angles_deg, radius: float = RADIUS, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """World-to-camera rotations (V, 3, 3) and translations (V, 3) of cameras at ``angles_deg`` about the vertical
    (y) axis: x_cam = R @ X + t. Angle 0 is the input view."""
    a = torch.as_tensor([math.radians(float(d)) for d in angles_deg], dtype=torch.float64)
    c, s = torch.cos(a), torch.sin(a)
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    R = torch.stack([c, zero, -s, zero, one, zero, s, zero, c], -1).reshape(-1, 3, 3)
    t = torch.stack([zero, zero, radius * one], -1)
    return R.to(dtype), t.to(dtype)


def project(points: torch.Tensor, R: torch.Tensor, t: torch.Tensor, focal: float = RADIUS) -> torch.Tensor:
    """World points (..., N, 3) seen by one camera (R (..., 3, 3), t (..., 3)): normalised 2D (..., N, 2)."""
    cam = points @ R.transpose(-1, -2) + t[..., None, :]
    return focal * cam[..., :2] / cam[..., 2:3]


def fundamental(R_i, t_i, R_j, t_j, focal: float = RADIUS) -> torch.Tensor:
    """F (..., 3, 3) with x_j^T F x_i = 0 for the normalised 2D x_i, x_j (homogeneous) of one world point."""
    R = R_j @ R_i.transpose(-1, -2)
    t = t_j - (R @ t_i[..., None])[..., 0]
    tx = torch.zeros(*t.shape[:-1], 3, 3, dtype=t.dtype, device=t.device)
    tx[..., 0, 1], tx[..., 0, 2], tx[..., 1, 2] = -t[..., 2], t[..., 1], -t[..., 0]
    tx = tx - tx.transpose(-1, -2)
    K_inv = torch.diag(torch.tensor([1 / focal, 1 / focal, 1.0], dtype=t.dtype, device=t.device))
    return K_inv @ (tx @ R) @ K_inv


def epipolar_lines(F: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Lines (..., N, 3) in view j of points (..., N, 2) of view i, scaled so (a, b) is a unit normal: the distance
    of a point (u, v) to its line is a u + b v + c."""
    h = torch.cat([points, torch.ones_like(points[..., :1])], -1)
    lines = h @ F.transpose(-1, -2)
    return lines / lines[..., :2].norm(dim=-1, keepdim=True).clamp(min=1e-12)


def line_distance(lines: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Signed distances (..., N) of points (..., N, 2) to lines (..., N, 3) with unit normals."""
    return (lines[..., :2] * points).sum(-1) + lines[..., 2]


def lines_through(points: torch.Tensor, epipole: torch.Tensor) -> torch.Tensor:
    """The line through each point (..., N, 2) and the epipole (..., 2) (a point of every line), unit normal.
    A point at the epipole gets the horizontal line through it."""
    d = points - epipole[..., None, :]
    n = torch.stack([-d[..., 1], d[..., 0]], -1)
    length = n.norm(dim=-1, keepdim=True)
    n = torch.where(length > 1e-9, n / length.clamp(min=1e-9), torch.tensor([0.0, 1.0], dtype=n.dtype))
    return torch.cat([n, -(n * points).sum(-1, keepdim=True)], -1)


def epipole(R_i, t_i, R_j, t_j, focal: float = RADIUS) -> torch.Tensor:
    """Where camera i's centre appears in view j, homogeneous (..., 3) (last coordinate 0: at infinity)."""
    centre_i = -(R_i.transpose(-1, -2) @ t_i[..., None])[..., 0]
    cam = (R_j @ centre_i[..., None])[..., 0] + t_j
    return torch.stack([focal * cam[..., 0], focal * cam[..., 1], cam[..., 2]], -1)


def line_features(lines: torch.Tensor) -> torch.Tensor:
    """A line (..., 3) as four numbers that do not depend on the sign of its normal: the point of the line nearest
    the origin, and the doubled angle of its direction (cos 2phi, sin 2phi)."""
    n, c = lines[..., :2], lines[..., 2:3]
    foot = -c * n
    a, b = n[..., 0], n[..., 1]
    return torch.cat([foot, torch.stack([a * a - b * b, 2 * a * b], -1)], -1)


def triangulate(
    points: torch.Tensor,
    weights: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    focal: float = RADIUS,
    exact_first: bool = False,
):
    """World points (..., N, 3) from their normalised 2D in V views, points (..., V, N, 2) with weights
    (..., V, N) (0 = not seen), by weighted linear least squares (DLT). Needs two views with weight per point.
    ``exact_first``: a point seen in view 0 (the observed input, where the others are generated) stays on its ray
    of view 0 exactly, and only its depth along that ray is solved for from the other views."""
    P = torch.cat([R, t[..., None]], -1)  # (V, 3, 4), K applied to the points instead
    x = points / focal
    rows = torch.stack([x[..., 0:1] * P[:, None, 2] - P[:, None, 0], x[..., 1:2] * P[:, None, 2] - P[:, None, 1]], -2)
    rows = rows * weights[..., None, None]  # (..., V, N, 2, 4)
    A = rows.movedim(-4, -3).reshape(*rows.shape[:-4], rows.shape[-3], -1, 4)  # (..., N, 2V, 4)
    # solve A [X; 1] = 0 as least squares in X
    X = torch.linalg.lstsq(A[..., :3], -A[..., 3:]).solution[..., 0]
    if not exact_first:
        return X
    # X = C + d * ray: the other views' rows, A (C + d ray) + a = 0, are least squares in the one number d
    centre = -(R[0].transpose(-1, -2) @ t[0][..., None])[..., 0]
    ray = torch.cat([x[..., 0, :, :], torch.ones_like(x[..., 0, :, :1])], -1) @ R[0]  # (..., N, 3)
    others = A[..., 2:, :]
    slope = (others[..., :3] @ ray[..., None])[..., 0]
    offset = others[..., :3] @ centre + others[..., 3]
    depth = -(slope * offset).sum(-1) / (slope**2).sum(-1).clamp(min=torch.finfo(X.dtype).tiny)
    on_ray = centre + depth[..., None] * ray
    return torch.where(weights[..., 0, :, None] > 0, on_ray, X)


def normalise_clip(points: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clips (B, T, J, 2) in pixels -> normalised clips (hidden points 0), their centres (B, 2) and sizes (B,).
    The size is the mean over frames of each frame's larger side of its visible points' bounding box."""
    vis = visible[..., None]
    w = vis.to(points.dtype)
    pts = torch.nan_to_num(points)
    centre = (pts * w).sum((1, 2)) / w.sum((1, 2)).clamp(min=1)
    big = torch.finfo(points.dtype).max
    hi = torch.where(vis, pts, -big).amax(2)
    lo = torch.where(vis, pts, big).amin(2)
    seen = visible.any(-1)
    side = torch.where(seen, (hi - lo).amax(-1), torch.zeros_like(hi[..., 0]))
    size = (side.sum(1) / seen.sum(1).clamp(min=1)).clamp(min=1e-6)
    out = (pts - centre[:, None, None]) / size[:, None, None, None] * w
    return out, centre, size
