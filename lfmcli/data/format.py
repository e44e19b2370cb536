"""The unified lfm dataset file (HDF5): one writer, one reader. The layout is documented in docs/format.md.

Sequences of any length (static samples are sequences of one frame), several rigs and categories in one file.
Point arrays are stored per rig, frames concatenated, so that a file of millions of frames is written in a
stream and one training sample is a read of one row in one chunk:

    /rigs/<rig>                      attrs["yaml"]: the rig definition
    /points/<rig>/points3d           (N, J, 3) float32, 3D frames of every sequence of this rig; NaN = absent joint
    /points/<rig>/points2d           (M, J, 2) float32, pixels, one block of rows per view; NaN = not visible
    /points/<rig>/visible            (M, J) bool
    /sequences/<column>              one row per sequence (name, category, rig, split, fps, start, length, ...)
    /views/<column>                  one row per camera view of a sequence (sequence, start, K, R, t, image_size, kind)
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from pathlib import Path

import h5py
import numpy as np
import yaml

from .. import __version__
from ..errors import LfmError
from ..files import atomic_path
from ..geometry.cameras import Camera
from ..rigs import Rig
from ..sequence import PROJECTIONS, SPLITS, VIEW_KINDS, Sequence, View

FORMAT = "lfm-dataset"
VERSION = 1
CHUNK_FRAMES = 256  # rows per HDF5 chunk; uncompressed chunks are read partially, so size only sets index length
FLUSH_FRAMES = 1 << 15  # rows buffered per array before they are appended to the file
SEQUENCE_TEXT = ("name", "category", "rig", "split", "units", "up_axis", "source", "license")
SEQUENCE_COLUMNS = (*SEQUENCE_TEXT, "fps", "start", "length")
VIEW_COLUMNS = {
    "sequence": (),
    "start": (),
    "kind": (),
    "projection": (),
    "K": (3, 3),
    "R": (3, 3),
    "t": (3,),
    "image_size": (2,),
}  # column: the shape of one row
POINT_ARRAYS = ("points3d", "points2d", "visible")


class DatasetError(LfmError):
    """A dataset file that cannot be read or written as asked."""


def _check_sequence(seq: Sequence) -> None:
    J = seq.rig.num_joints
    p = seq.points3d
    if p.ndim != 3 or p.shape[1:] != (J, 3) or p.shape[0] == 0:
        raise DatasetError(
            f"sequence {seq.name!r}: points3d has shape {p.shape}, rig {seq.rig.name!r} needs (T>0, {J}, 3)"
        )
    if np.isinf(p).any():
        raise DatasetError(f"sequence {seq.name!r}: points3d holds infinite values")
    if seq.split not in SPLITS:
        raise DatasetError(f"sequence {seq.name!r}: split {seq.split!r} is not one of {SPLITS}")
    if "/" in seq.rig.name:
        raise DatasetError(f"rig name {seq.rig.name!r} may not contain '/'")
    for v in seq.views:
        if v.points2d.shape != (p.shape[0], J, 2) or v.visible.shape != (p.shape[0], J):
            raise DatasetError(f"sequence {seq.name!r}: a view's 2D shape {v.points2d.shape} does not match the 3D")
        if v.kind not in VIEW_KINDS:
            raise DatasetError(f"sequence {seq.name!r}: view kind {v.kind!r} is not one of {VIEW_KINDS}")
        if v.projection not in PROJECTIONS:
            raise DatasetError(f"sequence {seq.name!r}: projection {v.projection!r} is not one of {PROJECTIONS}")
        bad_camera = v.camera.problem()
        if bad_camera:
            raise DatasetError(f"sequence {seq.name!r}: a view's {bad_camera}")
        # real 2D may exist without 3D (a 2D-only sequence); synthetic 2D is a projection of the 3D
        needs = np.isfinite(v.points2d).all(-1) & (np.isfinite(p).all(-1) | (v.kind == "real"))
        bad = v.visible & ~needs
        if bad.any():
            raise DatasetError(
                f"sequence {seq.name!r}: {int(bad.sum())} points are marked visible without finite coordinates"
            )


class _Appender:
    """Buffers rows for one growing dataset and appends them in large blocks."""

    def __init__(self, group: h5py.Group, name: str, row_shape: tuple[int, ...], dtype, compression):
        self.rows = 0
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self.ds = group.create_dataset(
            name,
            shape=(0, *row_shape),
            maxshape=(None, *row_shape),
            dtype=dtype,
            chunks=(CHUNK_FRAMES, *row_shape),
            compression=compression,
            shuffle=compression is not None,
        )

    def append(self, block: np.ndarray) -> int:
        start = self.rows
        self._pending.append(block)
        self._pending_rows += len(block)
        self.rows += len(block)
        if self._pending_rows >= FLUSH_FRAMES:
            self.flush()
        return start

    def flush(self) -> None:
        if not self._pending:
            return
        block = np.concatenate(self._pending)
        n = self.ds.shape[0]
        self.ds.resize(n + len(block), axis=0)
        self.ds[n:] = block
        self._pending, self._pending_rows = [], 0


class DatasetWriter:
    """Stream sequences into a new dataset file; the file appears under its name only when the writer closes
    without error::

        with DatasetWriter("out.h5") as w:
            for seq in sequences:
                w.add(seq)
    """

    def __init__(self, path: str | Path, compression: str | None = None, attrs: dict | None = None):
        self.path = Path(path)
        self.compression = compression
        self.attrs = dict(attrs or {})
        self._stack = contextlib.ExitStack()
        self._rigs: dict[str, Rig] = {}
        self._arrays: dict[tuple[str, str], _Appender] = {}
        self._sequences: dict[str, list] = defaultdict(list)
        self._views: dict[str, list] = defaultdict(list)
        self._names: set[str] = set()

    def __enter__(self) -> DatasetWriter:
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file = self._stack.enter_context(h5py.File(tmp, "w"))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._finish()
            except BaseException as e:
                self._stack.__exit__(type(e), e, e.__traceback__)  # discards the temporary file
                raise
        return bool(self._stack.__exit__(exc_type, exc, tb))

    def _array(self, rig: Rig, name: str, row_shape: tuple[int, ...], dtype) -> _Appender:
        key = (rig.name, name)
        if key not in self._arrays:
            group = self._file.require_group(f"points/{rig.name}")
            self._arrays[key] = _Appender(group, name, row_shape, dtype, self.compression)
        return self._arrays[key]

    def add(self, seq: Sequence) -> None:
        _check_sequence(seq)
        if seq.name in self._names:
            raise DatasetError(f"two sequences are named {seq.name!r}")
        self._names.add(seq.name)
        known = self._rigs.setdefault(seq.rig.name, seq.rig)
        if known != seq.rig:
            raise DatasetError(
                f"sequence {seq.name!r}: its rig differs from an earlier rig also named {seq.rig.name!r} "
                "(other joints, edges or tree); give one of them another name"
            )
        J = seq.rig.num_joints
        start = self._array(seq.rig, "points3d", (J, 3), "f4").append(seq.points3d.astype(np.float32))
        index = len(self._sequences["name"])
        row = {k: getattr(seq, k) for k in SEQUENCE_TEXT}
        row.update(rig=seq.rig.name, fps=float(seq.fps), start=start, length=seq.num_frames)
        for k, v in row.items():
            self._sequences[k].append(v)
        for view in seq.views:
            uv = np.where(view.visible[..., None], view.points2d, np.nan).astype(np.float32)
            vstart = self._array(seq.rig, "points2d", (J, 2), "f4").append(uv)
            self._array(seq.rig, "visible", (J,), bool).append(view.visible.astype(bool))
            cam = view.camera
            for k, v in dict(
                sequence=index,
                projection=view.projection,
                start=vstart,
                kind=view.kind,
                K=cam.K,
                R=cam.R,
                t=cam.t,
                image_size=cam.image_size,
            ).items():
                self._views[k].append(v)

    def _finish(self) -> None:
        f = self._file
        for app in self._arrays.values():
            app.flush()
        for rig in self._rigs.values():
            f.create_group(f"rigs/{rig.name}").attrs["yaml"] = rig.to_yaml()
        text = h5py.string_dtype()
        seq = f.create_group("sequences")
        for k in SEQUENCE_TEXT:
            seq.create_dataset(k, data=np.array(self._sequences[k], dtype=object), dtype=text)
        seq.create_dataset("fps", data=np.array(self._sequences["fps"], dtype=np.float64))
        for k in ("start", "length"):
            seq.create_dataset(k, data=np.array(self._sequences[k], dtype=np.int64))
        views = f.create_group("views")
        n = len(self._views["sequence"])
        views.create_dataset("sequence", data=np.array(self._views["sequence"], dtype=np.int64))
        views.create_dataset("start", data=np.array(self._views["start"], dtype=np.int64))
        for k in ("kind", "projection"):
            views.create_dataset(k, data=np.array(self._views[k], dtype=object), dtype=text)
        for k, shape, dtype in (
            ("K", (3, 3), np.float64),
            ("R", (3, 3), np.float64),
            ("t", (3,), np.float64),
            ("image_size", (2,), np.int32),
        ):
            views.create_dataset(k, data=np.array(self._views[k], dtype=dtype).reshape(n, *shape))
        f.attrs.update(
            format=FORMAT,
            format_version=VERSION,
            lfm_version=__version__,
            camera_convention="OpenCV: x right, y down, z forward; x_cam = R @ X + t; uv ~ K @ x_cam",
            points2d_units="pixels",
            **self.attrs,
        )


_VALIDATED: set[tuple[str, int, int]] = set()  # (file, mtime, size) of the datasets found valid in this process


def require_valid(path: str | Path) -> None:
    """Refuse a dataset that `validate` finds a problem in; each version of a file is checked once per process
    (training opens one file for its training and its validation samples)."""
    with DatasetFile(path) as f:
        st = f.path.stat()
        key = (str(f.path.resolve()), st.st_mtime_ns, st.st_size)
        if key in _VALIDATED:
            return
        problems = f.validate()
    if problems:
        raise DatasetError(f"not a valid dataset: {problems[0]} (`lfm dataset validate` lists all)", path)
    _VALIDATED.add(key)


class DatasetFile:
    """Read access to a dataset file. Tables are loaded at open (they are small); point arrays stay on disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError("no such file", self.path)
        try:
            # no chunk cache: uncompressed chunks are then read straight from the file, only the bytes asked for,
            # which is several times faster for random samples (benchmarks/dataset_io.py)
            self._file = h5py.File(self.path, "r", rdcc_nbytes=0)
        except OSError:
            raise DatasetError("not an HDF5 file (or it is damaged)", self.path) from None
        try:
            self._load_tables()
        except DatasetError:
            self._file.close()
            raise
        except (KeyError, ValueError, TypeError, IndexError, yaml.YAMLError, LfmError) as e:
            self._file.close()
            raise DatasetError(f"not a valid lfm dataset ({e})", self.path) from None
        except (OSError, RuntimeError) as e:  # what HDF5 says of damaged structures inside the file
            self._file.close()
            raise DatasetError(f"damaged ({e})", self.path) from None

    def _load_tables(self) -> None:
        f = self._file
        self._handles: dict[tuple[str, str], h5py.Dataset] = {}
        if f.attrs.get("format") != FORMAT:
            raise DatasetError(
                "not an lfm dataset (missing format attribute); build one with `lfm build-dataset`", self.path
            )
        version = int(f.attrs.get("format_version", -1))
        if version > VERSION:
            raise DatasetError(
                f"format version {version} is newer than this lfm reads ({VERSION}); upgrade lfm", self.path
            )
        self.rigs = (
            {
                name: Rig.from_dict(yaml.safe_load(g.attrs["yaml"]), origin=f"{self.path}:/rigs/{name}")
                for name, g in f["rigs"].items()
            }
            if "rigs" in f
            else {}
        )
        s = f["sequences"]
        self.sequences = {k: s[k].asstr()[()] if s[k].dtype.kind == "O" else s[k][()] for k in s}
        v = f["views"]
        self.views = {k: v[k].asstr()[()] if v[k].dtype.kind == "O" else v[k][()] for k in v}
        lengths = self.sequences["length"]
        self._sample_offsets = np.concatenate([[0], np.cumsum(lengths[self.views["sequence"]])]).astype(np.int64)

    def close(self) -> None:
        self._handles = {}  # an open dataset handle would keep the file open
        self._file.close()

    def __enter__(self) -> DatasetFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def attrs(self) -> dict:
        """The file's attributes: format, version, builder, and what the builder recorded."""
        return dict(self._file.attrs)

    @property
    def num_sequences(self) -> int:
        return len(self.sequences["name"])

    @property
    def num_frames(self) -> int:
        return int(self.sequences["length"].sum())

    @property
    def num_samples(self) -> int:
        """2D training samples: one per frame per view."""
        return int(self._sample_offsets[-1])

    def points(self, rig: str, name: str) -> h5py.Dataset:
        key = (rig, name)
        if key not in self._handles:  # opening a dataset by path costs more than reading one sample from it
            self._handles[key] = self._file[f"points/{rig}/{name}"]
        return self._handles[key]

    def camera(self, view: int) -> Camera:
        v = self.views
        return Camera(
            K=v["K"][view], R=v["R"][view], t=v["t"][view], image_size=tuple(int(x) for x in v["image_size"][view])
        )

    def sequence(self, i: int) -> Sequence:
        """Sequence ``i`` with its views, read into memory."""
        s = self.sequences
        rig = self.rigs[s["rig"][i]]
        start, length = int(s["start"][i]), int(s["length"][i])
        views = []
        for v in np.flatnonzero(self.views["sequence"] == i):
            vs = int(self.views["start"][v])
            views.append(
                View(
                    camera=self.camera(v),
                    points2d=self.points(rig.name, "points2d")[vs : vs + length],
                    visible=self.points(rig.name, "visible")[vs : vs + length],
                    kind=str(self.views["kind"][v]),
                    projection=str(self.views["projection"][v]),
                )
            )
        return Sequence(
            name=s["name"][i],
            category=s["category"][i],
            rig=rig,
            points3d=self.points(rig.name, "points3d")[start : start + length],
            fps=float(s["fps"][i]),
            split=s["split"][i],
            units=s["units"][i],
            up_axis=s["up_axis"][i],
            source=s["source"][i],
            license=s["license"][i],
            views=views,
        )

    def sample(self, k: int) -> dict:
        """Training sample ``k`` (0 <= k < num_samples): frame f of view v."""
        v = int(np.searchsorted(self._sample_offsets, k, side="right") - 1)
        frame = k - int(self._sample_offsets[v])
        i = int(self.views["sequence"][v])
        rig = self.sequences["rig"][i]
        row2d = int(self.views["start"][v]) + frame
        points3d = self.points(rig, "points3d")[int(self.sequences["start"][i]) + frame]
        return {
            "points2d": self.points(rig, "points2d")[row2d],
            "visible": self.points(rig, "visible")[row2d],
            "points3d": points3d,
            "points3d_camera": points3d @ self.views["R"][v].T.astype(np.float32)
            + self.views["t"][v].astype(np.float32),
            "rig": rig,
            "sequence": i,
            "view": v,
            "frame": frame,
        }

    def info(self) -> dict:
        s = self.sequences
        frames = s["length"]

        def tally(column: str) -> dict[str, int]:
            out: Counter = Counter()
            for key, n in zip(s[column], frames, strict=True):
                out[str(key)] += int(n)
            return dict(sorted(out.items()))

        return {
            "path": str(self.path),
            "format_version": int(self._file.attrs["format_version"]),
            "sequences": self.num_sequences,
            "frames": self.num_frames,
            "views": len(self.views["sequence"]),
            "samples": self.num_samples,
            "categories": tally("category"),
            "rigs": {name: rig.num_joints for name, rig in sorted(self.rigs.items())},
            "splits": tally("split"),
            "units": sorted(set(s["units"])),
        }

    def validate(self, block: int = 1 << 16) -> list[str]:
        """Every problem found, as readable lines; an empty list means the file is sound. Reads the point arrays
        in blocks, so files larger than memory are checked too."""
        try:
            return self._problems(block)
        except (OSError, RuntimeError, KeyError) as e:  # what HDF5 says of damaged structures inside the file
            return [f"damaged: {e}"]

    def _problems(self, block: int) -> list[str]:
        s, v = self.sequences, self.views
        missing = [f"sequences/{k}" for k in SEQUENCE_COLUMNS if k not in s]
        missing += [f"views/{k}" for k in VIEW_COLUMNS if k not in v]
        missing += [
            f"points/{rig}/{k}" for rig in self.rigs for k in POINT_ARRAYS if f"points/{rig}/{k}" not in self._file
        ]
        if missing:
            return [f"missing {', '.join(missing)}"]
        problems = [
            f"views/{k} rows have shape {v[k].shape[1:]}, expected {shape}"
            for k, shape in VIEW_COLUMNS.items()
            if v[k].shape[1:] != shape
        ]
        problems += [
            f"{table}/{k} holds {col.dtype}, expected integers"
            for table, cols in (("sequences", s), ("views", v))
            for k, col in cols.items()
            if k in ("start", "length", "sequence") and col.dtype.kind not in "iu"
        ]
        S, V = self.num_sequences, len(v["sequence"])
        for k, col in s.items():
            if len(col) != S:
                problems.append(f"sequences/{k} has {len(col)} rows, expected {S}")
        for k, col in v.items():
            if len(col) != V:
                problems.append(f"views/{k} has {len(col)} rows, expected {V}")
        if problems:
            return problems
        for i in range(S):
            name, rig = s["name"][i], s["rig"][i]
            if rig not in self.rigs:
                problems.append(f"sequence {name!r}: rig {rig!r} is not stored in /rigs")
                continue
            n3 = self.points(rig, "points3d").shape[0]
            if s["length"][i] < 1 or s["start"][i] < 0 or s["start"][i] + s["length"][i] > n3:
                problems.append(f"sequence {name!r}: frames {s['start'][i]}+{s['length'][i]} outside points3d ({n3})")
            if s["split"][i] not in SPLITS:
                problems.append(f"sequence {name!r}: split {s['split'][i]!r} is not one of {SPLITS}")
            if not (np.isfinite(s["fps"][i]) and s["fps"][i] >= 0):
                problems.append(f"sequence {name!r}: fps {s['fps'][i]} must be finite and >= 0")
        if len(set(s["name"])) != S:
            problems.append("sequence names are not unique")
        for j in range(V):
            i = int(v["sequence"][j])
            if not 0 <= i < S:
                problems.append(f"view {j}: sequence index {i} out of range")
                continue
            rig = s["rig"][i]
            if rig not in self.rigs:
                continue
            n2 = self.points(rig, "points2d").shape[0]
            if v["start"][j] < 0 or v["start"][j] + s["length"][i] > n2:
                problems.append(f"view {j} of {s['name'][i]!r}: rows outside points2d ({n2})")
            bad_camera = Camera(v["K"][j], v["R"][j], v["t"][j], tuple(v["image_size"][j])).problem()
            if bad_camera:
                problems.append(f"view {j} of {s['name'][i]!r}: {bad_camera}")
            if v["kind"][j] not in VIEW_KINDS:
                problems.append(f"view {j} of {s['name'][i]!r}: kind {v['kind'][j]!r} is not one of {VIEW_KINDS}")
            if v["projection"][j] not in PROJECTIONS:
                problems.append(f"view {j} of {s['name'][i]!r}: projection {v['projection'][j]!r} is unknown")
        if problems:
            return problems
        problems += self._validate_points(block)
        return problems

    def _validate_points(self, block: int) -> list[str]:
        problems = []
        s, v = self.sequences, self.views
        for rig_name, rig in self.rigs.items():
            J = rig.num_joints
            p3, p2, vis = (self.points(rig_name, k) for k in ("points3d", "points2d", "visible"))
            if p3.shape[1:] != (J, 3) or p2.shape[1:] != (J, 2) or vis.shape[1:] != (J,) or len(vis) != len(p2):
                problems.append(
                    f"rig {rig_name!r}: point arrays {p3.shape}, {p2.shape}, {vis.shape} do not fit {J} joints"
                )
                continue
            for a in range(0, len(p3), block):
                if np.isinf(p3[a : a + block]).any():
                    problems.append(f"rig {rig_name!r}: points3d rows {a}..{a + block} hold infinite values")
            # 3D row of each 2D row, so visibility can be checked against both
            rows3d = np.full(len(p2), -1, dtype=np.int64)
            real = np.zeros(len(p2), bool)  # rows of real views, whose 2D needs no 3D
            for j in np.flatnonzero(s["rig"][v["sequence"]] == rig_name):
                i = v["sequence"][j]
                rows = slice(v["start"][j], v["start"][j] + s["length"][i])
                rows3d[rows] = np.arange(s["start"][i], s["start"][i] + s["length"][i])
                real[rows] = v["kind"][j] == "real"
            for a in range(0, len(p2), block):
                uv, seen, r3 = p2[a : a + block], vis[a : a + block], rows3d[a : a + block]
                if (r3 < 0).any():
                    problems.append(f"rig {rig_name!r}: points2d rows {a}..{a + len(uv)} belong to no view")
                    continue
                xyz_ok = np.isfinite(p3[r3.min() : r3.max() + 1][r3 - r3.min()]).all(-1) | real[a : a + block, None]
                if np.isinf(uv).any():
                    problems.append(f"rig {rig_name!r}: points2d rows {a}..{a + len(uv)} hold infinite values")
                bad = seen & ~(np.isfinite(uv).all(-1) & xyz_ok)
                if bad.any():
                    problems.append(
                        f"rig {rig_name!r}: {int(bad.sum())} points marked visible in rows {a}..{a + len(uv)} "
                        "lack finite 2D (or, in a synthetic view, 3D) coordinates"
                    )
                hidden = ~seen & np.isfinite(uv).any(-1)
                if hidden.any():
                    problems.append(
                        f"rig {rig_name!r}: {int(hidden.sum())} points not visible in rows {a}..{a + len(uv)} "
                        "still carry 2D coordinates (must be NaN)"
                    )
        return problems


def open_dataset(path: str | Path) -> DatasetFile:
    return DatasetFile(path)
