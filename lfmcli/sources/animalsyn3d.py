"""AnimalSyn3D: lifting data from DeformingThings4D animated meshes (Fusco et al., "Object Agnostic 3D Lifting in
Space and Time").

1. Virtual markers: each joint of a rig is the mean of a group of mesh vertices. A marker file (YAML) per character
   names the rig and, for each joint, its vertex indices::

       character: bear3EP
       rig: animalsyn3d_bear3EP      # a shipped rig name, or an inline rig mapping (joints, edges, root)
       category: bear
       up_axis: z                    # DeformingThings4D meshes are z-up
       units: m
       markers: {spine: [1021, 1022, ...], ...}

   Marker groups can also be taken from AnimalSyn3D's released per-animation JSON (``joint_group_idxs``).
2. Bone-length refinement: inverse kinematics fits a skeleton of constant bone lengths (those of the first frame)
   to the marker joints, batched over all frames of all sequences of a rig (``geometry.kinematics``).
3. Cameras are added by the dataset writer: one or more random cameras rotated about the vertical axis.

Animations are found as ``<character>_<action>/<character>_<action>.anime``.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..data.build import Plan, Planned, Progress, source
from ..errors import LfmError
from ..files import atomic_path, find_files, read_json, read_text
from ..geometry.cameras import Camera
from ..geometry.kinematics import bone_offsets, refine_bone_lengths
from ..rigs import Rig, RigError, get_rig, shipped_rigs
from ..sequence import PROJECTIONS, Sequence, View
from .anime import read_anime


@dataclass
class MarkerSet:
    character: str
    rig: Rig
    groups: list[np.ndarray]  # vertex indices of each rig joint, in rig order
    category: str
    up_axis: str = "z"
    units: str = "m"

    def joints(self, vertices: np.ndarray, origin: str | Path = "") -> np.ndarray:
        """(F, J, 3) marker joints: the mean of each joint's vertex group in every frame."""
        nv = vertices.shape[1]
        top = max(int(g.max()) for g in self.groups)
        if top >= nv:
            raise LfmError(
                f"marker vertex index {top} is out of range: the mesh has {nv} vertices "
                f"(markers of {self.character!r})",
                origin or None,
            )
        return np.stack([vertices[:, g].mean(1) for g in self.groups], 1)

    def to_dict(self) -> dict:
        shipped = shipped_rigs().get(self.rig.name)
        return {
            "character": self.character,
            "rig": self.rig.name if shipped == self.rig else self.rig.to_dict(),
            "category": self.category,
            "up_axis": self.up_axis,
            "units": self.units,
            "markers": {j: [int(i) for i in g] for j, g in zip(self.rig.joints, self.groups, strict=True)},
        }

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=110))


def load_markers(path: str | Path) -> MarkerSet:
    """A marker YAML file, validated: every rig joint needs a non-empty group of non-negative vertex indices."""
    path = Path(path)
    try:
        doc = yaml.safe_load(read_text(path))
    except yaml.YAMLError:
        raise LfmError("malformed YAML", path) from None
    if not isinstance(doc, dict) or not {"character", "rig", "markers"} <= set(doc):
        raise LfmError("a marker file needs 'character', 'rig' and 'markers'", path)
    if not isinstance(doc["rig"], (str, dict)):
        raise LfmError("'rig' must be a shipped rig name or a rig mapping", path)
    try:
        rig = Rig.from_dict(doc["rig"], origin=str(path)) if isinstance(doc["rig"], dict) else get_rig(doc["rig"])
    except RigError as e:
        raise LfmError(f"its rig: {e}", path) from None
    markers = doc["markers"]
    if not isinstance(markers, dict):
        raise LfmError("'markers' must map joint names to vertex index lists", path)
    missing = [j for j in rig.joints if j not in markers]
    extra = [j for j in markers if j not in rig.joints]
    if missing or extra:
        raise LfmError(f"markers do not match rig {rig.name!r}: missing {missing[:5]}, unknown {extra[:5]}", path)
    groups = []
    for j in rig.joints:
        g = _vertex_indices(markers[j])
        if g is None:
            raise LfmError(f"markers of joint {j!r} must be a non-empty list of vertex indices", path)
        groups.append(g)
    up_axis = str(doc.get("up_axis", "z"))
    if up_axis not in ("x", "y", "z"):
        raise LfmError(f"up_axis {up_axis!r} must be x, y or z", path)
    return MarkerSet(
        character=str(doc["character"]),
        rig=rig,
        groups=groups,
        up_axis=up_axis,
        category=str(doc.get("category") or rig.category or doc["character"]),
        units=str(doc.get("units", "m")),
    )


def _vertex_indices(value) -> np.ndarray | None:
    """A marker group, a non-empty list of vertex indices, as an array; None for anything else."""
    if isinstance(value, list) and value and all(type(i) is int and 0 <= i < 2**63 for i in value):
        return np.array(value, np.int64)
    return None


def _rig_from_connections(model: str, connections, num_joints: int, path: Path) -> Rig:
    """The shipped AnimalSyn3D rig of ``model`` when its edges are these connections, else one built from them."""

    def joint_pair(c) -> bool:
        return isinstance(c, list) and len(c) == 2 and c[0] != c[1] and all(type(i) is int for i in c)

    if not isinstance(connections, list) or not all(map(joint_pair, connections)):
        raise LfmError("'connections' must be a list of [joint, joint] index pairs", path)
    if any(not 0 <= i < num_joints for c in connections for i in c):
        raise LfmError(f"'connections' name a joint outside the {num_joints} joints", path)
    pairs = {frozenset(c) for c in connections}
    shipped = shipped_rigs().get(f"animalsyn3d_{model}")
    if shipped is not None and shipped.num_joints == num_joints and {frozenset(e) for e in shipped.edges} == pairs:
        return shipped
    names = [f"joint_{i:02d}" for i in range(num_joints)]
    try:
        return Rig.from_dict(
            {
                "name": f"animalsyn3d_{model}_{num_joints}",
                "joints": names,
                "edges": [[names[a], names[b]] for a, b in (sorted(p) for p in pairs)],
                "category": _animal(model),
            },
            origin=str(path),
        )
    except RigError as e:
        raise LfmError(f"its connections do not form a rig: {e}", path) from None


def _animal(model: str) -> str:
    m = re.match(r"[a-z]+", model)
    return m.group(0) if m else model


def markers_from_json(path: str | Path) -> MarkerSet:
    """Marker groups (``joint_group_idxs``) and skeleton (``connections``) from an AnimalSyn3D animation JSON."""
    path = Path(path)
    doc = read_json(path, dict)
    for key in ("model", "joint_group_idxs", "connections"):
        if key not in doc:
            raise LfmError(f"missing key {key!r}; not an AnimalSyn3D animation file", path)
    if not isinstance(doc["model"], str):
        raise LfmError("'model' must be the name of the animal model", path)
    given = doc["joint_group_idxs"]
    groups = [_vertex_indices(g) for g in given] if isinstance(given, list) else []
    if not groups or any(g is None for g in groups):
        raise LfmError("'joint_group_idxs' must hold a non-empty index list per joint", path)
    rig = _rig_from_connections(str(doc["model"]), doc["connections"], len(groups), path)
    return MarkerSet(
        character=str(doc["model"]), rig=rig, groups=groups, category=rig.category or _animal(doc["model"])
    )


def find_markers(paths: Iterable[str | Path]) -> dict[str, MarkerSet]:
    """Marker sets by character from marker YAML files and AnimalSyn3D JSON files (folders searched recursively)."""
    found: dict[str, MarkerSet] = {}
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml", ".json")) if p.is_dir() else [p]
        if not p.exists():
            raise LfmError("no such file or folder", p)
        for f in files:
            ms = markers_from_json(f) if f.suffix == ".json" else load_markers(f)
            if ms.rig.parents is None:  # bone refinement follows the tree from the root
                raise LfmError(f"rig {ms.rig.name!r} has no kinematic tree ('root' or 'parents')", f)
            found.setdefault(ms.character, ms)
    if not found:
        raise LfmError(f"no marker files (.yaml or AnimalSyn3D .json) in {', '.join(map(str, paths))}")
    return found


def character_of(anime: Path) -> tuple[str, str]:
    """(character, action) from a DeformingThings4D name ``<character>_<action>``."""
    stem = anime.stem
    character, _, action = stem.partition("_")
    return character, action or stem


def refine(
    items: list[tuple[str, np.ndarray]],
    parents,
    smooth: float,
    steps: int,
    device: str,
    progress: Callable[[], None] | None = None,
) -> tuple[list[np.ndarray], list[dict]]:
    """IK-refine several sequences of one rig together; returns refined points and a report row per sequence."""
    lengths = [len(p) for _, p in items]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    stacked = np.concatenate([p for _, p in items]).astype(np.float64)
    refined, errors = refine_bone_lengths(
        stacked, parents, starts, smooth_weight=smooth, steps=steps, device=device, progress=progress
    )
    if not np.isfinite(refined[np.isfinite(stacked).all(-1)]).all():  # where the markers were, joints must be
        raise LfmError(f"bone refinement diverged (--smooth {smooth:g} too large?)")
    out, rows = [], []
    for k, (name, markers) in enumerate(items):
        seq = refined[starts[k] : starts[k] + lengths[k]].astype(np.float32)
        out.append(seq)
        rows.append(
            {
                "sequence": name,
                "frames": lengths[k],
                "rms_before": float(errors["rms_before"][k]),
                "rms_after": float(errors["rms_after"][k]),
                "bone_cv_before": bone_cv(markers, parents),
                "bone_cv_after": bone_cv(seq, parents),
            }
        )
    return out, rows


def bone_cv(points: np.ndarray, parents) -> float:
    """Largest coefficient of variation of a bone's length over the frames (0 = perfectly rigid bones)."""
    lengths = np.linalg.norm(bone_offsets(points, parents), axis=-1)[:, [j for j, p in enumerate(parents) if p >= 0]]
    mean = lengths.mean(0)
    return float((lengths.std(0) / np.where(mean > 0, mean, 1)).max()) if lengths.size else 0.0


def plan(
    paths: Iterable[str | Path],
    markers: dict[str, MarkerSet],
    *,
    fps: float = 30.0,
    smooth: float = 0.1,
    steps: int = 100,
    device: str = "cpu",
    skip_bad: bool = False,
    on_read: Callable[[str], None] | None = None,
    on_step: Callable[[], None] | None = None,
    source: str = "DeformingThings4D",
) -> tuple[list[Planned], list[dict], list[tuple[str, str]]]:
    """Read every animation, compute its marker joints, refine bones per rig; returns the planned sequences, the
    refinement report (a row per sequence) and the skipped files with their problem."""
    by_rig: dict[str, list[tuple[str, np.ndarray, MarkerSet]]] = defaultdict(list)
    skipped: list[tuple[str, str]] = []
    for path, root in find_files(paths, ".anime"):
        name = path.relative_to(root).with_suffix("").as_posix()
        character, _ = character_of(path)
        try:
            if character not in markers:
                raise LfmError(f"no marker file for character {character!r}", path)
            ms = markers[character]
            mesh = read_anime(path)
            by_rig[ms.rig.name].append((name, ms.joints(mesh.vertices, path), ms))
        except LfmError as e:
            if not skip_bad:
                raise
            skipped.append((name, str(e)))
        if on_read:
            on_read(name)
    planned, report = [], []
    for items in by_rig.values():
        ms0 = items[0][2]
        refined, rows = refine([(n, p) for n, p, _ in items], list(ms0.rig.parents), smooth, steps, device, on_step)
        report += rows
        for (name, _, ms), points in zip(items, refined, strict=True):
            seq = Sequence(
                name=name,
                category=ms.category,
                rig=ms.rig,
                points3d=points,
                fps=fps,
                up_axis=ms.up_axis,
                units=ms.units,
                source=source,
                license="see the DeformingThings4D terms",
            )
            planned.append(Planned(name, ms.category, lambda seq=seq: seq))
    if not planned:
        raise LfmError("no animation could be read" + (f"; the first problem: {skipped[0][1]}" if skipped else ""))
    return planned, report, skipped


def read_release_json(path: Path, name: str) -> Sequence:
    """One animation of the released AnimalSyn3D dataset with its own camera: camera-frame 3D (``points.cam_3d``),
    projected 2D (``points.2d``) and intrinsics; the 3D is stored in that camera's frame (R = I, t = 0)."""
    doc = read_json(path, dict)
    try:
        model, connections = doc["model"], doc["connections"]
        with np.errstate(over="ignore"):  # values beyond 32-bit floats become inf, refused below
            cam3d = np.asarray(doc["points"]["cam_3d"], dtype=np.float32)[..., :3]
            uv = np.asarray(doc["points"]["2d"], dtype=np.float32)
        K = np.asarray(doc["camera"]["intrinsic"], dtype=np.float64)
        size = (int(doc["camera"]["width"]), int(doc["camera"]["height"]))
        fps = float(doc.get("fps", 30.0))
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as e:
        raise LfmError(f"missing or malformed AnimalSyn3D field ({e})", path) from None
    if not isinstance(model, str):
        raise LfmError("'model' must be the name of the animal model", path)
    if cam3d.ndim != 3 or uv.shape != (*cam3d.shape[:2], 2) or K.shape != (3, 3):
        raise LfmError(f"shapes do not fit: cam_3d {cam3d.shape}, 2d {uv.shape}, intrinsic {K.shape}", path)
    if np.isinf(cam3d).any() or np.isinf(uv).any():
        raise LfmError("cam_3d or 2d holds infinite values (or beyond 32-bit floats)", path)
    if not (math.isfinite(fps) and fps > 0):
        raise LfmError(f"fps {fps} is not a frame rate", path)
    rig = _rig_from_connections(model, connections, cam3d.shape[1], path)
    camera = Camera(K=K, R=np.eye(3), t=np.zeros(3), image_size=size)
    if camera.problem():
        raise LfmError(f"its {camera.problem()}", path)
    visible = np.isfinite(uv).all(-1) & np.isfinite(cam3d).all(-1)
    return Sequence(
        name=name,
        category=rig.category or _animal(model),
        rig=rig,
        points3d=cam3d,
        fps=fps,
        up_axis="y",
        units="m",
        source=f"AnimalSyn3D release ({doc.get('animation', path.stem)})",
        license="see the AnimalSyn3D and DeformingThings4D terms",
        views=[View(camera=camera, points2d=uv, visible=visible, kind="synthetic")],
    )


def plan_release(paths: Iterable[str | Path]) -> list[Planned]:
    """One sequence per released AnimalSyn3D animation JSON (``<animal>/<animation>.json``)."""
    planned = []
    for path, root in find_files(paths, ".json"):
        name = path.relative_to(root).with_suffix("").as_posix()
        category = _animal(path.parent.name.lower()) if path.parent != root else "animal"
        planned.append(Planned(name, category, lambda path=path, name=name: read_release_json(path, name)))
    return planned


@dataclass
class MeshOptions:
    """How animated meshes become lifting data (the AnimalSyn3D path)."""

    fps: float = 30.0  # frame rate of the animations
    smooth: float = 0.1  # weight of the temporal smoothness term in bone refinement
    ik_steps: int = 100  # Adam steps of the bone-length refinement
    device: str = "auto"  # where refinement runs
    projection: str = "perspective"  # or weak (one depth per frame)
    image_size: int = 1080  # square image side in pixels
    focal: float = 1050.0  # focal length in pixels (1050 on 1080 px is a 35 mm lens on 36 mm)
    skip_bad: bool = False

    def __post_init__(self):
        if self.projection not in PROJECTIONS:
            raise LfmError(f"--projection {self.projection!r}: use {' or '.join(PROJECTIONS)}")
        for name, value in (("fps", self.fps), ("image-size", self.image_size), ("focal", self.focal)):
            if not (math.isfinite(value) and value > 0):
                raise LfmError(f"--{name} {value}: give a positive number")
        if not (math.isfinite(self.smooth) and self.smooth >= 0) or self.ik_steps < 0:
            raise LfmError("--smooth and --ik-steps must not be negative")


def meshes_to_plan(anime_paths, marker_paths, options: MeshOptions, progress: Progress | None = None) -> Plan:
    """Markers, bone refinement and camera settings for the animations in ``anime_paths``."""
    from ..devices import resolve_device

    markers = find_markers(marker_paths)
    dev = resolve_device(options.device)
    refining = f"refining bones on {dev}"
    planned, report, skipped = plan(
        anime_paths,
        markers,
        fps=options.fps,
        smooth=options.smooth,
        steps=options.ik_steps,
        device=dev,
        skip_bad=options.skip_bad,
        on_read=progress and (lambda name: progress("reading meshes", name, None)),
        on_step=progress and (lambda: progress(refining, "", None)),
    )
    camera = {
        "elevation_deg": (0.0, 0.0),
        "image_size": (options.image_size, options.image_size),
        "focal": options.focal,
        "projection": options.projection,
    }
    return Plan(planned, camera, {"refinement": json.dumps(report)}, report, skipped)


@dataclass
class AnimalSyn3DOptions(MeshOptions):
    markers: list[Path] = field(default_factory=list)  # marker YAML files, AnimalSyn3D JSON files, or folders

    def __post_init__(self):
        super().__post_init__()
        if not self.markers:
            raise LfmError("--markers: give the marker files (YAML or AnimalSyn3D JSON) or their folders")


@source("animalsyn3d", "DeformingThings4D animated meshes with marker files (AnimalSyn3D)", AnimalSyn3DOptions)
def _plan_meshes(paths: list[Path], options: AnimalSyn3DOptions, progress: Progress | None = None) -> Plan:
    return meshes_to_plan(paths, options.markers, options, progress)


@dataclass
class ReleaseOptions:
    pass


@source("animalsyn3d-json", "the released AnimalSyn3D JSON files, as they are", ReleaseOptions)
def _plan_release(paths: list[Path], options: ReleaseOptions, progress: Progress | None = None) -> Plan:
    return Plan(plan_release(paths))
