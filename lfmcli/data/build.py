"""Shared steps of every dataset builder: the source registry, deterministic splits, random cameras for sequences
without real views, and streaming the sequences into one dataset file.

A source (`lfmcli/sources/`) registers itself with `@source(name, summary, Options)`: its options are a dataclass
that checks itself when made, and its function turns input paths and options into a `Plan`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LfmError, printable
from ..geometry.cameras import random_orbit_camera
from ..sequence import SPLITS, Sequence, View
from .format import DatasetFile, DatasetWriter


@dataclass
class Planned:
    """A sequence known by name and category before its points are loaded (splits are planned from these).
    ``split`` fixes the split where the source defines one (a benchmark's train and test subjects, say)."""

    name: str
    category: str
    load: Callable[[], Sequence]
    split: str | None = None


Progress = Callable[[str, str, "int | None"], None]  # (stage, item just done, items in the stage if known)


@dataclass
class Plan:
    """What a source makes of its inputs: the sequences to write, with what the writer needs to know about them."""

    sequences: list[Planned]
    camera: dict | None = None  # options of `random_views` for sequences without real views
    attrs: dict = field(default_factory=dict)  # extra attributes of the dataset file
    refinement: list[dict] = field(default_factory=list)  # bone refinement, a row per sequence (mesh sources)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # inputs left out while planning, with the problem
    notes: list[str] = field(default_factory=list)  # what the source assumed (units, say), for the user to read


@dataclass(frozen=True)
class Source:
    name: str
    summary: str
    options: type  # a dataclass; making one checks the values
    plan: Callable[[list[Path], Any, Progress | None], Plan]


SOURCES: dict[str, Source] = {}  # filled as lfmcli.sources imports its modules


def source(name: str, summary: str, options: type):
    """Register the decorated ``plan(paths, options, progress) -> Plan`` as the source ``name``."""

    def register(plan):
        SOURCES[name] = Source(name, summary, options, plan)
        return plan

    return register


def split_from_name(path: Path) -> str | None:
    """train, val or test when a source file's name says so (pascal3d_val.json, 2Dto3D_train.json), else None."""
    words = set(re.split(r"[^a-z]+", path.stem.lower()))
    found = [s for s in SPLITS if s in words or (s == "val" and "validation" in words)]
    return found[0] if len(found) == 1 else None


MAX_VIEWS = 1000  # random cameras per sequence: far more than any training needs, bounded so a typo cannot hang


def parse_ratios(text: str) -> tuple[float, float, float]:
    """'0.8,0.1,0.1' -> train, val, test fractions summing to 1."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or not all(0 <= p < math.inf for p in parts) or sum(parts) <= 0:
        raise LfmError(f"--split {text!r}: give three non-negative train,val,test ratios such as 0.8,0.1,0.1")
    total = sum(parts)
    return tuple(p / total for p in parts)  # type: ignore[return-value]


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")


def assign_splits(names: Seq[str], categories: Seq[str], ratios: tuple[float, float, float]) -> list[str]:
    """Split whole sequences, never frames. Within each category sequences are ordered by a hash of their name and
    cut by the ratios, so the result depends only on the names (not on file order) and every category with at least
    three sequences gets some validation and test data when those ratios are non-zero."""
    by_category: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(categories):
        by_category[c].append(i)
    out = ["train"] * len(names)
    for members in by_category.values():
        members.sort(key=lambda i: _stable_hash(names[i]))
        n = len(members)
        counts = [0, 0]
        for k, r in enumerate(ratios[1:]):
            counts[k] = int(round(n * r))
            if r > 0 and n >= 3:
                counts[k] = max(counts[k], 1)
        n_val, n_test = counts
        n_train = max(n - n_val - n_test, 0)
        for rank, i in enumerate(members):
            out[i] = SPLITS[0] if rank < n_train else SPLITS[1] if rank < n_train + n_val else SPLITS[2]
    return out


def random_views(seq: Sequence, count: int, seed: int, projection: str = "perspective", **camera) -> list[View]:
    """``count`` seeded random orbit cameras framing the whole sequence; the same seed and name give the same views.
    ``camera`` passes on to ``random_orbit_camera`` (elevation range, image size, focal length, margin)."""
    rng = np.random.default_rng([seed, _stable_hash(seq.name)])
    views = []
    for _ in range(count):
        cam = random_orbit_camera(seq.points3d, seq.up_axis, rng, **camera)
        uv = cam.project(seq.points3d, projection).astype(np.float32)
        depth = cam.to_camera(seq.points3d)[..., 2]
        visible = np.isfinite(uv).all(-1) & (depth > 0) & cam.in_image(uv)
        views.append(View(camera=cam, points2d=uv, visible=visible, kind="synthetic", projection=projection))
    return views


def write_dataset(
    out: str | Path,
    planned: list[Planned],
    *,
    views: int = 1,
    seed: int = 0,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    camera: dict | None = None,
    skip_bad: bool = False,
    attrs: dict | None = None,
    advance: Callable[[Sequence | None], None] | None = None,
) -> dict:
    """Load each planned sequence, give it its split and (if it has no real views) ``views`` random cameras
    (``camera``: options of ``random_views``), and write them all to ``out`` atomically. With ``skip_bad`` a sequence
    whose source is bad is left out and listed under "skipped" in the returned summary (``DatasetFile.info``).
    Joints left at one world point while the object moves away (``Sequence.world_anchors``) are stored as absent,
    with a note."""
    if not planned:
        raise LfmError("no sequences to write")
    if not 1 <= views <= MAX_VIEWS:
        raise LfmError(f"--views {views}: give 1 to {MAX_VIEWS} random cameras per sequence")
    free = [i for i, p in enumerate(planned) if p.split is None]
    splits = [p.split for p in planned]
    for i, split in zip(
        free,
        assign_splits([printable(planned[i].name) for i in free], [planned[i].category for i in free], ratios),
        strict=True,
    ):
        splits[i] = split
    skipped: list[tuple[str, str]] = []
    anchored: dict[tuple[str, str], list[str]] = defaultdict(list)  # (rig, joint) -> sequences where it was hidden
    with DatasetWriter(out, attrs=attrs) as writer:
        for p, split in zip(planned, splits, strict=True):
            try:
                seq = p.load()
                if np.isinf(seq.points3d).any():  # a scale or unit that overflowed float32
                    raise LfmError(f"sequence {p.name!r}: its 3D reaches beyond the float range (check the scale)")
            except LfmError as e:
                if not skip_bad:
                    raise
                skipped.append((p.name, str(e)))
                seq = None
            if seq is not None:
                seq.name = printable(seq.name)  # a file name's bytes that are not UTF-8 as \xNN: storable
                seq.split = split
                anchors = seq.world_anchors()
                if len(anchors):  # hiding copies the arrays: only where there is something to hide
                    seq.hide_joints(anchors)
                for j in anchors:
                    anchored[(seq.rig.name, seq.rig.joints[j])].append(seq.name)
                if not seq.views:
                    seq.views = random_views(seq, views, seed, **(camera or {}))
                writer.add(seq)
            if advance:
                advance(seq)
        if len(skipped) == len(planned):
            raise LfmError(f"every sequence was bad; the first: {skipped[0][1]}")
    notes = [
        f"joint {joint!r} of rig {rig!r} stays at one world point while its bones to the rest stretch, in {len(names)} "
        f"sequence(s) (first: {names[0]}): a place in the world, not on the object; stored as absent there"
        for (rig, joint), names in anchored.items()
    ]
    with DatasetFile(out) as f:
        categories = dict(Counter(f.sequences["category"]))
        return {**f.info(), "skipped": skipped, "category_sequences": categories, "notes": notes}
