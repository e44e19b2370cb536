"""The interchange ``.npz`` format: one file per sequence (or per set of static samples).

Keys: points3d (T, J, 3), joint_names (J,), parents (J,), fps, category, up_axis, source, license; optionally
real views: points2d (V, T, J, 2), K (V, 3, 3), R (V, 3, 3), t (V, 3), image_size (V, 2). A file with fps = 0 holds
independent samples: each frame becomes a sequence of its own, so splits never share an object.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.build import Plan, Planned, source
from ..errors import LfmError
from ..files import find_files
from ..geometry.cameras import Camera
from ..rigs import Rig, RigError, canonical_category, get_rig, match_rig, match_rig_reordered
from ..sequence import Sequence, View

REQUIRED = ("points3d", "joint_names", "parents", "fps", "category", "up_axis")
VIEW_KEYS = ("points2d", "K", "R", "t", "image_size")


def _header_shape(path: Path, key: str) -> tuple[int, ...]:
    """Shape of one array in an npz, read from its header without loading the data."""
    with zipfile.ZipFile(path) as z, z.open(f"{key}.npy") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return read(f)[0]


def _text(z, key: str, default: str = "") -> str:
    return str(z[key][()]) if key in z else default


def _units(z) -> str:
    # the interchange files are in metres, except ShapeNet's normalised object units
    if "units" in z:
        return _text(z, "units")
    return "shapenet" if "shapenet" in (_text(z, "source") + _text(z, "license")).lower() else "m"


def _open(path: Path) -> dict[str, np.ndarray]:
    """Every array of an interchange file, with the types and shapes of the required ones checked."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            z = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # object arrays are a ValueError here
        raise LfmError(f"not a readable .npz file ({e})", path) from None
    missing = [k for k in REQUIRED if k not in z]
    if missing:
        raise LfmError(f"missing key(s) {missing}; an interchange file needs {list(REQUIRED)}", path)
    names, parents, fps = z["joint_names"], z["parents"], z["fps"]
    if names.ndim != 1 or names.dtype.kind not in "US" or len(names) == 0:
        raise LfmError(f"joint_names must be a list of names, not {names.dtype} of shape {names.shape}", path)
    if z["points3d"].dtype.kind not in "fiu":
        raise LfmError(f"points3d must hold numbers, not {z['points3d'].dtype}", path)
    if parents.shape != names.shape or parents.dtype.kind not in "iu":
        what = f"{parents.dtype} of shape {parents.shape}"
        raise LfmError(f"parents must be {len(names)} integers (one per joint), not {what}", path)
    if ((parents < -1) | (parents >= len(names))).any():
        raise LfmError(f"parents must be joint indices or -1, not {sorted(set(parents.tolist()))}", path)
    if fps.size != 1 or fps.dtype.kind not in "fiu" or not 0 <= float(fps.reshape(())) < np.inf:
        what = fps.reshape(()).item() if fps.size == 1 else f"{fps.dtype} of shape {fps.shape}"
        raise LfmError(f"fps must be a frame rate >= 0 (0: not a time series), not {what!r}", path)
    return z


def _category(z) -> str:
    return canonical_category(_text(z, "category")) or "object"


def _rig_for(z, path: Path, rig: Rig | None) -> tuple[Rig, list[int] | None, str | None]:
    """The file's rig, the order that puts its joints in the rig's order (None: as they are), and a note on what
    was assumed (None: nothing)."""
    names = [str(n) for n in z["joint_names"]]
    if rig is not None:
        if rig.num_joints != len(names):
            raise LfmError(f"{len(names)} joints, but rig {rig.name!r} has {rig.num_joints}", path)
        return rig, None, None
    shipped = match_rig(names)
    if shipped is not None:
        return shipped, None, None
    reordered = match_rig_reordered(names)
    if reordered is not None:
        shipped, naming, order = reordered
        note = f"joint names of rig {shipped.name!r} ({naming}) in another order: reordered to the rig's"
        return shipped, order, note
    category = _category(z)
    parents = np.asarray(z["parents"]).astype(int)
    # the joint names and tree tell one skeleton from another of the same kind and joint count
    digest = hashlib.sha1(repr((names, parents.tolist())).encode()).hexdigest()[:6]
    name = f"{category}_{len(names)}_{digest}"
    if (parents < 0).all():
        note = (
            f"no joint tree (all parents -1) and no shipped rig has these joint names: rig {name!r} has no edges "
            "(the model attends over all joints alike); pass --rig for a rig with a graph"
        )
        return Rig.from_dict({"name": name, "joints": names, "edges": [], "category": category}, str(path)), None, note
    try:
        built = Rig.from_parents(
            name,
            names,
            parents,
            category=category,
            description="built from the joint tree of an interchange file",  # alike for every file of a skeleton
        )
    except RigError as e:
        raise LfmError(f"its joint tree is not a valid rig: {e}", path) from None
    return built, None, None


def read_npz(path: Path, name: str, rig: Rig | None = None) -> list[Sequence]:
    """The sequences of one interchange file (several when it holds independent samples)."""
    z = _open(path)
    names = z["joint_names"]
    shape = z["points3d"].shape
    if len(shape) != 3 or shape[2] != 3 or shape[1] != len(names) or shape[0] == 0:
        raise LfmError(f"points3d has shape {shape}; expected (T, {len(names)}, 3)", path)
    the_rig, order, _ = _rig_for(z, path, rig)
    if order is not None:  # every per-joint array in the rig's order
        z = {**z, "points3d": z["points3d"][:, order]}
        if "points2d" in z and z["points2d"].ndim == 4:
            z["points2d"] = z["points2d"][:, :, order]
    p = np.asarray(z["points3d"], dtype=np.float32)
    if np.isinf(p).any():
        raise LfmError("points3d holds infinite values", path)
    if not np.isfinite(p).all(-1).any():
        raise LfmError("points3d has no finite point (every value is NaN)", path)
    up_axis = _text(z, "up_axis")
    if up_axis not in ("x", "y", "z"):
        raise LfmError(f"up_axis {up_axis!r} must be x, y or z", path)
    fps = float(z["fps"].reshape(()))
    views = _real_views(z, path, p.shape) if "points2d" in z else []
    info = dict(
        category=_category(z),
        rig=the_rig,
        up_axis=up_axis,
        units=_units(z),
        source=_text(z, "source"),
        license=_text(z, "license"),
    )
    if fps > 0:
        return [Sequence(name=name, points3d=p, fps=fps, views=views, **info)]
    width = len(str(len(p) - 1))
    return [
        Sequence(
            name=f"{name}/{t:0{width}d}",
            points3d=p[t : t + 1],
            fps=0.0,
            views=[View(v.camera, v.points2d[t : t + 1], v.visible[t : t + 1], v.kind) for v in views],
            **info,
        )
        for t in range(len(p))
    ]


def _real_views(z, path: Path, shape: tuple[int, ...]) -> list[View]:
    missing = [k for k in VIEW_KEYS if k not in z]
    if missing:
        raise LfmError(f"has points2d but lacks camera key(s) {missing}", path)
    wrong = [k for k in VIEW_KEYS if z[k].dtype.kind not in "fiu"]
    if wrong:
        raise LfmError(f"{', '.join(wrong)} must hold numbers", path)
    uv = np.asarray(z["points2d"], dtype=np.float32)
    if uv.ndim == 0:
        raise LfmError("points2d must be (views, T, J, 2)", path)
    V = uv.shape[0]
    expected = {"points2d": (V, *shape[:2], 2), "K": (V, 3, 3), "R": (V, 3, 3), "t": (V, 3), "image_size": (V, 2)}
    for k, s in expected.items():
        if z[k].shape != s:
            raise LfmError(f"{k} has shape {z[k].shape}; expected {s}", path)
    points3d_ok = np.isfinite(np.asarray(z["points3d"])).all(-1)
    views = []
    for v in range(V):
        size = np.asarray(z["image_size"][v], float)
        cam = Camera(
            K=np.asarray(z["K"][v], float),
            R=np.asarray(z["R"][v], float),
            t=np.asarray(z["t"][v], float),
            image_size=tuple(int(x) for x in size) if np.isfinite(size).all() else (0, 0),
        )
        if cam.problem():
            raise LfmError(f"view {v}: {cam.problem()}", path)
        visible = np.isfinite(uv[v]).all(-1) & points3d_ok
        views.append(View(camera=cam, points2d=uv[v], visible=visible, kind="real"))
    return views


def plan(
    paths: Iterable[str | Path], rig: Rig | None = None, skip_bad: bool = False, notes: list[str] | None = None
) -> list[Planned]:
    """Plan every sequence of the given files and folders (read lazily, one file at a time); with ``skip_bad`` a
    broken file becomes one sequence that fails when loaded, so the writer reports and skips it. What was assumed
    (a rig without edges, joints reordered, a category renamed, few samples) is added to ``notes``."""
    planned = []
    cache: dict[Path, list[Sequence]] = {}
    notes = [] if notes is None else notes

    def loader(path: Path, name: str, index: int):
        def load() -> Sequence:
            if path not in cache:
                cache.clear()  # sequences of one file are consecutive: keep only the current file
                cache[path] = read_npz(path, name, rig)
            return cache[path][index]

        return load

    found = find_files(paths, ".npz")
    names = [path.relative_to(root).with_suffix("").as_posix() for path, root in found]
    if len(set(names)) < len(names):  # one name in several folders given: name each by its path under their common one
        common = Path(os.path.commonpath([root.resolve() for _, root in found]))
        names = [path.resolve().relative_to(common).with_suffix("").as_posix() for path, _ in found]
    for (path, _), name in zip(found, names, strict=True):
        try:
            planned += _plan_file(path, name, loader, rig, notes)
        except LfmError as e:
            if not skip_bad:
                raise
            planned.append(Planned(name, "", _failing(e)))  # reported and skipped when written
    return planned


def _failing(error: LfmError):
    def load() -> Sequence:
        raise error

    return load


FEW_SAMPLES = 20  # independent samples in one file below which a note says how little it can teach


def _plan_file(path: Path, name: str, loader, rig: Rig | None, notes: list[str]) -> list[Planned]:
    z = _open(path)
    category = _category(z)
    said = [n for n in (_rig_for(z, path, rig)[2],) if n]
    if category != _text(z, "category"):
        said.append(f"category {_text(z, 'category')!r} is stored as {category!r}, as lfm names kinds of object")
    names = [name]
    if float(z["fps"]) <= 0:
        try:
            count = _header_shape(path, "points3d")[0]
        except (KeyError, ValueError, zipfile.BadZipFile) as e:
            raise LfmError(f"cannot read points3d ({e})", path) from None
        if count < FEW_SAMPLES:
            said.append(
                f"only {count} independent sample(s) of {category!r}: random cameras show each from many sides, "
                "but a model sees just these shapes (few for a kind; the splits may leave none for val or test)"
            )
        width = len(str(count - 1))
        names = [f"{name}/{t:0{width}d}" for t in range(count)]
    notes += [f"{path}: {n}" for n in said]
    return [Planned(n, category, loader(path, name, i)) for i, n in enumerate(names)]


@dataclass
class NpzOptions:
    rig: str | None = None  # a rig name or YAML file for every file, instead of matching
    skip_bad: bool = False


@source("npz", "interchange .npz files, one per sequence (docs/datasets.md)", NpzOptions)
def _plan_source(paths: list[Path], options: NpzOptions, progress=None) -> Plan:
    rig = get_rig(options.rig) if options.rig else None
    notes: list[str] = []
    return Plan(plan(paths, rig=rig, skip_bad=options.skip_bad, notes=notes), notes=notes)
