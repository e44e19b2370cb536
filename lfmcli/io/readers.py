"""2D keypoint files users have: lfm JSON, COCO, OpenPose, DeepLabCut and SLEAP. Each reader returns `Keypoints2D`.

Missing points are NaN. Several individuals (people, animals) share the arrays along axis 1 and are lifted
separately.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LfmError
from ..files import read_json
from ..keypoints import Keypoints2D
from ..rigs import Rig, RigError, get_rig, match_rig


class Probe:
    """What format detection looks at, read at most once: the parsed JSON, or the top-level HDF5 names."""

    def __init__(self, path: Path):
        self.path = path

    @functools.cached_property
    def json(self):
        return read_json(self.path)

    @functools.cached_property
    def h5_names(self) -> set[str]:
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                return set(f)
        except OSError:
            raise LfmError("not an HDF5 file (or it is damaged)", self.path) from None


@dataclass(frozen=True)
class Reader:
    """One 2D input format: its name (for --format), what it reads, the file suffixes it takes ("/" for a folder)
    and the test that tells its files from the other formats' files of the same suffix."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    detect: Callable[[Probe], bool]
    read: Callable[[Path], Keypoints2D]


READERS: dict[str, Reader] = {}  # name -> reader; detection tries them in this order


def reader(name: str, description: str, suffixes: tuple[str, ...], detect: Callable[[Probe], bool]):
    """Register the decorated function as the reader of format ``name``."""

    def register(read: Callable[[Path], Keypoints2D]) -> Callable[[Path], Keypoints2D]:
        READERS[name] = Reader(name, description, suffixes, detect, read)
        return read

    return register


def _json_with(key: str) -> Callable[[Probe], bool]:
    return lambda probe: isinstance(probe.json, dict) and key in probe.json


def _finite(points: np.ndarray, path: Path) -> None:
    bad = np.isinf(points).any(-1) | (np.isnan(points).any(-1) & ~np.isnan(points).all(-1))
    if bad.any():
        t, *_ = np.argwhere(bad)[0]
        raise LfmError(f"frame {t}: coordinates must be finite numbers (mark a missing point with null)", path)


def _rig_or_none(spec, joints: list[str], path: Path) -> Rig | None:
    """A rig from a name or an inline mapping; else a shipped rig with exactly these joint names; else None."""
    if spec is None:
        return match_rig(joints) if joints else None
    try:
        rig = get_rig(spec) if isinstance(spec, str) else Rig.from_dict({"name": "input", **spec}, origin=str(path))
    except RigError as e:
        raise LfmError(f"rig: {e}", path) from None
    return rig


def _stack_detections(frames: list[list[np.ndarray]], J: int, score_is_confidence: bool):
    """(T, I, J, 2) points and (T, I, J) confidence from per-frame lists of (J, 3) [x, y, v] detections, where
    v <= 0 marks a missing point (COCO and OpenPose both write it so); v is the confidence when
    ``score_is_confidence``, else a visibility flag and the confidence is 1."""
    people = max(len(fr) for fr in frames)
    points = np.full((len(frames), people, J, 2), np.nan, np.float32)
    conf = np.full((len(frames), people, J), np.nan, np.float32)
    for t, fr in enumerate(frames):
        for i, kp in enumerate(fr):
            seen = kp[:, 2] > 0
            points[t, i][seen] = kp[seen, :2]
            conf[t, i][seen] = kp[seen, 2] if score_is_confidence else 1.0
    return points, conf


def _joint_names(rig, count: int) -> list[str]:
    """The rig's joint names, or joint_00, joint_01, ... when the input names no rig."""
    return list(rig.joints) if rig else [f"joint_{j:02d}" for j in range(count)]


def _detections(points: np.ndarray, conf: np.ndarray, rig, fmt: str, image_size=None) -> Keypoints2D:
    """Stacked detections as a result: joints named by the rig, individuals numbered."""
    return Keypoints2D(
        points=points,
        confidence=conf,
        joints=_joint_names(rig, points.shape[2]),
        rig=rig,
        individuals=[str(i) for i in range(points.shape[1])],
        image_size=image_size,
        format=fmt,
    )


# ----- lfm JSON


@reader("lfm-json", "lfm keypoints JSON", (".json",), _json_with("keypoints"))
def read_lfm_json(path: Path) -> Keypoints2D:
    """{"keypoints": [[[x, y] | [x, y, c] | null, ...per joint], ...per frame], "rig": ..., "fps": ...,
    "image_size": [w, h]}; only "keypoints" is required."""
    doc = read_json(path)
    if not isinstance(doc, dict) or "keypoints" not in doc:
        raise LfmError('expected an object with "keypoints": [[[x, y] or [x, y, confidence] or null, ...], ...]', path)
    frames = doc["keypoints"]
    if not isinstance(frames, list) or not frames:
        raise LfmError('"keypoints" must be a non-empty list of frames', path)
    J = None
    pts, conf = [], []
    for t, frame in enumerate(frames):
        if not isinstance(frame, list) or (J is not None and len(frame) != J):
            raise LfmError(f"frame {t}: expected a list of {J or 'N'} joints", path)
        J = len(frame)
        row_p, row_c = [], []
        for j, p in enumerate(frame):
            if p is None:
                row_p.append([np.nan, np.nan])
                row_c.append(np.nan)
            elif isinstance(p, list) and len(p) in (2, 3) and all(isinstance(v, int | float) for v in p):
                row_p.append(p[:2])
                row_c.append(p[2] if len(p) == 3 else 1.0)
            else:
                raise LfmError(f"frame {t} joint {j}: expected [x, y], [x, y, confidence] or null, got {p!r}", path)
        pts.append(row_p)
        conf.append(row_c)
    points = np.array(pts, np.float32)[:, None]
    _finite(points, path)
    rig_spec = doc.get("rig")
    rig = _rig_or_none(rig_spec, [], path) if rig_spec is not None else None
    if rig is not None and rig.num_joints != J:
        raise LfmError(f"{J} joints per frame, but rig {rig.name!r} has {rig.num_joints}", path)
    size = doc.get("image_size")
    return Keypoints2D(
        points=points,
        confidence=np.array(conf, np.float32)[:, None],
        joints=_joint_names(rig, J),
        rig=rig,
        individuals=["0"],
        fps=float(doc["fps"]) if doc.get("fps") else None,
        image_size=tuple(int(v) for v in size) if size else None,
        format="lfm-json",
    )


# ----- COCO


@reader(
    "coco",
    "COCO annotations or detector results JSON",
    (".json",),
    lambda probe: _json_with("annotations")(probe) or isinstance(probe.json, list),
)
def read_coco(path: Path) -> Keypoints2D:
    """A COCO keypoint annotation file (images, annotations, categories) or a detector result list
    ([{image_id, keypoints, score}, ...]). Frames are images in id order; individuals are the detections of an
    image in order. Visibility 0 (or confidence 0) means missing."""
    doc = read_json(path)
    results = not isinstance(doc, dict)
    anns = doc if results else doc.get("annotations")
    if not isinstance(anns, list) or not anns or not all(isinstance(a, dict) and "keypoints" in a for a in anns):
        raise LfmError("no COCO keypoint annotations (a list of objects with 'keypoints')", path)
    cats = [c for c in (doc.get("categories", []) if isinstance(doc, dict) else []) if c.get("keypoints")]
    rig = None
    if cats:
        from ..rigs import _rig_from_coco

        try:
            rig = match_rig(cats[0]["keypoints"]) or _rig_from_coco({"categories": cats[:1]}, path, None, None)
        except RigError:
            rig = None
    J = len(anns[0]["keypoints"]) // 3
    if rig is None and J == 17:
        rig = get_rig("coco_17")
    images = sorted({a.get("image_id", 0) for a in anns})
    per_image: dict = {i: [] for i in images}
    for a in anns:
        kp = np.asarray(a["keypoints"], np.float64)
        if kp.size != 3 * J:
            raise LfmError(f"annotation {a.get('id', '?')}: {kp.size // 3} keypoints, others have {J}", path)
        per_image[a.get("image_id", 0)].append(kp.reshape(J, 3))
    # annotations mark visibility 1 or 2 (labelled); detector results put a confidence there
    points, conf = _stack_detections([per_image[i] for i in images], J, score_is_confidence=results)
    _finite(points, path)
    size = None
    if isinstance(doc, dict) and doc.get("images"):
        im = doc["images"][0]
        size = (int(im["width"]), int(im["height"])) if "width" in im and "height" in im else None
    return _detections(points, conf, rig, "coco", size)


# ----- OpenPose


@reader("openpose", "OpenPose per-frame JSON folder (or one file)", ("/", ".json"), _json_with("people"))
def read_openpose(path: Path) -> Keypoints2D:
    """A folder of OpenPose per-frame JSON files (``*_keypoints.json``, sorted by name), or one such file."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise LfmError("no OpenPose .json files in this folder", path)
    frames = []
    for f in files:
        doc = read_json(f)
        if not isinstance(doc, dict) or "people" not in doc:
            raise LfmError("not an OpenPose file (no 'people')", f)
        frames.append([np.asarray(p.get("pose_keypoints_2d", []), np.float64).reshape(-1, 3) for p in doc["people"]])
    sizes = {len(p) for fr in frames for p in fr}
    if not sizes:
        raise LfmError("no person detected in any frame", path)
    if len(sizes) > 1:
        raise LfmError(f"frames disagree on the keypoint count ({sorted(sizes)})", path)
    J = sizes.pop()
    rig = {25: "openpose_body25", 18: "openpose_coco18"}.get(J)
    points, conf = _stack_detections(frames, J, score_is_confidence=True)
    return _detections(points, conf, get_rig(rig) if rig else None, "openpose")


# ----- DeepLabCut


@reader(
    "dlc",
    "DeepLabCut predictions .csv or .h5",
    (".csv", ".h5", ".hdf5"),
    lambda probe: probe.path.suffix.lower() == ".csv" or "tracks" not in probe.h5_names,
)
def read_dlc(path: Path) -> Keypoints2D:
    """DeepLabCut predictions: the .csv (header rows scorer, [individuals], bodyparts, coords) or the .h5 (pandas;
    needs the optional pandas and tables packages)."""
    if path.suffix == ".h5":
        try:
            import pandas as pd
        except ImportError:
            raise LfmError(
                "reading DeepLabCut .h5 needs pandas and tables (pip install 'lfmcli[dlc]'); or give the .csv", path
            ) from None
        try:
            df = pd.read_hdf(path)
        except (ImportError, ValueError, KeyError, OSError) as e:
            raise LfmError(f"cannot read as a DeepLabCut table ({e})", path) from None
        header = [list(map(str, level)) for level in zip(*df.columns, strict=True)]
        values = df.to_numpy(np.float64)
    else:
        try:
            with open(path, newline="") as f:
                rows = list(csv.reader(f))
        except FileNotFoundError:
            raise LfmError("no such file", path) from None
        n_header = next((k for k, r in enumerate(rows) if r and r[0] == "coords"), None)
        if n_header is None or not rows[n_header + 1 :]:
            raise LfmError("not a DeepLabCut CSV (no 'coords' header row, or no data)", path)
        header = [r[1:] for r in rows[: n_header + 1]]
        try:
            values = np.array(
                [[float(v) if v else np.nan for v in r[1:]] for r in rows[n_header + 1 :] if r], np.float64
            )
        except ValueError as e:
            raise LfmError(f"non-numeric value in the data ({e})", path) from None
    # header rows: scorer, [individuals (multi-animal)], bodyparts, coords
    coords, parts = header[-1], header[-2]
    individuals = header[-3] if len(header) >= 4 else ["0"] * len(parts)
    ind_names = list(dict.fromkeys(individuals))
    joint_names = list(dict.fromkeys(parts))
    T = len(values)
    points = np.full((T, len(ind_names), len(joint_names), 2), np.nan, np.float32)
    conf = np.ones((T, len(ind_names), len(joint_names)), np.float32)
    for c, (ind, part, coord) in enumerate(zip(individuals, parts, coords, strict=True)):
        i, j = ind_names.index(ind), joint_names.index(part)
        if coord in ("x", "y"):
            points[:, i, j, "xy".index(coord)] = values[:, c]
        elif coord == "likelihood":
            conf[:, i, j] = values[:, c]
    missing = np.isnan(points).any(-1)
    points[missing], conf[missing] = np.nan, np.nan
    _finite(points, path)
    return Keypoints2D(
        points=points,
        confidence=conf,
        joints=joint_names,
        rig=match_rig(joint_names),
        individuals=ind_names,
        format="dlc",
    )


# ----- SLEAP


@reader("sleap", "SLEAP analysis .h5", (".h5", ".hdf5", ".slp"), lambda probe: "tracks" in probe.h5_names)
def read_sleap(path: Path) -> Keypoints2D:
    """A SLEAP analysis .h5: tracks (tracks, 2, nodes, frames), node_names, optional track_names, point_scores and
    edge_inds."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "tracks" not in f or "node_names" not in f:
                raise LfmError("not a SLEAP analysis file (needs 'tracks' and 'node_names')", path)
            tracks = f["tracks"][()]
            nodes = [n.decode() if isinstance(n, bytes) else str(n) for n in f["node_names"][()]]
            names = (
                [n.decode() if isinstance(n, bytes) else str(n) for n in f["track_names"][()]]
                if "track_names" in f
                else []
            )
            scores = f["point_scores"][()] if "point_scores" in f else None
            edges = f["edge_inds"][()] if "edge_inds" in f else None
    except OSError:
        raise LfmError("not an HDF5 file (or it is damaged)", path) from None
    if tracks.ndim != 4 or tracks.shape[1] != 2 or tracks.shape[2] != len(nodes):
        raise LfmError(f"tracks has shape {tracks.shape}; expected (tracks, 2, {len(nodes)} nodes, frames)", path)
    points = np.transpose(tracks, (3, 0, 2, 1)).astype(np.float32)  # (frames, tracks, nodes, 2)
    conf = (
        np.transpose(scores, (2, 0, 1)).astype(np.float32)
        if scores is not None and scores.shape == tracks.shape[:1] + tracks.shape[2:]
        else np.ones(points.shape[:3], np.float32)
    )
    conf[np.isnan(points).any(-1)] = np.nan
    _finite(points, path)
    rig = match_rig(nodes)
    if rig is None and edges is not None and len(edges):
        try:
            rig = Rig.from_dict(
                {"name": path.stem, "joints": nodes, "edges": [[nodes[int(a)], nodes[int(b)]] for a, b in edges]},
                origin=str(path),
            )
        except RigError:
            rig = None  # SLEAP skeletons may leave nodes unconnected: lift without a graph
    return Keypoints2D(
        points=points,
        confidence=conf,
        joints=nodes,
        rig=rig,
        individuals=names or [str(i) for i in range(points.shape[1])],
        format="sleap",
    )


def detect_format(path: Path) -> str:
    """The name of the first reader that takes this file's suffix and recognises its content."""
    if not path.exists():
        raise LfmError("no such file or folder", path)
    probe = Probe(path)
    suffix = "/" if path.is_dir() else path.suffix.lower()
    for r in READERS.values():
        if suffix in r.suffixes and (suffix == "/" or r.detect(probe)):
            return r.name
    raise LfmError(f"unknown input format; give --format ({', '.join(READERS)})", path)


def read_keypoints(path: str | Path, fmt: str | None = None) -> Keypoints2D:
    """The 2D keypoints of a file in format ``fmt`` (a key of READERS; detected when None)."""
    path = Path(path)
    if not path.exists():
        raise LfmError("no such file or folder", path)
    fmt = fmt or detect_format(path)
    if fmt not in READERS:
        raise LfmError(f"--format {fmt!r}: choose from {', '.join(READERS)}")
    kp = READERS[fmt].read(path)
    if kp.points.shape[0] == 0:
        raise LfmError("holds no frames", path)
    return kp
