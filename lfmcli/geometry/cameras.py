"""Pinhole cameras in the OpenCV convention: x right, y down, z forward; ``x_cam = R @ X + t``, ``uv ~ K @ x_cam``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UP_VECTORS = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


@dataclass(frozen=True)
class Camera:
    K: np.ndarray  # (3, 3) intrinsics
    R: np.ndarray  # (3, 3) world-to-camera rotation
    t: np.ndarray  # (3,) world-to-camera translation
    image_size: tuple[int, int]  # (width, height) in pixels

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to camera coordinates (..., 3)."""
        return points @ self.R.T + self.t

    def project(self, points: np.ndarray, projection: str = "perspective") -> np.ndarray:
        """World points (..., J, 3) to pixels (..., J, 2); NaN in, NaN out. ``projection="weak"`` divides every
        point of a frame by the frame's mean depth instead of its own."""
        cam = self.to_camera(points)
        if projection == "weak":
            return project_weak(cam, self.K)
        if projection != "perspective":
            raise ValueError(f"unknown projection {projection!r}")
        return project(cam, self.K)

    def in_image(self, uv: np.ndarray) -> np.ndarray:
        w, h = self.image_size
        return (uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)


def intrinsics(focal: float, image_size: tuple[int, int]) -> np.ndarray:
    """K for square pixels with the principal point at the image centre."""
    w, h = image_size
    return np.array([[focal, 0.0, w / 2.0], [0.0, focal, h / 2.0], [0.0, 0.0, 1.0]])


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Perspective projection of camera-frame points (..., 3) to pixels (..., 2)."""
    z = points_cam[..., 2:3]
    return (points_cam[..., :2] / z) @ K[:2, :2].T + K[:2, 2]


def project_weak(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Weak perspective: the points (..., J, 3) of each frame share that frame's mean depth."""
    z = np.nanmean(points_cam[..., 2:3], axis=-2, keepdims=True)
    return (points_cam[..., :2] / z) @ K[:2, :2].T + K[:2, 2]


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R, t of a camera at ``eye`` looking at ``target`` with world ``up`` pointing up in the image."""
    z = np.asarray(target, float) - np.asarray(eye, float)
    z /= np.linalg.norm(z)
    up = np.asarray(up, float)
    y = -(up - (up @ z) * z)
    norm = np.linalg.norm(y)
    if norm < 1e-8:
        raise ValueError("the viewing direction is parallel to the up vector")
    y /= norm
    x = np.cross(y, z)
    R = np.stack([x, y, z])
    return R, -R @ np.asarray(eye, float)


def orbit_camera(
    points: np.ndarray,
    up_axis: str,
    yaw: float,
    elevation: float,
    image_size: tuple[int, int] = (1080, 1080),
    focal: float = 1050.0,
    margin: float = 0.05,
) -> Camera:
    """A camera rotated by ``yaw`` about the world up axis and raised by ``elevation`` (radians), aimed at the
    centre of ``points`` (..., 3), at the nearest distance where every finite point lies inside the image with
    ``margin`` (a fraction of the image size) to spare."""
    pts = points.reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("no finite points to frame")
    up = np.array(UP_VECTORS[up_axis])
    # two horizontal axes completing the up axis to a right-handed frame
    e1 = np.roll(up, 1)
    e2 = np.cross(up, e1)
    centre = (pts.min(0) + pts.max(0)) / 2
    d = np.cos(elevation) * (np.cos(yaw) * e1 + np.sin(yaw) * e2) + np.sin(elevation) * up
    R, _ = look_at(centre + d, centre, up)
    rel = (pts - centre) @ R.T  # (a, b, e): right, down, forward offsets from the centre
    K = intrinsics(focal, image_size)
    w, h = image_size
    # u = f a / (s + e) + cx must stay within [m, w - m]: solve for the distance s, per point and side
    half = np.array([w / 2 - margin * w, h / 2 - margin * h])
    need = np.abs(rel[:, :2]) * focal / half - rel[:, 2:3]
    extent = np.linalg.norm(pts.max(0) - pts.min(0))
    near = 0.05 * max(extent, 1e-6) - rel[:, 2].min()  # every point stays in front of the camera
    s = max(float(need.max()), float(near), 1e-6)
    eye = centre - s * R[2]
    return Camera(K=K, R=R, t=-R @ eye, image_size=(int(w), int(h)))


def random_orbit_camera(
    points: np.ndarray,
    up_axis: str,
    rng: np.random.Generator,
    elevation_deg: tuple[float, float] = (0.0, 30.0),
    **kwargs,
) -> Camera:
    """``orbit_camera`` with a uniformly random yaw and an elevation drawn from ``elevation_deg``."""
    yaw = rng.uniform(0, 2 * np.pi)
    elevation = np.deg2rad(rng.uniform(*elevation_deg))
    return orbit_camera(points, up_axis, yaw, elevation, **kwargs)
