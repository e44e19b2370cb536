"""C3DPO keypoint JSON (PASCAL3D+ and other C3DPO datasets).

A list of samples (or ``{"dataset": ..., "data": [...]}``), each with ``kp_loc`` (2 x N image keypoints), ``kp_vis``
(N), ``kp_loc_3d`` (3 x N, camera coordinates). PASCAL3D+ samples stack the 12 classes' keypoints into one layout
(124 columns) and add ``class_mask`` (which columns are this sample's class), ``kp_defined`` and
``p3d_info.p3d_class``; each class becomes its own rig (``pascal3d_<class>``). Other files need ``--rig``.
Every sample is a static frame; its camera is the weak-perspective fit of the 2D to the camera-frame 3D.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.build import Plan, Planned, source, split_from_name
from ..errors import LfmError
from ..files import read_json
from ..geometry.cameras import weak_camera
from ..rigs import Rig, get_rig
from ..sequence import Sequence, View

# class order of the stacked PASCAL3D+ layout (C3DPO), with keypoints per class
P3D_CLASSES = {
    "aeroplane": 8,
    "car": 12,
    "tvmonitor": 8,
    "sofa": 10,
    "motorbike": 10,
    "diningtable": 12,
    "chair": 10,
    "bus": 12,
    "bottle": 7,
    "boat": 7,
    "bicycle": 11,
    "train": 17,
}
P3D_START = dict(zip(P3D_CLASSES, np.cumsum([0, *P3D_CLASSES.values()])[:-1].tolist(), strict=True))
P3D_TOTAL = sum(P3D_CLASSES.values())


def _samples(path: Path) -> list:
    doc = read_json(path)
    if isinstance(doc, dict) and "data" in doc:
        doc = doc["data"]
    if not isinstance(doc, list) or not doc:
        raise LfmError("expected a non-empty list of keypoint samples", path)
    return doc


def _info(entry: dict, path: Path, k: int) -> dict:
    """The sample's p3d_info (its PASCAL3D+ class and image size), where these have the right types."""
    info = entry.get("p3d_info") or {}
    if not isinstance(info, dict) or not isinstance(info.get("p3d_class", ""), str):
        raise LfmError(f"sample {k}: p3d_info must be an object whose p3d_class is a class name", path)
    return info


def _flags(entry: dict, key: str, path: Path, k: int) -> np.ndarray:
    """A flag per column of the stacked layout (class_mask, kp_defined), as booleans."""
    try:
        flags = np.asarray(entry[key], dtype=float)
    except (TypeError, ValueError, OverflowError):
        flags = np.zeros(0)
    if flags.shape != (P3D_TOTAL,):
        raise LfmError(f"sample {k}: {key} must hold {P3D_TOTAL} flags, one per stacked keypoint", path)
    return flags > 0


def _image_size(entry: dict, path: Path, k: int) -> tuple[int, int]:
    size = _info(entry, path, k).get("image_size", (1000, 1000))
    if not (isinstance(size, (list, tuple)) and len(size) >= 2) or not all(
        type(x) in (int, float) and 0 < x < 2**31 for x in size[:2]
    ):
        raise LfmError(f"sample {k}: p3d_info image_size {size!r} is not a size in pixels", path)
    return int(size[0]), int(size[1])


def _class_of(entry: dict, path: Path, k: int) -> str:
    name = _info(entry, path, k).get("p3d_class")
    if name in P3D_CLASSES:
        return name
    mask = _flags(entry, "class_mask", path, k)
    for cls, start in P3D_START.items():
        if mask[start : start + P3D_CLASSES[cls]].all() and mask.sum() == P3D_CLASSES[cls]:
            return cls
    raise LfmError(f"sample {k}: class_mask matches no PASCAL3D+ class", path)


def read_sample(entry: dict, path: Path, k: int, rig: Rig | None) -> Sequence:
    try:
        uv = np.asarray(entry["kp_loc"], dtype=np.float64).T
        vis = np.asarray(entry["kp_vis"], dtype=float).reshape(-1) > 0
        xyz = np.asarray(entry["kp_loc_3d"], dtype=np.float64).T
    except (KeyError, ValueError, TypeError, OverflowError) as e:
        raise LfmError(f"sample {k}: needs kp_loc (2xN), kp_vis (N) and kp_loc_3d (3xN) ({e})", path) from None
    if uv.shape[1:] != (2,) or xyz.shape != (len(uv), 3) or len(vis) != len(uv):
        raise LfmError(
            f"sample {k}: kp_loc {uv.shape[::-1]}, kp_vis {len(vis)}, kp_loc_3d {xyz.shape[::-1]} disagree", path
        )
    with np.errstate(over="ignore"):  # stored as 32-bit floats: larger values become inf there
        if np.isinf(uv.astype(np.float32)).any() or np.isinf(xyz.astype(np.float32)).any():
            raise LfmError(f"sample {k}: kp_loc or kp_loc_3d holds infinite values (or beyond 32-bit floats)", path)
    if "class_mask" in entry:
        if len(uv) != P3D_TOTAL:
            raise LfmError(f"sample {k}: {len(uv)} stacked keypoints, the PASCAL3D+ layout has {P3D_TOTAL}", path)
        cls = _class_of(entry, path, k)
        cols = slice(P3D_START[cls], P3D_START[cls] + P3D_CLASSES[cls])
        defined = _flags(entry, "kp_defined", path, k) if "kp_defined" in entry else np.ones(P3D_TOTAL, bool)
        uv, vis, xyz, defined = uv[cols], vis[cols], xyz[cols], defined[cols]
        xyz[~defined] = np.nan
        the_rig, category, units = get_rig(f"pascal3d_{cls}"), cls, "pascal3d"
    else:
        if rig is None:
            raise LfmError("samples without class_mask need --rig (the rig of their keypoints)", path)
        if rig.num_joints != len(uv):
            raise LfmError(f"sample {k}: {len(uv)} keypoints, rig {rig.name!r} has {rig.num_joints}", path)
        the_rig, category, units = rig, rig.category or "object", "source"
    visible = vis & np.isfinite(uv).all(-1) & np.isfinite(xyz).all(-1)
    try:
        camera = weak_camera(xyz, np.where(visible[:, None], uv, np.nan), _image_size(entry, path, k))
    except ValueError as e:
        raise LfmError(f"sample {k}: {e}", path) from None
    view = View(
        camera=camera, points2d=uv[None].astype(np.float32), visible=visible[None], kind="real", projection="weak"
    )
    return Sequence(
        name=f"{path.stem}/{k:05d}",
        category=category,
        rig=the_rig,
        points3d=xyz[None].astype(np.float32),
        fps=0.0,
        up_axis="y",
        units=units,
        source=f"C3DPO keypoints ({path.name})",
        license="PASCAL3D+: research use",
        views=[view],
    )


def plan(paths, rig: Rig | None = None) -> list[Planned]:
    """One static sample per entry; the split follows the file name (pascal3d_val.json is val) when it says so."""
    planned = []
    for path in map(Path, paths):
        samples = _samples(path)
        split = split_from_name(path)
        for k, entry in enumerate(samples):
            if not isinstance(entry, dict):
                raise LfmError(f"sample {k} is not an object", path)
            category = _info(entry, path, k).get("p3d_class") or (rig.category if rig else "object")
            planned.append(
                Planned(
                    f"{path.stem}/{k:05d}",
                    category,
                    lambda entry=entry, path=path, k=k: read_sample(entry, path, k, rig),
                    split=split,
                )
            )
    return planned


@dataclass
class Pascal3dOptions:
    rig: str | None = None  # the rig of the keypoints, for C3DPO files without PASCAL3D+ classes


@source("pascal3d", "C3DPO keypoint JSON (PASCAL3D+ with one rig per class)", Pascal3dOptions)
def _plan_source(paths: list[Path], options: Pascal3dOptions, progress=None) -> Plan:
    return Plan(plan(paths, rig=get_rig(options.rig) if options.rig else None))
