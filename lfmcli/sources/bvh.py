"""BVH motion capture (any skeleton) through forward kinematics.

The rig comes from the hierarchy (end sites optional). BVH has no units: ``scale`` gives metres per file unit;
by default it is guessed from the size of the body it gives (`guess_scale`): the CMU unit (0.056444 m) first for
CMU skeletons (recognised by their LHipJoint/RHipJoint joints), then metres, centimetres and so on. ``fps``
resamples the motion (rotations by slerp, root position linearly), so bones keep their lengths exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ..data.build import Plan, Planned, source
from ..errors import LfmError, printable
from ..files import find_files, read_text
from ..rigs import Rig, match_rig
from ..sequence import Sequence

CMU_UNIT = 0.056444  # metres per CMU BVH unit: (1 / 0.45) inch
AXES = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
POSITIONS = ("Xposition", "Yposition", "Zposition")


@dataclass
class BvhMotion:
    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[np.ndarray] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    end_site: list[bool] = field(default_factory=list)
    frame_time: float = 0.0
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (F, total channels)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time


def parse_bvh(path: Path, frames: int | None = None) -> BvhMotion:
    """Read a BVH file (only its first ``frames`` motion rows when given); a broken hierarchy or motion block is an
    LfmError naming the file and line."""
    lines = read_text(path).splitlines()
    m = BvhMotion()
    stack: list[int] = []
    pending: int | None = None  # the joint whose "{" comes next
    i = 0

    def fail(msg: str) -> LfmError:
        return LfmError(f"line {i + 1}: {msg}", path)

    if not lines or lines[0].strip() != "HIERARCHY":
        raise LfmError("not a BVH file (first line is not HIERARCHY)", path)
    for i in range(1, len(lines)):
        tok = lines[i].split()
        if not tok:
            continue
        key = tok[0]
        if key in ("ROOT", "JOINT") or (key == "End" and tok[1:2] == ["Site"]):
            if key == "ROOT" and (m.names or stack):
                raise fail("only one ROOT is supported")
            if key != "ROOT" and not stack:
                raise fail(f"{key} outside any joint")
            parent = stack[-1] if stack else -1
            name = f"{m.names[parent]}_end" if key == "End" else (tok[1] if len(tok) > 1 else "")
            if not name:
                raise fail(f"{key} without a name")
            m.names.append(name)
            m.parents.append(parent)
            m.offsets.append(np.zeros(3))
            m.channels.append([])
            m.end_site.append(key == "End")
            pending = len(m.names) - 1
        elif key == "{":
            if pending is None:
                raise fail("'{' without a joint")
            stack.append(pending)
            pending = None
        elif key == "}":
            if not stack:
                raise fail("unbalanced '}'")
            stack.pop()
        elif key == "OFFSET":
            if not stack:
                raise fail("OFFSET outside a joint")
            try:
                offset = np.array([float(x) for x in tok[1:4]])
            except ValueError:
                offset = np.zeros(0)
            if offset.shape != (3,) or not np.isfinite(offset).all():
                raise fail(f"OFFSET needs three finite numbers, not {' '.join(tok[1:4])!r}")
            m.offsets[stack[-1]] = offset
        elif key == "CHANNELS":
            if not stack:
                raise fail("CHANNELS outside a joint")
            try:
                n = int(tok[1])
            except (ValueError, IndexError):
                raise fail("CHANNELS needs a count") from None
            names = tok[2:]
            joint = m.names[stack[-1]]
            if len(names) != n or any(c not in AXES and c not in POSITIONS for c in names):
                raise fail(f"joint {joint!r}: CHANNELS lists {names}, expected {n} of X/Y/Z position/rotation")
            # Euler angles need three distinct axes (or none: a joint that only moves)
            rotations = [c for c in names if c in AXES]
            if len(set(names)) < len(names) or len(rotations) not in (0, 3):
                raise fail(f"joint {joint!r}: CHANNELS {' '.join(names)}; give each of X, Y, Z rotation once")
            m.channels[stack[-1]] = names
        elif key == "MOTION":
            if stack or pending is not None:
                raise fail("MOTION before the hierarchy is closed (unbalanced braces)")
            break
        else:
            raise fail(f"unexpected {key!r} in the hierarchy")
    else:
        raise LfmError("no MOTION section", path)
    if not m.names:
        raise LfmError("the hierarchy has no joints", path)
    try:
        count = int(lines[i + 1].split(":")[1])
        m.frame_time = float(lines[i + 2].split(":")[1])
        first = i + 3  # the line index of the first motion row
        numbered = list(islice(((k, ln.split()) for k, ln in enumerate(lines[first:], first) if ln.strip()), frames))
        rows = [r for _, r in numbered]
        m.values = np.array(rows, dtype=float) if rows else np.zeros((0, 0))
    except (IndexError, ValueError):
        raise LfmError(
            "malformed MOTION block (expected 'Frames: N', 'Frame Time: dt', then rows of numbers)", path
        ) from None
    total = sum(len(c) for c in m.channels)
    need = count if frames is None else min(count, frames)
    if count < 1 or m.values.shape != (need, total):
        raise LfmError(f"MOTION has {m.values.shape} values, the header and hierarchy need ({need}, {total})", path)
    if not 0 < m.frame_time < math.inf:
        raise LfmError("Frame Time must be a positive number", path)
    bad = np.argwhere(~np.isfinite(m.values))
    if len(bad):
        row, col = bad[0]
        owners = [(j, c) for j, ch in enumerate(m.channels) for c in ch]  # the joint and channel of each column
        joint, channel = owners[col]
        raise LfmError(
            f"line {numbered[row][0] + 1}: joint {m.names[joint]!r} {channel} is {rows[row][col]!r}, "
            "not a finite number",
            path,
        )
    return m


def bvh_positions(m: BvhMotion, fps: float | None = None, end_sites: bool = False) -> np.ndarray:
    """(T, J, 3) joint positions in file units, optionally resampled to ``fps``."""
    F = m.values.shape[0]
    J = len(m.names)
    rotations = []
    positions = np.zeros((F, J, 3))
    col = 0
    for j in range(J):
        ch = m.channels[j]
        block = m.values[:, col : col + len(ch)]
        col += len(ch)
        rot_axes = "".join(AXES[c] for c in ch if c in AXES)
        rot_vals = block[:, [k for k, c in enumerate(ch) if c in AXES]]
        # BVH applies rotations in the listed order about the moving axes: intrinsic Euler angles
        rotations.append(Rotation.from_euler(rot_axes, rot_vals, degrees=True) if rot_axes else Rotation.identity(F))
        for k, c in enumerate(ch):
            if c in POSITIONS:
                positions[:, j, POSITIONS.index(c)] = block[:, k]
    times = np.arange(F) * m.frame_time
    if fps is not None and fps > 0 and abs(fps - m.fps) > 1e-6:
        new_times = np.arange(0, times[-1] + 1e-9, 1.0 / fps)
        rotations = [Slerp(times, r)(new_times) if F > 1 else r for r in rotations]
        positions = np.stack(
            [np.stack([np.interp(new_times, times, positions[:, j, a]) for a in range(3)], -1) for j in range(J)], 1
        )
        F = len(new_times)
    world = [None] * J
    out = np.zeros((F, J, 3))
    for j in range(J):  # parents precede children in a BVH hierarchy
        p = m.parents[j]
        # a position channel replaces that axis of the joint's OFFSET (MotionBuilder and Bandai-Namco exports put
        # them on every joint); it is not added to it
        moved = np.array([POSITIONS[a] in m.channels[j] for a in range(3)])
        local = np.where(moved, positions[:, j], m.offsets[j])
        if p < 0:
            world[j] = rotations[j]
            out[:, j] = local
        else:
            world[j] = world[p] * rotations[j]
            out[:, j] = out[:, p] + world[p].apply(local)
    keep = [j for j in range(J) if end_sites or not m.end_site[j]]
    return out[:, keep]


def bvh_rig(m: BvhMotion, end_sites: bool = False) -> Rig:
    """The rig of the hierarchy: a shipped rig when the joint names match one, else one built from the tree."""
    keep = [j for j in range(len(m.names)) if end_sites or not m.end_site[j]]
    names = [m.names[j] for j in keep]
    shipped = match_rig(names)
    if shipped is not None:
        return shipped
    index = {j: k for k, j in enumerate(keep)}
    parents = [index[m.parents[j]] if m.parents[j] >= 0 else -1 for j in keep]
    tag = hashlib.sha1(" ".join(f"{n}>{p}" for n, p in zip(names, parents, strict=True)).encode()).hexdigest()[:6]
    return Rig.from_parents(
        f"bvh_{len(names)}j_{tag}", names, parents, category="human", description="built from a BVH hierarchy"
    )


UNITS = (("metres", 1.0), ("centimetres", 0.01), ("millimetres", 0.001), ("inches", 0.0254))
HUMAN_SIZE = (0.9, 2.4)  # metres from the lowest to the highest joint of a person, standing or moving


def guess_scale(m: BvhMotion, path: Path, category: str = "human") -> tuple[float, str]:
    """Metres per file unit, and a note that says how it was chosen: for a human, the unit that gives a human size,
    CMU's first for CMU joint names (files retargeted from CMU keep the names but not always the unit: the size
    decides, and the note says so); else metres, with a warning."""
    first = bvh_positions(dataclasses.replace(m, values=m.values[:1]))
    size = float((np.nanmax(first[0], 0) - np.nanmin(first[0], 0)).max())
    where = printable(path)
    if {"LHipJoint", "RHipJoint"} <= set(m.names):
        cmu = size * CMU_UNIT
        if HUMAN_SIZE[0] <= cmu <= HUMAN_SIZE[1]:
            return CMU_UNIT, f"{where}: CMU length units (CMU joint names; its joints span {cmu:.2f} m)"
        where += f": CMU joint names, but in CMU units its joints would span {cmu:.3g} m;"
        category = "human"
    if category == "human":
        for unit, scale in UNITS:
            if HUMAN_SIZE[0] <= size * scale <= HUMAN_SIZE[1]:
                note = f"units taken as {unit} (its joints span {size * scale:.2f} m); --scale overrides"
                return scale, f"{where}: {note}"
    return 1.0, (
        f"{where}: warning: units taken as metres, so the {category} is {size:.3g} m across; give --scale "
        "(metres per file unit) if that is wrong"
    )


def plan(
    paths, scale: float | None = None, fps: float | None = None, end_sites: bool = False, category: str = "human"
) -> Plan:
    """One sequence per BVH file; without ``scale`` each file's unit is guessed (`guess_scale`) and noted."""
    planned, notes = [], []
    for path, root in find_files(paths, ".bvh"):
        name = printable(path.relative_to(root).with_suffix("").as_posix())
        file_scale = scale
        if file_scale is None:
            file_scale, note = guess_scale(parse_bvh(path, frames=1), path, category)
            notes.append(note)

        def load(path=path, name=name, file_scale=file_scale) -> Sequence:
            m = parse_bvh(path)
            with np.errstate(over="ignore"):  # a scale too large gives infinities, which the writer refuses
                points3d = (bvh_positions(m, fps=fps, end_sites=end_sites) * file_scale).astype(np.float32)
            return Sequence(
                name=name,
                category=category,
                rig=bvh_rig(m, end_sites),
                points3d=points3d,
                fps=float(fps or m.fps),
                up_axis="y",
                units="m",
                source=f"BVH file {printable(path.name)}",
            )

        planned.append(Planned(name, category, load))
    return Plan(planned, notes=notes)


@dataclass
class BvhOptions:
    scale: float | None = None  # metres per BVH unit (None: guessed from joint names and size, and said)
    fps: float | None = None  # resample to this frame rate (None: keep the file's)
    end_sites: bool = False  # keep End Site points as joints
    category: str = "human"

    def __post_init__(self):
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise LfmError(f"--scale {self.scale}: give a positive number of metres per BVH unit")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise LfmError(f"--fps {self.fps}: give a positive frame rate")


@source("bvh", "BVH motion capture of any skeleton, through forward kinematics", BvhOptions)
def _plan_source(paths: list[Path], options: BvhOptions, progress=None) -> Plan:
    return plan(paths, options.scale, options.fps, options.end_sites, options.category)
