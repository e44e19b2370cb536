"""Rigs: the named joints of an object and the edges between them (the adjacency the model attends over).

A rig file is YAML::

    name: h36m_17
    joints: [hip, r_hip, ...]            # array order
    edges: [[hip, r_hip], ...]           # by joint name; optional (no edges: no graph), may form several parts
    root: hip                            # optional: parents follow the edges out from the root (edges form a tree)
    parents: {r_hip: hip, ...}           # optional instead of root: an explicit kinematic tree
    symmetry: [[l_hip, r_hip], ...]      # optional left/right pairs
    aliases: {pelvis: hip}               # optional other names importers may meet
    layouts: {asf: [Hips, ...]}          # optional: the same joints in the same order under another naming
    category, description, source       # optional free text

Shipped rigs live in the repository's ``rigs/`` folder and are installed as package data.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from .errors import LfmError
from .files import read_text

# other names for a category, as lfm's data and models call it (COCO's person; PASCAL3D+'s class names)
CATEGORY_NAMES = {"person": "human", "aeroplane": "airplane", "tvmonitor": "monitor", "diningtable": "table"}


def canonical_category(name: str) -> str:
    """A category as lfm's data and models name it: lower case, words joined by '_', synonyms resolved
    ("Golden Retriever" -> golden_retriever, person -> human)."""
    words = "_".join(re.split(r"[\s\-]+", str(name).strip().lower()))
    return CATEGORY_NAMES.get(words, words)


class RigError(LfmError):
    """A rig definition that cannot be used."""


@dataclass(frozen=True)
class Rig:
    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    parents: tuple[int, ...] | None = None
    symmetry: tuple[tuple[int, int], ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    layouts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # other namings of the joints, in order
    category: str = ""
    description: str = ""
    source: str = ""

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Array index of a joint, by name or alias."""
        name = self.aliases.get(joint, joint)
        try:
            return self.joints.index(name)
        except ValueError:
            raise RigError(f"rig {self.name!r} has no joint {joint!r}") from None

    @functools.cached_property
    def parts(self) -> int:
        """Connected parts of the graph (a joint on no edge is a part of its own)."""
        from scipy.sparse.csgraph import connected_components

        return int(connected_components(self.adjacency(), directed=False)[0])

    def graph_note(self) -> str | None:
        """What a lift with this rig's graph should say: no edges, or edges in several unconnected parts."""
        if not self.edges:
            return f"rig {self.name!r} has no edges: the model attended without graph edges"
        if self.parts > 1:
            return f"rig {self.name!r} has {self.parts} unconnected parts: graph attention ran within each"
        return None

    def adjacency(self, self_loops: bool = True) -> np.ndarray:
        """Symmetric (J, J) boolean adjacency, with the diagonal set when ``self_loops``."""
        adj = np.zeros((self.num_joints, self.num_joints), dtype=bool)
        if self.edges:
            a, b = np.asarray(self.edges).T
            adj[a, b] = adj[b, a] = True
        if self_loops:
            np.fill_diagonal(adj, True)
        return adj

    def to_dict(self) -> dict:
        d: dict = {"name": self.name}
        for key in ("description", "source", "category"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        d["joints"] = list(self.joints)
        d["edges"] = [[self.joints[a], self.joints[b]] for a, b in self.edges]
        if self.parents is not None:
            d["parents"] = {self.joints[i]: self.joints[p] for i, p in enumerate(self.parents) if p >= 0}
        if self.symmetry:
            d["symmetry"] = [[self.joints[a], self.joints[b]] for a, b in self.symmetry]
        if self.aliases:
            d["aliases"] = dict(self.aliases)
        if self.layouts:
            d["layouts"] = {k: list(v) for k, v in self.layouts.items()}
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=110)

    def save(self, path: str | Path) -> None:
        from .files import atomic_path

        with atomic_path(path) as tmp:
            Path(tmp).write_text(self.to_yaml())

    @classmethod
    def from_dict(cls, d: object, origin: str = "<rig>") -> Rig:
        """Build and validate a rig from its YAML mapping; every mistake is a RigError naming ``origin``."""

        def fail(msg: str) -> RigError:
            return RigError(msg, origin)

        if not isinstance(d, dict):
            raise fail("a rig must be a YAML mapping with 'name', 'joints' and 'edges'")
        unknown = set(d) - {
            "name",
            "joints",
            "edges",
            "root",
            "parents",
            "symmetry",
            "aliases",
            "layouts",
            "category",
            "description",
            "source",
        }
        if unknown:
            raise fail(f"unknown key(s) {sorted(unknown)}")
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail("'name' must be a non-empty string")
        joints = d.get("joints")
        if not isinstance(joints, list) or not joints or not all(isinstance(j, str) and j for j in joints):
            raise fail("'joints' must be a non-empty list of joint names")
        dupes = sorted({j for j in joints if joints.count(j) > 1})
        if dupes:
            raise fail(f"duplicate joint name(s) {dupes}")
        index = {j: i for i, j in enumerate(joints)}
        layouts = d.get("layouts") or {}
        if not isinstance(layouts, dict) or not all(
            isinstance(v, list) and len(v) == len(joints) == len(set(map(str, v))) for v in layouts.values()
        ):
            raise fail("'layouts' must map a name to a list of other names, one per joint, in the joints' order")
        aliases = d.get("aliases") or {}
        if not isinstance(aliases, dict):
            raise fail("'aliases' must map other names to joint names")
        for alias, target in aliases.items():
            if not isinstance(target, str) or target not in index:
                raise fail(f"alias {alias!r} points to unknown joint {target!r}")
            if alias in index:
                raise fail(f"alias {alias!r} is already a joint name")

        def pairs(key: str) -> list[tuple[int, int]]:
            raw = d.get(key) or []
            if not isinstance(raw, list):
                raise fail(f"'{key}' must be a list of [joint, joint] pairs")
            out = []
            for pair in raw:
                if not (isinstance(pair, list | tuple) and len(pair) == 2):
                    raise fail(f"'{key}' entry {pair!r} is not a [joint, joint] pair")
                for j in pair:
                    if not isinstance(j, str) or j not in index:
                        raise fail(f"'{key}' names unknown joint {j!r}")
                a, b = index[pair[0]], index[pair[1]]
                if a == b:
                    raise fail(f"'{key}' entry {pair!r} joins a joint to itself")
                out.append((a, b))
            return out

        edges = pairs("edges")
        seen: set[frozenset[int]] = set()
        for a, b in edges:
            if frozenset((a, b)) in seen:
                raise fail(f"edge [{joints[a]}, {joints[b]}] is listed twice")
            seen.add(frozenset((a, b)))
        symmetry = pairs("symmetry")
        parents = _parents(d, joints, index, edges, fail)
        category = str(d.get("category") or "")
        rig = cls(
            name=name,
            joints=tuple(joints),
            edges=tuple(edges),
            parents=None if parents is None else tuple(parents),
            symmetry=tuple(symmetry),
            aliases=dict(aliases),
            layouts={str(k): tuple(map(str, v)) for k, v in layouts.items()},
            category=canonical_category(category),
            description=str(d.get("description") or ""),
            source=str(d.get("source") or ""),
        )
        return rig

    @classmethod
    def from_parents(cls, name: str, joints: Sequence[str], parents: Sequence[int], **info) -> Rig:
        """A rig whose edges are the bones of a kinematic tree (parents[i] = -1 for the root)."""
        joints = [str(j) for j in joints]
        parents = [int(p) for p in parents]
        if len(parents) != len(joints):
            raise RigError(f"{len(parents)} parents for {len(joints)} joints", info.get("source"))
        tree = {joints[i]: joints[p] for i, p in enumerate(parents) if p >= 0}
        edges = [[joints[p], joints[i]] for i, p in enumerate(parents) if p >= 0]
        return cls.from_dict(
            {"name": name, "joints": joints, "edges": edges, "parents": tree, **info}, origin=info.get("source") or name
        )


def _bfs_order(neighbours: list[list[int]], start: int) -> dict[int, int]:
    """Map each joint reachable from ``start`` to its BFS parent (-1 for ``start``)."""
    parent = {start: -1}
    queue = deque([start])
    while queue:
        a = queue.popleft()
        for b in neighbours[a]:
            if b not in parent:
                parent[b] = a
                queue.append(b)
    return parent


def _parents(d: dict, joints, index, edges, fail) -> list[int] | None:
    root, tree = d.get("root"), d.get("parents")
    if root is not None and tree is not None:
        raise fail("give either 'root' (parents follow the edges) or 'parents', not both")
    if root is not None:
        if not isinstance(root, str) or root not in index:
            raise fail(f"root {root!r} is not a joint")
        if len(edges) != len(joints) - 1:
            raise fail("'root' needs edges that form a tree; these edges have a cycle, so give 'parents' instead")
        neighbours: list[list[int]] = [[] for _ in joints]
        for a, b in edges:
            neighbours[a].append(b)
            neighbours[b].append(a)
        order = _bfs_order(neighbours, index[root])
        return [order[i] for i in range(len(joints))]
    if tree is None:
        return None
    if not isinstance(tree, dict):
        raise fail("'parents' must map each joint to its parent joint")
    parents = [-1] * len(joints)
    for child, parent in tree.items():
        for j in (child, parent):
            if not isinstance(j, str) or j not in index:
                raise fail(f"'parents' names unknown joint {j!r}")
        if child == parent:
            raise fail(f"joint {child!r} is its own parent")
        parents[index[child]] = index[parent]
    roots = [joints[i] for i, p in enumerate(parents) if p < 0]
    if len(roots) != 1:
        raise fail(f"'parents' must leave exactly one root joint, found {len(roots)}: {roots[:5]}")
    for start in range(len(joints)):
        seen, j = set(), start
        while j >= 0:
            if j in seen:
                raise fail(f"'parents' has a cycle through joint {joints[j]!r}")
            seen.add(j)
            j = parents[j]
    return parents


def load_rig(path: str | Path) -> Rig:
    """Read and validate a rig YAML file."""
    path = Path(path)
    try:
        text = read_text(path)
    except LfmError as e:  # a rig file that cannot be read is a rig that cannot be used
        raise RigError(str(e)) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise RigError(f"malformed YAML{where}", path) from None
    return Rig.from_dict(doc, origin=str(path))


def _rig_folder() -> Path:
    try:
        return Path(str(resources.files("lfmcli.rigfiles")))
    except ModuleNotFoundError:  # a source checkout: the rigs sit at the repository root
        return Path(__file__).resolve().parent.parent / "rigs"


@functools.cache
def shipped_rigs() -> dict[str, Rig]:
    """Every rig shipped with lfm, by name."""
    rigs = {}
    for path in sorted(_rig_folder().glob("*.yaml")):
        rig = load_rig(path)
        rigs[rig.name] = rig
    return rigs


def get_rig(name_or_path: str | Path) -> Rig:
    """A shipped rig by name, or a rig YAML file by path."""
    rigs = shipped_rigs()
    if str(name_or_path) in rigs:
        return rigs[str(name_or_path)]
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_rig(path)
    close = [n for n in rigs if str(name_or_path).lower() in n.lower()]
    hint = f"; did you mean {', '.join(close[:4])}?" if close else "; `lfm rigs list` shows the shipped rigs"
    raise RigError(f"unknown rig {str(name_or_path)!r}{hint}")


def match_rig(joint_names: Sequence[str]) -> Rig | None:
    """The shipped rig whose joints are exactly these names in this order (aliases allowed), or one of its
    layouts, if any."""
    names = [str(n) for n in joint_names]
    for rig in shipped_rigs().values():
        if (
            rig.num_joints == len(names)
            and all(rig.aliases.get(n, n) == j for n, j in zip(names, rig.joints, strict=True))
            or any(names == list(layout) for layout in rig.layouts.values())
        ):
            return rig
    return None


def match_rig_reordered(joint_names: Sequence[str]) -> tuple[Rig, str, list[int]] | None:
    """The shipped rig that has exactly these joint names in another order (as its joints or one of its layouts):
    (rig, the naming matched, the index into ``joint_names`` of each of the rig's joints), if any."""
    names = [str(n) for n in joint_names]
    for rig in shipped_rigs().values():
        namings = {"joints": list(rig.joints), **rig.layouts}
        for naming, order in namings.items():
            if len(order) == len(names) and set(order) == set(names):
                position = {n: i for i, n in enumerate(names)}
                return rig, naming, [position[n] for n in order]
    return None


def import_rig(path: str | Path, name: str | None = None, category: str | None = None) -> Rig:
    """A rig from a DeepLabCut project ``config.yaml`` (bodyparts + skeleton) or a COCO keypoint category
    (a category object, a list of them, or a whole COCO annotation file; ``category`` picks one by name)."""
    path = Path(path)
    text = read_text(path)
    try:
        doc = yaml.safe_load(text)  # YAML is a superset of JSON: one parser for both formats
    except yaml.YAMLError:
        raise RigError("neither valid YAML nor JSON", path) from None
    if isinstance(doc, dict) and ("bodyparts" in doc or "multianimalbodyparts" in doc):
        return _rig_from_deeplabcut(doc, path, name)
    return _rig_from_coco(doc, path, name, category)


def _rig_from_deeplabcut(doc: dict, path: Path, name: str | None) -> Rig:
    keys = ["bodyparts"]
    if doc.get("bodyparts") == "MULTI!" or not doc.get("bodyparts"):  # multi-animal projects list them separately
        keys = ["multianimalbodyparts", "uniquebodyparts"]
    parts = []
    for key in keys:
        if not isinstance(doc.get(key) or [], list):
            raise RigError(f"'{key}' must be a list of body part names, not {doc[key]!r}", path)
        parts += doc.get(key) or []
    if not parts:
        raise RigError("DeepLabCut config lists no bodyparts", path)
    skeleton = doc.get("skeleton") or []  # empty in many projects: a rig of names, without a graph
    for entry in skeleton if isinstance(skeleton, list) else [skeleton]:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise RigError(f"skeleton entry {entry!r} is not a pair of body parts", path)
    rig_name = name or str(doc.get("Task") or path.parent.name or "deeplabcut").replace("/", "_")
    return Rig.from_dict(
        {
            "name": rig_name,
            "joints": [str(p) for p in parts],
            "edges": [[str(a), str(b)] for a, b in skeleton],
            "description": f"imported from DeepLabCut config {path.name}",
        },
        origin=str(path),
    )


def _rig_from_coco(doc: object, path: Path, name: str | None, category: str | None) -> Rig:
    cats = doc.get("categories", [doc]) if isinstance(doc, dict) else doc
    if not isinstance(cats, list):
        raise RigError("not a DeepLabCut config or a COCO keypoint category", path)
    cats = [c for c in cats if isinstance(c, dict) and c.get("keypoints")]
    if category is not None:
        cats = [c for c in cats if c.get("name") == category]
    if not cats:
        raise RigError("no COCO category with 'keypoints' found" + (f" named {category!r}" if category else ""), path)
    if len(cats) > 1:
        raise RigError(
            f"several keypoint categories ({', '.join(str(c.get('name')) for c in cats)}); pick one with --category",
            path,
        )
    cat = cats[0]
    joints = [str(k) for k in cat["keypoints"]]
    edges = []
    for pair in cat.get("skeleton") or []:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(i, int) and 1 <= i <= len(joints) for i in pair)
        ):
            raise RigError(f"skeleton entry {pair!r} is not a pair of 1-based keypoint numbers", path)
        edges.append([joints[pair[0] - 1], joints[pair[1] - 1]])
    return Rig.from_dict(
        {
            "name": name or str(cat.get("name", "coco")),
            "joints": joints,
            "edges": edges,
            "category": str(cat.get("supercategory") or cat.get("name") or ""),
            "description": f"imported from COCO category {cat.get('name')!r} in {path.name}",
        },
        origin=str(path),
    )
