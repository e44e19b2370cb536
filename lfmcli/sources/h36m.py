"""Human3.6M, as prepared by VideoPose3D, and the H3WB whole-body annotations.

VideoPose3D files (download and prepare them as its DATASETS.md describes; they are pickled dictionaries):
- ``data_3d_h36m.npz``: ``positions_3d[subject][action]`` (T, 32, 3) world coordinates in metres (z up);
- ``data_2d_h36m_<detections>.npz`` (optional): ``positions_2d[subject][action][camera]`` (T, 17, 2) pixels for the
  four cameras, and ``metadata``.
With 2D, each of the four cameras becomes a real view; its K, R, t are calibrated from all 2D/3D pairs of that
subject and camera (DLT), so no calibration file is needed. Without 2D, random cameras are used.
Subjects S1, S5, S6, S7, S8 are train and S9, S11 test by default.

H3WB (``2Dto3D_train.json`` and the like): ``{sample_id: {"keypoints_2d": {joint: {x, y}}, "keypoints_3d":
{joint: {x, y, z}}}}`` with the 133 COCO-WholeBody joints, 3D in millimetres; each sample is one static frame whose
camera is calibrated from its own 133 pairs.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.build import Plan, Planned, source, split_from_name
from ..errors import LfmError
from ..files import read_json
from ..geometry.cameras import calibrate
from ..rigs import get_rig
from ..sequence import Sequence, View

KEEP_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]  # the 17-joint subset of the 32
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
IMAGE_SIZE = (1000, 1002)  # cameras 54138969 and 60457274 are 1000x1002, the others 1000x1000: use the larger
FPS = 50.0


def _load_pickled(path: Path, key: str):
    # VideoPose3D stores nested dicts as pickled object arrays: only load files you trust
    if path.is_file() and not zipfile.is_zipfile(path):  # np.load would unpickle any other file whole
        raise LfmError("not an .npz file (a zip archive of arrays)", path)
    try:
        with np.load(path, allow_pickle=True) as z:
            if key not in z.files:
                raise LfmError(f"no {key!r} array; is this a VideoPose3D Human3.6M file?", path)
            return z[key].item(), (z["metadata"].item() if "metadata" in z.files else {})
    except FileNotFoundError:
        raise LfmError("no such file", path) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as e:
        raise LfmError(f"not a readable .npz file ({e})", path) from None


def plan(
    positions_3d: Path,
    positions_2d: Path | None = None,
    joints: int = 17,
    train_subjects: Seq[str] = TRAIN_SUBJECTS,
    test_subjects: Seq[str] = TEST_SUBJECTS,
) -> list[Planned]:
    """One sequence per subject and action; real views when a 2D file is given."""
    if joints not in (17, 32):
        raise LfmError("--joints must be 17 or 32")
    data3d, _ = _load_pickled(positions_3d, "positions_3d")
    _check_layout(data3d, "positions_3d", positions_3d)
    data2d = None
    if positions_2d is not None:
        if joints != 17:
            raise LfmError("2D detections have the 17 joints; use --joints 17 with a 2D file", positions_2d)
        data2d, meta = _load_pickled(positions_2d, "positions_2d")
        _check_layout(data2d, "positions_2d", positions_2d)
        if not isinstance(meta, dict):
            raise LfmError("'metadata' is not a dictionary", positions_2d)
        if meta.get("num_joints", 17) != 17:
            raise LfmError(f"2D file has {meta.get('num_joints')} joints, expected 17", positions_2d)
    rig = get_rig("h36m_17" if joints == 17 else "h36m_32")
    planned = []
    for subject in sorted(data3d, key=str):
        split = "test" if subject in test_subjects else "train" if subject in train_subjects else None
        if split is None:
            continue
        actions = data3d[subject]
        cameras = None
        if data2d is not None:
            cameras = _calibrate_subject(subject, data3d, data2d, positions_3d, positions_2d)
        for action in sorted(actions, key=str):

            def load(subject=subject, action=action, cameras=cameras) -> Sequence:
                return _sequence(subject, action, data3d, data2d, cameras, rig, (positions_3d, positions_2d))

            planned.append(Planned(f"{subject}/{action}", "human", load, split=split))
    if not planned:
        raise LfmError(f"no subject of {list(train_subjects) + list(test_subjects)} found", positions_3d)
    return planned


def _check_layout(data, key: str, path: Path) -> None:
    """VideoPose3D's nesting: {subject: {action: array}}."""
    if not isinstance(data, dict) or not all(isinstance(actions, dict) for actions in data.values()):
        raise LfmError(f"{key} must map each subject to a dictionary of actions", path)


def _numbers(value, what: str, path: Path) -> np.ndarray:
    """``value`` as 32-bit floats; text or ragged lists are an LfmError naming ``path``."""
    try:
        with np.errstate(over="ignore"):  # values beyond 32-bit floats become inf, refused by the callers
            return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        raise LfmError(f"{what}: not an array of numbers", path) from None


def _points(data3d, subject, action, rig, path) -> np.ndarray:
    p = _numbers(data3d[subject][action], f"{subject}/{action}", path)
    if p.ndim != 3 or p.shape[1:] != (32, 3) or len(p) == 0:
        raise LfmError(f"{subject}/{action}: positions_3d has shape {p.shape}, expected (T>0, 32, 3)", path)
    if np.isinf(p).any() or not np.isfinite(p).any():
        raise LfmError(f"{subject}/{action}: positions_3d holds infinite values, or no finite point", path)
    return p[:, KEEP_17] if rig.num_joints == 17 else p


def _uv(data2d, subject, action, cam, path2d) -> np.ndarray:
    if action not in data2d[subject]:
        raise LfmError(f"{subject}/{action}: no 2D for this action", path2d)
    try:
        value = data2d[subject][action][cam]
    except (KeyError, IndexError, TypeError):
        raise LfmError(f"{subject}/{action}: positions_2d must hold a list of cameras", path2d) from None
    uv = _numbers(value, f"{subject}/{action} camera {cam}", path2d)
    if uv.ndim != 3 or uv.shape[1] != 17 or uv.shape[2] < 2:
        raise LfmError(f"{subject}/{action} camera {cam}: 2D has shape {uv.shape}, expected (T, 17, 2)", path2d)
    if np.isinf(uv).any():
        raise LfmError(f"{subject}/{action} camera {cam}: 2D holds infinite values", path2d)
    return uv[..., :2]


def _calibrate_subject(subject, data3d, data2d, path3d, path2d):
    if subject not in data2d:
        raise LfmError(f"no 2D for subject {subject}", path2d)
    actions = [a for a in data3d[subject] if a in data2d[subject]]
    if not actions:
        raise LfmError(f"no 2D for the actions of subject {subject}", path2d)
    try:
        counts = {len(data2d[subject][a]) for a in actions}
    except TypeError:
        raise LfmError(f"{subject}: positions_2d must hold a list of cameras per action", path2d) from None
    if len(counts) != 1:
        raise LfmError(f"{subject}: actions disagree on the number of cameras ({sorted(counts)})", path2d)
    if counts == {0}:
        raise LfmError(f"{subject}: positions_2d holds no camera", path2d)
    points = {a: _points(data3d, subject, a, get_rig("h36m_17"), path3d) for a in actions}
    cameras = []
    for cam in range(counts.pop()):
        xyz, uv = [], []
        for a in actions:
            p, q = points[a], _uv(data2d, subject, a, cam, path2d)
            T = min(len(p), len(q))  # the prepared 2D is sometimes a frame or two longer
            xyz.append(p[:T:10])  # every 10th frame is plenty
            uv.append(q[:T:10])
        xyz, uv = np.concatenate(xyz).reshape(-1, 3), np.concatenate(uv).reshape(-1, 2)
        try:
            cameras.append(calibrate(xyz, uv, IMAGE_SIZE)[0])
        except ValueError as e:
            raise LfmError(f"{subject} camera {cam}: cannot calibrate ({e})", path2d) from None
    return cameras


def _sequence(subject, action, data3d, data2d, cameras, rig, paths) -> Sequence:
    points = _points(data3d, subject, action, rig, paths[0])
    views = []
    if cameras is not None:
        uvs = [_uv(data2d, subject, action, cam, paths[1]) for cam in range(len(cameras))]
        T = min([len(points)] + [len(uv) for uv in uvs])
        points = points[:T]
        for camera, uv in zip(cameras, uvs, strict=True):
            visible = np.isfinite(uv[:T]).all(-1) & np.isfinite(points).all(-1)
            views.append(View(camera=camera, points2d=uv[:T], visible=visible, kind="real"))
    return Sequence(
        name=f"{subject}/{action}",
        category="human",
        rig=rig,
        points3d=points,
        fps=FPS,
        up_axis="z",
        units="m",
        source="Human3.6M (Ionescu et al. 2014), VideoPose3D preparation",
        license="Human3.6M licence: research only",
        views=views,
    )


def _coords(block, keys: str, path: Path, sample: str) -> np.ndarray:
    """{joint_id: {x, y[, z]}} or a list of [x, y(, z)] -> (133, len(keys)), NaN for missing joints."""
    out = np.full((133, len(keys)), np.nan)
    if not isinstance(block, (dict, list)):
        raise LfmError(f"sample {sample}: keypoints must map joints to {{{', '.join(keys)}}}", path)
    items = block.items() if isinstance(block, dict) else enumerate(block)
    for j, v in items:
        try:
            index = int(j)
        except ValueError:
            index = -1
        if not 0 <= index < 133:
            raise LfmError(f"sample {sample}: joint {j!r} is not one of the 133 joints", path)
        try:
            out[index] = [v[k] for k in keys] if isinstance(v, dict) else list(v)[: len(keys)]
        except (KeyError, ValueError, TypeError, IndexError, OverflowError):
            raise LfmError(f"sample {sample}: joint {j!r} is not {{{', '.join(keys)}}}", path) from None
    return out


def plan_h3wb(paths: Seq[Path], units: float = 0.001) -> list[Planned]:
    """One static sample per H3WB entry (split taken from the file name when it says train/val/test)."""
    planned = []
    rig = get_rig("coco_wholebody_133")
    for path in map(Path, paths):
        doc = read_json(path)
        if not isinstance(doc, dict) or not doc:
            raise LfmError("expected an object of samples keyed by sample id", path)
        split = split_from_name(path)
        for sid, entry in doc.items():
            if not isinstance(entry, dict) or "keypoints_2d" not in entry or "keypoints_3d" not in entry:
                raise LfmError(f"sample {sid}: needs keypoints_2d and keypoints_3d", path)

            def load(entry=entry, sid=sid, path=path) -> Sequence:
                with np.errstate(over="ignore"):  # values beyond 32-bit floats become inf, refused below
                    uv = _coords(entry["keypoints_2d"], "xy", path, sid).astype(np.float32)
                    xyz = (_coords(entry["keypoints_3d"], "xyz", path, sid) * units).astype(np.float32)
                if np.isinf(uv).any() or np.isinf(xyz).any():
                    raise LfmError(f"sample {sid}: coordinates hold infinite values (or beyond 32-bit floats)", path)
                try:
                    camera, _ = calibrate(xyz, uv, (1000, 1002))
                except ValueError as e:
                    raise LfmError(f"sample {sid}: cannot calibrate its camera ({e})", path) from None
                visible = np.isfinite(uv).all(-1) & np.isfinite(xyz).all(-1)
                return Sequence(
                    name=f"{path.stem}/{sid}",
                    category="human",
                    rig=rig,
                    points3d=xyz[None],
                    fps=0.0,
                    up_axis="y",
                    units="m",
                    source="H3WB (Zhu et al. 2023) on Human3.6M",
                    license="Human3.6M licence: research only",
                    views=[View(camera, uv[None], visible[None], "real")],
                )

            planned.append(Planned(f"{path.stem}/{sid}", "human", load, split=split))
    return planned


@dataclass
class H36mOptions:
    positions_2d: Path | None = None  # VideoPose3D 2D detections: the four real views
    joints: int = 17  # 17 (the usual reduction) or 32
    train_subjects: tuple[str, ...] = TRAIN_SUBJECTS
    test_subjects: tuple[str, ...] = TEST_SUBJECTS

    def __post_init__(self):
        if self.joints not in (17, 32):
            raise LfmError("--joints must be 17 or 32")


@source("h36m", "Human3.6M as prepared by VideoPose3D (its 3D file; --2d for the real views)", H36mOptions)
def _plan_h36m(paths: list[Path], options: H36mOptions, progress=None) -> Plan:
    if len(paths) != 1:
        raise LfmError("give one VideoPose3D 3D file (data_3d_h36m.npz)")
    return Plan(plan(paths[0], options.positions_2d, options.joints, options.train_subjects, options.test_subjects))


@dataclass
class H3wbOptions:
    pass


@source("h3wb", "H3WB whole-body 2D-to-3D JSON (133 COCO-WholeBody joints)", H3wbOptions)
def _plan_h3wb(paths: list[Path], options: H3wbOptions, progress=None) -> Plan:
    return Plan(plan_h3wb(paths))
