"""2D keypoint files users have: lfm JSON, COCO, OpenPose, DeepLabCut, SLEAP and movement. Each reader returns
`Keypoints2D`.

Missing points are NaN. Several individuals (people, animals) share the arrays along axis 1 and are lifted
separately.
"""

from __future__ import annotations

import csv
import functools
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LfmError
from ..files import read_json, read_text
from ..keypoints import Keypoints2D
from ..rigs import Rig, RigError, get_rig, match_rig
from .tracks import by_track_id, link_tracks


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
    min_confidence: float = 0.0  # below this a point counts as missing, unless --min-confidence says otherwise


READERS: dict[str, Reader] = {}  # name -> reader; detection tries them in this order


def reader(
    name: str, description: str, suffixes: tuple[str, ...], detect: Callable[[Probe], bool], min_confidence: float = 0
):
    """Register the decorated function as the reader of format ``name``."""

    def register(read: Callable[[Path], Keypoints2D]) -> Callable[[Path], Keypoints2D]:
        READERS[name] = Reader(name, description, suffixes, detect, read, min_confidence)
        return read

    return register


def _json_with(key: str) -> Callable[[Probe], bool]:
    return lambda probe: isinstance(probe.json, dict) and key in probe.json


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_id(v) -> bool:
    """An id a file may give an image, annotation, track or person: an integer or a string."""
    return isinstance(v, int | str) and not isinstance(v, bool)


def _list_of_objects(doc: dict, key: str, path: Path) -> list[dict]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise LfmError(f'"{key}" must be a list of objects', path)
    return value


def _positive(value, what: str, path: Path) -> float | None:
    """``value`` as a positive finite number (None stays None)."""
    if value is None:
        return None
    if not _is_number(value) or not 0 < value <= sys.float_info.max:  # an integer may be too large for a float
        raise LfmError(f"{what} must be a positive number, not {value!r}", path)
    return float(value)


def _image_size(size, path: Path) -> tuple[int, int] | None:
    if size is None:
        return None
    if not (isinstance(size, list | tuple) and len(size) == 2 and all(_is_number(v) and 1 <= v < 2**31 for v in size)):
        raise LfmError(f'"image_size" must be [width, height] in pixels, not {size!r}', path)
    return int(size[0]), int(size[1])


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


def _detections(
    points: np.ndarray, conf: np.ndarray, rig, fmt: str, path: Path, ids=None, image_size=None, notes=(), joints=None
) -> Keypoints2D:
    """Stacked detections as a result: joints named by ``joints`` or the rig, individuals by the file's track
    ``ids`` (per frame, per detection) when it has them, else linked from frame to frame."""
    notes = list(notes)
    if ids is not None:
        for t, frame in enumerate(ids):
            if len(set(frame)) < len(frame):
                raise LfmError(f"frame {t}: two detections share one track id", path)
        points, conf, names = by_track_id(ids, points, conf)
    elif points.shape[1] > 1:
        I = points.shape[1]
        points, conf = link_tracks(points, conf)
        names = [str(k) for k in range(points.shape[1])]
        notes.append(
            f"the file has no track ids: up to {I} detections per frame were linked into {len(names)} tracks "
            "by 2D distance"
        )
    else:
        names = ["0"]
    return Keypoints2D(
        points=points,
        confidence=conf,
        joints=joints or _joint_names(rig, points.shape[2]),
        rig=rig,
        individuals=names,
        image_size=image_size,
        format=fmt,
        notes=notes,
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
            elif isinstance(p, list) and len(p) in (2, 3) and all(_is_number(v) for v in p):
                row_p.append(p[:2])
                row_c.append(p[2] if len(p) == 3 else 1.0)
            else:
                raise LfmError(f"frame {t} joint {j}: expected [x, y], [x, y, confidence] or null, got {p!r}", path)
        pts.append(row_p)
        conf.append(row_c)
    points = np.array(pts, np.float32)[:, None]
    if (np.array(conf, np.float64) > 1).any():
        raise LfmError("confidence values above 1 (a confidence runs from 0 to 1)", path)
    rig_spec = doc.get("rig")
    if rig_spec is not None and not isinstance(rig_spec, str | dict):
        raise LfmError('"rig" must be a rig name or {"joints": [...], "edges": [...]}', path)
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
        fps=_positive(doc.get("fps"), '"fps"', path),
        image_size=_image_size(size, path),
        format="lfm-json",
        named=rig is not None,
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
    ([{image_id, keypoints, score}, ...]). Frames are images in id order; individuals are the annotations'
    ``track_id`` (PoseTrack) when every one has it, else detections linked from image to image. COCO-WholeBody
    annotations (foot, face and hand keypoints beside the body) give all 133 points. Visibility 0 (or confidence 0)
    means missing."""
    doc = read_json(path)
    results = not isinstance(doc, dict)
    anns = doc if results else doc.get("annotations")
    if not isinstance(anns, list) or not anns or not all(isinstance(a, dict) and "keypoints" in a for a in anns):
        raise LfmError("no COCO keypoint annotations (a list of objects with 'keypoints')", path)
    whole_body = all(all(k in a for k in WHOLE_BODY_PARTS) for a in anns)
    keys = ("keypoints", *WHOLE_BODY_PARTS) if whole_body else ("keypoints",)
    images_table = _list_of_objects(doc, "images", path) if isinstance(doc, dict) else []
    categories = _list_of_objects(doc, "categories", path) if isinstance(doc, dict) else []
    cats = [c for c in categories if c.get("keypoints")]
    if cats and not (isinstance(cats[0]["keypoints"], list) and all(isinstance(k, str) for k in cats[0]["keypoints"])):
        raise LfmError("category keypoints must be a list of names", path)
    for a in anns:
        for key in ("image_id", "track_id", "id"):
            if a.get(key) is not None and not _is_id(a[key]):
                what = f"annotation {a.get('id', '?')!r}: {key}"
                raise LfmError(f"{what} must be a number or a string, not {a[key]!r}", path)
    rig, named = None, False
    if whole_body:
        rig = get_rig("coco_wholebody_133")
    elif cats:
        from ..rigs import _rig_from_coco

        try:
            rig = match_rig(cats[0]["keypoints"]) or _rig_from_coco({"categories": cats[:1]}, path, None, None)
            named = True
        except RigError:
            rig = None
    J = sum(len(anns[0][k]) for k in keys) // 3
    if rig is None and J == 17:
        rig = get_rig("coco_17")
    images = sorted({a.get("image_id", 0) for a in anns}, key=lambda i: (str(type(i)), i))
    per_image: dict = {i: [] for i in images}
    tracks: dict = {i: [] for i in images}
    for a in anns:
        values = [v for k in keys for v in (a[k] if isinstance(a[k], list) else [a[k]])]
        if not all(_is_number(v) for v in values):
            raise LfmError(f"annotation {a.get('id', '?')}: keypoints must be a list of numbers", path)
        kp = np.asarray(values, np.float64)
        if kp.size != 3 * J:
            raise LfmError(f"annotation {a.get('id', '?')}: {kp.size // 3} keypoints, others have {J}", path)
        per_image[a.get("image_id", 0)].append(kp.reshape(J, 3))
        tracks[a.get("image_id", 0)].append(a.get("track_id"))
    # annotations mark visibility 1 or 2 (labelled); detector results put a confidence there
    points, conf = _stack_detections([per_image[i] for i in images], J, score_is_confidence=results)
    ids = [tracks[i] for i in images]
    size = None
    if images_table and "width" in images_table[0] and "height" in images_table[0]:
        size = _image_size([images_table[0]["width"], images_table[0]["height"]], path)
    kp = _detections(points, conf, rig, "coco", path, _track_ids(ids), size)
    kp.named = named
    files = {im.get("id"): im.get("file_name") for im in images_table if _is_id(im.get("id"))}
    kp.frame_names = [str(files.get(i) or i) for i in images]
    return kp


WHOLE_BODY_PARTS = ("foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")  # after the 17 body points


def _track_ids(ids: list[list]) -> list[list] | None:
    """The per-frame track ids when every detection has one (None stands for "no id"; -1 too, as OpenPose writes)."""
    if all(k is not None and k != -1 for frame in ids for k in frame):
        return ids
    return None


# ----- OpenPose


@reader("openpose", "OpenPose per-frame JSON folder (or one file)", ("/", ".json"), _json_with("people"), 0.1)
def read_openpose(path: Path) -> Keypoints2D:
    """A folder of OpenPose per-frame JSON files (``*_keypoints.json``, sorted by name), or one such file. 25 points
    are BODY_25 or BODY_25B, told apart by where the neck and mid-hip lie; individuals are ``person_id`` when
    OpenPose tracked them, else linked from frame to frame."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise LfmError("no OpenPose .json files in this folder", path)
    frames, ids = [], []
    for f in files:
        doc = read_json(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
            raise LfmError("not an OpenPose file (no 'people' list)", f)
        people = []
        for p in doc["people"]:
            # OpenPose before 1.2 wrote "pose_keypoints"
            values = p.get("pose_keypoints_2d", p.get("pose_keypoints", [])) if isinstance(p, dict) else None
            try:
                people.append(np.asarray(values, np.float64).reshape(-1, 3))
            except (TypeError, ValueError):
                raise LfmError("a person's pose keypoints are not a list of x, y, confidence numbers", f) from None
        frames.append([k for k in people if len(k)])
        pid = [p.get("person_id") for p in doc["people"] if isinstance(p, dict)]
        pid = [(k[0] if len(k) == 1 else None) if isinstance(k, list) else k for k in pid]  # [id] in most versions
        if not all(k is None or _is_id(k) for k in pid):
            raise LfmError(f"person_id must be a number, not {next(k for k in pid if not _is_id(k))!r}", f)
        ids.append([k for k, q in zip(pid, people, strict=True) if len(q)])
    sizes = {len(p) for fr in frames for p in fr}
    if not sizes:
        raise LfmError("no person with pose keypoints in any frame", path)
    if len(sizes) > 1:
        raise LfmError(f"frames disagree on the keypoint count ({sorted(sizes)})", path)
    J = sizes.pop()
    points, conf = _stack_detections(frames, J, score_is_confidence=True)
    rig, note = _body25_variant(points) if J == 25 else ("openpose_coco18" if J == 18 else None, None)
    notes = [note] if note else []
    kp = _detections(points, conf, get_rig(rig) if rig else None, "openpose", path, _track_ids(ids), notes=notes)
    kp.frame_names = [f.name for f in files]
    return kp


def _body25_variant(points: np.ndarray) -> tuple[str | None, str | None]:
    """BODY_25 or BODY_25B for 25-point OpenPose output. BODY_25 puts its neck (1) and mid-hip (8) halfway between
    the shoulders (2, 5) and the hips (9, 12); BODY_25B has no such points, and its upper neck (17) lies near the
    middle of its shoulders (5, 6)."""

    def offset(a, b, c):  # median distance of point a from the middle of b and c, in body sizes
        p = points.reshape(-1, 25, 2)
        ok = np.isfinite(p[:, [a, b, c]]).all((1, 2))
        if not ok.any():
            return np.nan
        p = p[ok]
        size = np.nanmax(np.nanmax(p, 1) - np.nanmin(p, 1), -1)
        return float(np.median(np.linalg.norm(p[:, a] - (p[:, b] + p[:, c]) / 2, axis=-1) / np.maximum(size, 1e-9)))

    neck, mid_hip, upper_neck = offset(1, 2, 5), offset(8, 9, 12), offset(17, 5, 6)
    if neck < 0.05 and mid_hip < 0.05:
        return "openpose_body25", None
    if upper_neck < 0.1 and not mid_hip < 0.15:
        return "openpose_body25b", "25 points without BODY_25's mid-hip: read as BODY_25B (Pose2Sim's model)"
    if np.isnan([neck, mid_hip, upper_neck]).all():
        return "openpose_body25", "too few points to tell BODY_25 from BODY_25B: read as BODY_25 (--rig to change)"
    return None, "25 points that look like neither BODY_25 nor BODY_25B: lifted without a graph (give --rig)"


# ----- DeepLabCut


@reader(
    "dlc",
    "DeepLabCut predictions .csv or .h5",
    (".csv", ".h5", ".hdf5"),
    lambda probe: probe.path.suffix.lower() == ".csv" or "tracks" not in probe.h5_names,
    0.6,  # DeepLabCut's own default pcutoff: its low-likelihood guesses are not points
)
def read_dlc(path: Path) -> Keypoints2D:
    """DeepLabCut predictions: the .csv (header rows scorer, [individuals], bodyparts, coords) or the .h5 (pandas;
    needs the optional pandas and tables packages)."""
    if path.suffix == ".h5":
        missing = LfmError(
            "reading DeepLabCut .h5 needs pandas and tables (pip install 'lfmcli[dlc]'); or give the .csv", path
        )
        try:
            import pandas as pd
        except ImportError:
            raise missing from None
        try:
            df = pd.read_hdf(path)
        except ImportError:  # pandas without tables
            raise missing from None
        except (ValueError, KeyError, OSError) as e:
            raise LfmError(f"cannot read as a DeepLabCut table ({e})", path) from None
        header = [list(map(str, level)) for level in zip(*df.columns, strict=True)]
        values = df.to_numpy(np.float64)
        frames = ["/".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in df.index]
    else:
        try:
            rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
        except csv.Error as e:
            raise LfmError(f"not a CSV file ({e})", path) from None
        n_header = next((k for k, r in enumerate(rows) if r and r[0] == "coords"), None)
        if n_header is None or not rows[n_header + 1 :]:
            raise LfmError("not a DeepLabCut CSV (no 'coords' header row, or no data)", path)
        # index columns: one (the frame or image path) or, from DeepLabCut 2.2, three (folder, video, image)
        coords_row = rows[n_header]
        n_index = 1 + next((k for k, v in enumerate(coords_row[1:]) if v), len(coords_row) - 1)
        header = [r[n_index:] for r in rows[: n_header + 1]]
        if any(len(h) != len(header[-1]) for h in header):
            raise LfmError("the header rows of this DeepLabCut CSV differ in length", path)
        values, frames = [], []
        for line, r in enumerate(rows[n_header + 1 :], n_header + 2):
            if not r:
                continue
            frames.append("/".join(v for v in r[:n_index] if v))
            if len(r) != n_index + len(header[-1]):
                raise LfmError(f"line {line}: {len(r)} columns, the header has {n_index + len(header[-1])}", path)
            try:
                values.append([float(v) if v else np.nan for v in r[n_index:]])
            except ValueError as e:
                raise LfmError(f"line {line}: non-numeric value ({e})", path) from None
        values = np.array(values, np.float64).reshape(-1, len(header[-1]))
    # header rows: scorer, [individuals (multi-animal)], bodyparts, coords
    coords, parts = header[-1], header[-2]
    if "z" in coords:
        raise LfmError(
            "a triangulated 3D DeepLabCut file (x, y, z columns); lfm lift takes 2D: give a camera's 2D file", path
        )
    if len(set(zip(header[-3] if len(header) >= 4 else parts, parts, coords, strict=True))) < len(coords):
        raise LfmError("a body part (of one individual) appears twice in the header", path)
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
    return Keypoints2D(
        points=points,
        confidence=conf,
        joints=joint_names,
        rig=match_rig(joint_names),
        individuals=ind_names,
        format="dlc",
        named=True,
        frame_names=frames,
    )


# ----- SLEAP


@reader("sleap", "SLEAP analysis .h5", (".h5", ".hdf5"), lambda probe: "tracks" in probe.h5_names)
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
    rig = _sleap_rig(nodes, edges if edges is not None else [], path)
    return Keypoints2D(
        points=points,
        confidence=conf,
        joints=nodes,
        rig=rig,
        individuals=names or [str(i) for i in range(points.shape[1])],
        format="sleap",
        named=True,
    )


def _sleap_rig(nodes: list[str], edges, path: Path) -> Rig | None:
    """A shipped rig with these node names, else the skeleton's own (edges as node index pairs; a rig in several
    parts is fine), else None (no edges, or edges that are not a rig: lift without a graph)."""
    rig = match_rig(nodes)
    if rig is not None or not len(edges):
        return rig
    try:
        pairs = [[nodes[int(a)], nodes[int(b)]] for a, b in edges]
        return Rig.from_dict({"name": path.stem, "joints": nodes, "edges": pairs}, origin=str(path))
    except (RigError, IndexError, TypeError, ValueError):
        return None


@reader("slp", "SLEAP project or predictions .slp (needs sleap-io)", (".slp",), lambda probe: True)
def read_slp(path: Path) -> Keypoints2D:
    """A SLEAP labels file (.slp) of one video, through the optional sleap-io package: node names, edges, tracks
    (instances without a track are linked from frame to frame)."""
    try:
        import sleap_io
    except ImportError:
        raise LfmError(
            "reading SLEAP .slp files needs sleap-io (pip install 'lfmcli[sleap]'); or export an analysis file with "
            "`sleap-convert --format analysis` and lift that .h5",
            path,
        ) from None
    try:
        labels = sleap_io.load_slp(str(path))
    except Exception as e:  # sleap-io raises many kinds on damaged files
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LfmError(f"not a readable SLEAP file ({reason})", path) from None
    if len(labels.skeletons) != 1 or len(labels.videos) != 1:
        raise LfmError(
            f"{len(labels.skeletons)} skeletons and {len(labels.videos)} videos; lfm reads one of each per file", path
        )
    skeleton = labels.skeletons[0]
    nodes = list(skeleton.node_names)
    tracked = bool(labels.tracks)
    data = labels.numpy(untracked=not tracked, return_confidence=True).astype(np.float32)  # (T, I, J, 3)
    points, conf = data[..., :2], data[..., 2]
    conf[np.isnan(points).any(-1)] = np.nan
    rig = _sleap_rig(nodes, skeleton.edge_inds, path)
    if tracked:
        kp = Keypoints2D(points, conf, nodes, rig, [t.name for t in labels.tracks], format="slp")
    else:
        kp = _detections(points, conf, rig, "slp", path, joints=nodes)
    kp.named = True
    return kp


# ----- movement


# a movement poses dataset's dimensions, in lfm's order: plural before movement 0.17, singular since
MOVEMENT_DIMS = (("time", "individuals", "keypoints", "space"), ("time", "individual", "keypoint", "space"))


def _movement_dims(names: set[str]) -> tuple[str, ...] | None:
    """The dimensions of a movement poses dataset with these top-level names (None: not one)."""
    return next((dims for dims in MOVEMENT_DIMS if {"position", *dims[1:3]} <= names), None)


@reader("movement", "movement poses dataset .nc", (".nc",), lambda probe: _movement_dims(probe.h5_names) is not None)
def read_movement(path: Path) -> Keypoints2D:
    """A 2D poses dataset that movement saved (``ds.to_netcdf``): position over (time, space, keypoints,
    individuals), confidence over (time, keypoints, individuals), and the frame rate in its fps attribute."""
    import h5netcdf

    try:
        with h5netcdf.File(path, "r", decode_vlen_strings=True) as f:
            v = f.variables
            dims = _movement_dims(set(v))
            if dims is None or set(v["position"].dimensions) != set(dims):
                raise LfmError("not a movement poses dataset (position over time, space, keypoints, individuals)", path)
            order = lambda var: [var.dimensions.index(d) for d in dims if d in var.dimensions]  # noqa: E731
            points = np.transpose(v["position"][...], order(v["position"])).astype(np.float32)
            conf = None
            if "confidence" in v and set(v["confidence"].dimensions) == set(dims[:3]):
                conf = np.transpose(v["confidence"][...], order(v["confidence"])).astype(np.float32)
            individuals, joints = ([str(name) for name in v[d][...]] for d in dims[1:3])
            fps = f.attrs.get("fps")
    except OSError:
        raise LfmError("not a netCDF4 file (or it is damaged)", path) from None
    if points.shape[-1] != 2:
        raise LfmError(f"a {points.shape[-1]}D movement dataset; lfm lift takes 2D positions", path)
    seen = np.isfinite(points).all(-1)
    if conf is None:
        conf = np.ones(points.shape[:3], np.float32)
    conf[seen & np.isnan(conf)] = 1.0  # movement's confidence is NaN where the tracker gave none
    conf[~seen] = np.nan
    return Keypoints2D(
        points=points,
        confidence=conf,
        joints=joints,
        rig=match_rig(joints),
        individuals=individuals,
        fps=_positive(fps, "the fps attribute", path),
        format="movement",
        named=True,
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
    check_keypoints(kp, path)
    return kp


MAX_COORDINATE = 1e7  # pixels; larger values are not image coordinates (and overflow float32 arithmetic)


def check_keypoints(kp: Keypoints2D, path: Path) -> None:
    """What every reader's result must be: frames, joints, coordinates that are numbers of a sane size,
    confidences that are not negative, a positive frame rate."""
    T, _, J = kp.shape
    if T == 0:
        raise LfmError("holds no frames", path)
    if J == 0:
        raise LfmError("holds no keypoints (0 joints per frame)", path)
    _finite(kp.points, path)
    seen = np.isfinite(kp.points)
    if (np.abs(kp.points[seen]) > MAX_COORDINATE).any():
        raise LfmError(f"coordinates beyond {MAX_COORDINATE:g}: these are not image coordinates", path)
    if (kp.confidence < 0).any():
        raise LfmError("negative confidence values (a confidence runs from 0 to 1)", path)
    if len(set(kp.joints)) < len(kp.joints):
        raise LfmError("two keypoints share one name", path)
    if len(kp.joints) != J or (kp.rig is not None and kp.rig.num_joints != J):
        named = kp.rig.num_joints if kp.rig is not None else len(kp.joints)
        raise LfmError(f"{J} keypoints per detection, but the file names {named}", path)
    if kp.fps is not None and not 0 < kp.fps < np.inf:
        raise LfmError(f"frame rate {kp.fps} is not a positive number", path)
