"""A seeded zoo of procedural articulated creatures with procedural motions, needing no download.

Each creature is a kinematic tree with random proportions (bipeds, quadrupeds, birds and many-legged crawlers, with
varying tail, neck and leg counts, so joint counts differ), animated by forward kinematics: legs swing in gait
phases, wings flap, tails and spines sway, the body travels and turns. World frame: y up, x forward, metres.

Each animated creature gets a skinned tube mesh (a ring-sectioned tube around every bone, each vertex carried
rigidly by its bone) written as a DeformingThings4D ``.anime`` file, plus a marker file whose groups are half-rings
of surface vertices around each joint. The dataset is then built by exactly the AnimalSyn3D path: marker joints
(which drift as joints bend, like real surface markers), inverse-kinematics bone refinement, random cameras.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.build import Plan, Progress, source
from ..errors import LfmError
from ..files import check_writable_folder
from ..geometry.kinematics import forward_kinematics
from ..rigs import Rig
from .animalsyn3d import MeshOptions, meshes_to_plan

KINDS = ("biped", "quadruped", "bird", "crawler")
MOTIONS = ("walk", "trot", "turn", "idle")
X, Y, Z = np.eye(3)


@dataclass
class Creature:
    kind: str
    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[np.ndarray] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # what drives each joint's rotation
    phases: list[float] = field(default_factory=list)  # gait phase of each joint (legs)
    height: float = 1.0  # root height above the ground

    def add(self, name: str, parent: int, offset, role: str = "", phase: float = 0.0) -> int:
        self.names.append(name)
        self.parents.append(parent)
        self.offsets.append(np.asarray(offset, float))
        self.roles.append(role)
        self.phases.append(phase)
        return len(self.names) - 1

    def chain(
        self,
        parent: int,
        prefix: str,
        direction,
        lengths: Seq[float],
        role: str = "",
        phase: float = 0.0,
        child_role: str | None = None,
    ) -> int:
        """A chain of joints hanging off ``parent``; the first takes ``role``, the rest ``child_role``."""
        d = np.asarray(direction, float) / np.linalg.norm(direction)
        for k, length in enumerate(lengths):
            parent = self.add(
                f"{prefix}_{k + 1}" if len(lengths) > 1 else prefix,
                parent,
                d * length,
                role if k == 0 else (child_role if child_role is not None else role),
                phase,
            )
        return parent

    def rig(self) -> Rig:
        return Rig.from_parents(
            f"zoo_{self.kind}_{len(self.names)}",
            self.names,
            self.parents,
            category=self.kind,
            description=f"procedural {self.kind} of the synthetic zoo",
        )


def make_creature(kind: str, rng: np.random.Generator) -> Creature:
    """A random creature of one body plan; proportions (and for some plans joint counts) vary with ``rng``."""
    s = rng.uniform(0.8, 1.25)  # overall size
    u = lambda a, b: rng.uniform(a, b) * s  # noqa: E731
    c = Creature(kind)
    if kind == "biped":
        leg = [u(0.4, 0.5), u(0.4, 0.5)]
        c.height = sum(leg) + u(0.05, 0.08)
        root = c.add("pelvis", -1, [0, 0, 0])
        top = c.chain(root, "spine", Y, [u(0.15, 0.19)] * 3, role="spine")
        head = c.chain(top, "neck", Y, [u(0.08, 0.12)], role="neck")
        c.add("head", head, Y * u(0.18, 0.24))
        for side, sign, phase in (("left", 1, 0.0), ("right", -1, np.pi)):
            sh = c.add(f"{side}_shoulder", top, Z * sign * u(0.15, 0.22))
            hand = c.chain(
                sh,
                f"{side}_arm",
                -Y,
                [u(0.25, 0.32), u(0.22, 0.28)],
                role="arm",
                phase=phase + np.pi,
                child_role="knee",
            )
            c.add(f"{side}_hand", hand, -Y * u(0.08, 0.1))
            hip = c.add(f"{side}_hip", root, Z * sign * u(0.08, 0.12) - Y * 0.05 * s)
            ankle = c.chain(hip, f"{side}_leg", -Y, leg, role="leg", phase=phase, child_role="knee")
            c.add(f"{side}_toe", ankle, X * u(0.12, 0.16) - Y * c.height * 0.05)
    elif kind in ("quadruped", "crawler"):
        pairs = 2 if kind == "quadruped" else int(rng.integers(3, 5))
        body = u(0.25, 0.4) if kind == "quadruped" else u(0.08, 0.12)
        leg = [u(0.25, 0.35), u(0.2, 0.3), u(0.06, 0.1)] if kind == "quadruped" else [u(0.06, 0.09), u(0.08, 0.12)]
        c.height = leg[0] + leg[1] + (leg[2] if kind == "quadruped" else 0) * 0.8
        root = c.add("pelvis", -1, [0, 0, 0])
        segments = [root]
        for k in range(pairs - 1):
            segments.append(c.add(f"spine_{k + 1}", segments[-1], X * body, role="spine"))
        neck = c.chain(
            segments[-1],
            "neck",
            X + Y * (0.8 if kind == "quadruped" else 0.1),
            [u(0.12, 0.2)] * (2 if kind == "quadruped" else 1),
            role="neck",
        )
        c.add("head", neck, X * u(0.1, 0.16))
        n_tail = int(rng.integers(2, 6)) if kind == "quadruped" else 1
        c.chain(root, "tail", -X - Y * 0.3, [u(0.08, 0.15)] * n_tail, role="tail")
        for k, seg in enumerate(segments[::-1]):  # front pair first
            for side, sign in (("left", 1), ("right", -1)):
                phase = np.pi * ((k + (sign < 0)) % 2) + (0.5 * k if kind == "crawler" else 0.0)
                hip = c.add(f"{side}_hip_{k + 1}", seg, Z * sign * u(0.06, 0.1))
                out = -Y + (Z * sign * 0.6 if kind == "crawler" else 0)
                c.chain(hip, f"{side}_leg_{k + 1}", out, leg, role="leg", phase=phase, child_role="knee")
    elif kind == "bird":
        leg = [u(0.08, 0.12), u(0.1, 0.14)]
        c.height = sum(leg) + u(0.02, 0.04)
        root = c.add("pelvis", -1, [0, 0, 0])
        chest = c.chain(root, "spine", X + Y * 0.4, [u(0.08, 0.12)] * 2, role="spine")
        neck = c.chain(chest, "neck", Y + X * 0.3, [u(0.04, 0.07)] * int(rng.integers(2, 4)), role="neck")
        head = c.add("head", neck, X * u(0.03, 0.05))
        c.add("beak", head, X * u(0.03, 0.08))
        c.chain(root, "tail", -X + Y * 0.2, [u(0.06, 0.1)] * 2, role="tail")
        for side, sign, phase in (("left", 1, 0.0), ("right", -1, np.pi)):
            c.chain(
                chest,
                f"{side}_wing",
                Z * sign,
                [u(0.1, 0.14), u(0.1, 0.14), u(0.08, 0.12)],
                role="wing",
                child_role="wingtip",
            )
            ankle = c.chain(root, f"{side}_leg", -Y + X * 0.1, leg, role="leg", phase=phase, child_role="knee")
            c.add(f"{side}_toe", ankle, X * u(0.03, 0.05))
    else:
        raise LfmError(f"unknown creature kind {kind!r}; choose from {', '.join(KINDS)}")
    return c


def animate(c: Creature, motion: str, frames: int, fps: float, rng: np.random.Generator):
    """World positions (frames, J, 3) and rotations (frames, J, 3, 3) of ``c`` performing ``motion``."""
    if motion not in MOTIONS:
        raise LfmError(f"unknown motion {motion!r}; choose from {', '.join(MOTIONS)}")
    t = np.arange(frames) / fps
    freq = {"walk": 1.0, "trot": 2.0, "turn": 1.0, "idle": 0.3}[motion] * rng.uniform(0.8, 1.2)
    swing = {"walk": 0.45, "trot": 0.6, "turn": 0.4, "idle": 0.05}[motion] * rng.uniform(0.8, 1.2)
    w = 2 * np.pi * freq * t[:, None]
    J = len(c.names)
    rot = np.zeros((frames, J, 3))
    phases = np.array(c.phases)
    roles = np.array(c.roles)
    # legs swing about the lateral axis; knees bend on the forward swing only; arms counter-swing
    rot[:, roles == "leg", 2] = swing * np.sin(w + phases[roles == "leg"])
    rot[:, roles == "arm", 2] = 0.6 * swing * np.sin(w + phases[roles == "arm"])
    rot[:, roles == "knee", 2] = -0.8 * swing * np.maximum(0, np.sin(w + phases[roles == "knee"] + 0.5))
    flap = np.sin(2 * np.pi * 3 * freq * t)[:, None]
    wing_sign = np.where(np.char.startswith(np.array(c.names)[roles == "wing"], "left"), 1, -1)
    rot[:, roles == "wing", 0] = -0.7 * flap * wing_sign
    rot[:, roles == "wingtip", 0] = (
        -0.3 * flap * np.where(np.char.startswith(np.array(c.names)[roles == "wingtip"], "left"), 1, -1)
    )
    rot[:, roles == "tail", 1] = 0.3 * np.sin(w * 0.5 + rng.uniform(0, 6))
    rot[:, roles == "spine", 1] = 0.08 * np.sin(w)
    rot[:, roles == "neck", 2] = 0.1 * np.sin(w * 0.5 + 1.0)
    # the body travels along its heading, turning for "turn", bobbing with the gait
    turn_rate = rng.choice([-1, 1]) * rng.uniform(0.5, 1.0) if motion == "turn" else 0.0
    yaw = rng.uniform(0, 2 * np.pi) + turn_rate * t
    speed = {"walk": 1.0, "trot": 2.2, "turn": 0.8, "idle": 0.0}[motion] * c.height
    heading = np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], -1)
    step = np.concatenate([[0], np.diff(t)])[:, None] * speed * heading
    root = np.cumsum(step, 0) + Y * (c.height + 0.03 * c.height * np.sin(2 * w[:, 0]))[:, None]
    rot[:, 0, 1] = yaw
    return forward_kinematics(rot, np.stack(c.offsets), c.parents, root, return_rotations=True)


RING = 8  # vertices per ring of a bone's tube
RING_STEPS = (0.0, 1 / 3, 2 / 3, 1.0)  # ring positions along each bone


def _ring_frame(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = X if abs(d @ X) < 0.9 else Y
    u = helper - (helper @ d) * d
    u /= np.linalg.norm(u)
    return u, np.cross(d, u)


def skin(creature: Creature, positions: np.ndarray, rotations: np.ndarray, rest: np.ndarray):
    """Tube mesh of the creature in every frame: vertices (T, V, 3), faces (F, 3), and marker vertex groups per joint.

    positions/rotations: world joint positions (T, J, 3) and rotations (T, J, 3, 3) from forward kinematics;
    rest: (J, 3) joint positions in the rest pose (all rotations zero).
    """
    parents = creature.parents
    verts, faces, bone_of = [], [], []
    near: list[list[int]] = [[] for _ in parents]  # half-ring vertices around each joint
    theta = 2 * np.pi * np.arange(RING) / RING
    for c, p in enumerate(parents):
        if p < 0:
            continue
        d = rest[c] - rest[p]
        length = np.linalg.norm(d)
        u, w = _ring_frame(d / length)
        radius = max(0.12 * length, 0.005)
        base = len(verts)
        for k, step in enumerate(RING_STEPS):
            for a in theta:
                verts.append(rest[p] + step * d + radius * (np.cos(a) * u + np.sin(a) * w))
                bone_of.append(p)  # a bone moves with its parent joint's rotation
                if a < np.pi and step in (0.0, 1.0):
                    near[p if step == 0.0 else c].append(len(verts) - 1)
            if k:
                for i in range(RING):
                    a0, a1 = base + (k - 1) * RING + i, base + (k - 1) * RING + (i + 1) % RING
                    faces += [(a0, a1, a1 + RING), (a0, a1 + RING, a0 + RING)]
    verts = np.array(verts)
    bone_of = np.array(bone_of)
    local = verts - rest[bone_of]  # (V, 3) from the carrying joint, in the rest pose
    animated = positions[:, bone_of] + np.einsum("tvij,vj->tvi", rotations[:, bone_of], local)
    return animated.astype(np.float32), np.array(faces, np.int32), [np.array(g) for g in near]


def _check_zoo(creatures: int, motions: int, frames: int, kinds: Seq[str]) -> None:
    if creatures < 1 or frames < 1 or motions < 1:
        raise LfmError("--creatures, --frames and --motions must be at least 1")
    if not kinds:
        raise LfmError("--kinds: name at least one body plan")
    for kind in kinds:
        if kind not in KINDS:
            raise LfmError(f"unknown creature kind {kind!r}; choose from {', '.join(KINDS)}")


def write_zoo(
    folder: Path,
    creatures: int = 12,
    motions_per_creature: int = 2,
    frames: int = 90,
    fps: float = 30.0,
    seed: int = 0,
    kinds: Seq[str] = KINDS,
) -> list[Path]:
    """Write the zoo as DeformingThings4D-style ``<character>_<motion>/<character>_<motion>.anime`` files plus
    ``markers/<character>.yaml``; returns the .anime paths."""
    from .animalsyn3d import MarkerSet
    from .anime import AnimeMesh, write_anime

    _check_zoo(creatures, motions_per_creature, frames, kinds)
    (folder / "markers").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(creatures):
        kind = kinds[i % len(kinds)]
        creature = make_creature(kind, np.random.default_rng([seed, i]))
        character = f"{kind}{i:03d}"
        offsets = np.stack(creature.offsets)
        rest = forward_kinematics(np.zeros((1, len(offsets), 3)), offsets, creature.parents, np.zeros((1, 3)))[0]
        for m in range(motions_per_creature):
            motion = MOTIONS[(i + m) % len(MOTIONS)]
            pos, rot = animate(creature, motion, frames, fps, np.random.default_rng([seed, i, m]))
            with np.errstate(over="ignore"):  # checked just below
                vertices, faces, groups = skin(creature, pos, rot, rest)
            if not np.isfinite(vertices).all():  # the body moves speed / fps per frame
                raise LfmError(f"--fps {fps}: so low a frame rate carries the motion out of range")
            path = folder / f"{character}_{motion}" / f"{character}_{motion}.anime"
            path.parent.mkdir(exist_ok=True)
            write_anime(path, AnimeMesh(vertices, faces))
            paths.append(path)
        marker_set = MarkerSet(character=character, rig=creature.rig(), groups=groups, category=kind, up_axis="y")
        marker_set.save(folder / "markers" / f"{character}.yaml")
    return paths


@dataclass
class SyntheticOptions(MeshOptions):
    creatures: int = 12  # how many random creatures (kinds taken in turn)
    motions: int = 2  # motions per creature
    frames: int = 90  # frames per sequence
    kinds: list[str] = field(default_factory=lambda: list(KINDS))  # body plans
    keep_meshes: Path | None = None  # keep the generated .anime and marker files in this folder
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        _check_zoo(self.creatures, self.motions, self.frames, self.kinds)
        if self.keep_meshes is not None:
            check_writable_folder(self.keep_meshes)
            folder = Path(self.keep_meshes)
            if folder.is_dir() and (any(folder.rglob("*.anime")) or (folder / "markers").exists()):
                # the build reads every mesh in the folder: old ones would join the new zoo
                raise LfmError("already holds meshes: empty it or choose another --keep-meshes folder", folder)


@source("synthetic", "a seeded zoo of procedural creatures in motion (needs no input)", SyntheticOptions)
def _plan_zoo(paths: list[Path], options: SyntheticOptions, progress: Progress | None = None) -> Plan:
    if paths:
        raise LfmError("the synthetic source makes its own data: give no input paths")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(options.keep_meshes or tmp)
        write_zoo(folder, options.creatures, options.motions, options.frames, options.fps, options.seed, options.kinds)
        return meshes_to_plan([folder], [folder / "markers"], options, progress)
