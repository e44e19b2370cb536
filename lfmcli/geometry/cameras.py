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

    def problem(self) -> str | None:
        """What makes this camera unusable (the dataset format's promise), or None."""
        K, R, t = (np.asarray(a, float) for a in (self.K, self.R, self.t))
        if not all(np.isfinite(a).all() for a in (K, R, t)):
            return "camera has NaN or infinite values"
        if abs(np.linalg.det(R) - 1) > 1e-4 or not np.allclose(R @ R.T, np.eye(3), atol=1e-4):
            return "R is not a rotation"
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            return f"focal lengths {K[0, 0]:g}, {K[1, 1]:g} are not positive"
        if not min(self.image_size) > 0:
            return f"image size {tuple(self.image_size)} is not positive"
        if not max(self.image_size) < 2**31:  # a dataset stores it as 32-bit integers
            return f"image size {tuple(self.image_size)} is too large"
        return None

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


def calibrate(points: np.ndarray, uv: np.ndarray, image_size: tuple[int, int]) -> tuple[Camera, float]:
    """The perspective camera that best maps world points (N, 3) to pixels (N, 2), by the normalised direct linear
    transform and an RQ split of the projection matrix into K (positive focal lengths) and R, t. Returns the camera
    and its RMS reprojection error in pixels. Needs at least six points not all in one plane."""
    from scipy.linalg import rq

    ok = np.isfinite(points).all(-1) & np.isfinite(uv).all(-1)
    X, x = points[ok].astype(float), uv[ok].astype(float)
    if len(X) < 6:
        raise ValueError(f"{len(X)} usable point pairs; calibration needs at least 6")

    def normaliser(p: np.ndarray) -> np.ndarray:  # centre and scale for a well-conditioned system (Hartley)
        c = p.mean(0)
        s = np.sqrt(p.shape[1]) / max(np.linalg.norm(p - c, axis=1).mean(), 1e-12)
        T = np.eye(p.shape[1] + 1)
        T[:-1, :-1] *= s
        T[:-1, -1] = -s * c
        return T

    T3, T2 = normaliser(X), normaliser(x)
    Xh = np.c_[X, np.ones(len(X))] @ T3.T
    xh = np.c_[x, np.ones(len(x))] @ T2.T
    zero = np.zeros_like(Xh)
    A = np.concatenate([np.c_[Xh, zero, -xh[:, :1] * Xh], np.c_[zero, Xh, -xh[:, 1:2] * Xh]])
    _, sv, vt = np.linalg.svd(A)
    if sv[-2] < 1e-9 * sv[0]:
        raise ValueError("the points are degenerate (coplanar or collinear): no unique camera")
    P = np.linalg.inv(T2) @ vt[-1].reshape(3, 4) @ T3
    K, R = rq(P[:, :3])
    D = np.diag(np.sign(np.diag(K)))
    K, R = K @ D, D @ R
    t = np.linalg.solve(K, P[:, 3])
    if np.linalg.det(R) < 0:  # P is known up to sign: take the one with a proper rotation
        R, t = -R, -t
    K = K / K[2, 2]
    # with the sign fixed, points must lie in front of the camera
    if np.median((X @ R.T + t)[:, 2]) < 0:
        raise ValueError("calibration put the points behind the camera")
    cam = Camera(K=K, R=R, t=t, image_size=(int(image_size[0]), int(image_size[1])))
    rms = float(np.sqrt(((cam.project(X) - x) ** 2).sum(-1).mean()))
    return cam, rms


def weak_camera(points_cam: np.ndarray, uv: np.ndarray, image_size: tuple[int, int], focal: float = 1000.0) -> Camera:
    """A weak-perspective camera for camera-frame points (N, 3): the least-squares scale s and centre c of
    uv = s * (x, y) + c, expressed as K (``focal``) and a depth offset so that ``project(..., "weak")`` gives it."""
    ok = np.isfinite(points_cam).all(-1) & np.isfinite(uv).all(-1)
    xy, x = points_cam[ok, :2], uv[ok]
    if len(xy) < 2:
        raise ValueError("a weak-perspective fit needs at least two points")
    A = np.c_[xy.reshape(-1), np.tile(np.eye(2), (len(xy), 1))]
    (s, cx, cy), *_ = np.linalg.lstsq(A, x.reshape(-1), rcond=None)
    if abs(s) < 1e-12:
        raise ValueError("the points do not spread: no scale can be fitted")
    K = intrinsics(focal, image_size)
    K[0, 2], K[1, 2] = cx, cy
    if s < 0:  # image axes flipped against the camera frame: a half turn about the optical axis
        R, s = np.diag([-1.0, -1.0, 1.0]), -s
    else:
        R = np.eye(3)
    # project_weak divides by the mean depth of every point with 3D, visible or not: match that mean
    depth = focal / s - np.nanmean(points_cam[np.isfinite(points_cam).all(-1), 2])
    return Camera(K=K, R=R, t=np.array([0.0, 0.0, depth]), image_size=(int(image_size[0]), int(image_size[1])))
