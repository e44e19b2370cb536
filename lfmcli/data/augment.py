"""Training augmentations aimed at what a model has not seen: new skeletons, new proportions, new cameras and the
2D that real detectors give. Each works on a `Batch` of frames or windows and draws from the caller's generator.

The 3D a batch carries is in its view's camera frame (y down); a re-projected item is seen from a new camera turned
about that frame's vertical axis, raised or lowered, rolled, and placed from close by (strong perspective) to far away
(nearly orthographic). Morphology and virtual joints change the 3D, so the items they touch are re-projected too.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence as Seq
from dataclasses import dataclass

import numpy as np
import torch

from ..config import AugmentConfig
from .dataset import Batch

FOCAL = 1000.0  # pixels of the virtual cameras; the models normalise 2D, so only the ratio to depth matters


def augment(batch: Batch, cfg: AugmentConfig, rng: np.random.Generator) -> Batch:
    """``batch`` with the augmentations of ``cfg`` applied (morphology and virtual joints, then new cameras, then
    sub-skeletons, then detector noise)."""
    if not cfg.active:
        return batch
    clips = _Clips.of(batch)
    B = clips.xyz.shape[0]
    moved = rng.random(B) < cfg.reproject
    if cfg.morph > 0:
        moved |= morph(clips, rng.random(B) < cfg.morph, cfg.morph_range, rng)
    if cfg.virtual_joints > 0:
        moved |= add_virtual_joints(clips, rng.random(B) < cfg.virtual_joints, cfg.virtual_max, rng)
    if moved.any():
        reproject(clips, moved, cfg, rng)
    if cfg.drop_joints > 0:
        drop_joints(clips, rng.random(B) < cfg.drop_joints, cfg.drop_max, rng)
    if cfg.noise_2d > 0 or cfg.outliers_2d > 0:
        detector_noise(clips, cfg.noise_2d, cfg.outliers_2d, rng)
    return clips.batch()


@dataclass
class _Clips:
    """A batch as numpy arrays with a time axis (frames are clips of one frame)."""

    uv: np.ndarray  # (B, T, J, 2)
    visible: np.ndarray  # (B, T, J)
    exists: np.ndarray  # (B, J)
    adjacency: np.ndarray  # (B, J, J)
    xyz: np.ndarray  # (B, T, J, 3)
    parents: np.ndarray  # (B, J)
    mirror: np.ndarray  # (B, J)
    category: torch.Tensor
    frames: bool  # the batch held single frames

    @classmethod
    def of(cls, b: Batch) -> _Clips:
        frames = b.visible.dim() == 2
        add_t = (lambda a: a[:, None]) if frames else (lambda a: a)
        return cls(
            add_t(b.points2d.numpy()).copy(),
            add_t(b.visible.numpy()).copy(),
            b.exists.numpy().copy(),
            b.adjacency.numpy().copy(),
            add_t(b.target.numpy()).copy(),
            b.parents.numpy().copy(),
            b.mirror.numpy().copy(),
            b.category,
            frames,
        )

    def batch(self) -> Batch:
        drop_t = (lambda a: a[:, 0]) if self.frames else (lambda a: a)
        has_3d = np.isfinite(self.xyz).all(-1) & self.exists[:, None]
        self.visible &= self.exists[:, None] & np.isfinite(self.uv).all(-1)
        return Batch(
            points2d=torch.from_numpy(np.ascontiguousarray(drop_t(self.uv), dtype=np.float32)),
            visible=torch.from_numpy(np.ascontiguousarray(drop_t(self.visible))),
            exists=torch.from_numpy(self.exists),
            adjacency=torch.from_numpy(self.adjacency),
            target=torch.from_numpy(np.ascontiguousarray(drop_t(self.xyz), dtype=np.float32)),
            has_3d=torch.from_numpy(np.ascontiguousarray(drop_t(has_3d))),
            category=self.category,
            parents=torch.from_numpy(self.parents),
            mirror=torch.from_numpy(self.mirror),
        )


def _depth_order(parents: np.ndarray) -> tuple[int, ...]:
    """Joints with parents before children (parents: -1 for roots; a cycle never reaches the list)."""
    return _order(tuple(parents.tolist()))


@functools.lru_cache(maxsize=256)  # a few rigs per run, asked again for every item of every batch
def _order(parents: tuple[int, ...]) -> tuple[int, ...]:
    order, placed = [], set()
    todo = list(range(len(parents)))
    while todo:
        left = [j for j in todo if parents[j] >= 0 and parents[j] not in placed]
        ready = [j for j in todo if j not in left]
        if not ready:
            break
        order += ready
        placed.update(ready)
        todo = left
    return tuple(order)


def limbs(parents: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """A limb id per joint: joints of one unbranched chain share it, and mirrored chains share it too."""
    J = len(parents)
    children = np.bincount(parents[parents >= 0], minlength=J)
    limb = np.arange(J)
    for j in _depth_order(parents):
        p = parents[j]
        if p >= 0 and children[p] == 1 and parents[p] >= 0:
            limb[j] = limb[p]  # an only child continues its parent's chain
    return np.minimum(limb, limb[mirror])


def morph(c: _Clips, chosen: np.ndarray, scale: Seq[float], rng: np.random.Generator) -> np.ndarray:
    """Rescale the bones of the ``chosen`` items limb by limb (log-uniform factors in ``scale``), rebuilding the 3D
    down the tree; returns the items changed (those with a tree)."""
    changed = np.zeros(len(chosen), bool)
    for b in np.flatnonzero(chosen):
        parents = c.parents[b]
        if not (parents >= 0).any():
            continue
        factor = np.exp(rng.uniform(*np.log(scale), len(parents)))[limbs(parents, c.mirror[b])]
        old = c.xyz[b].copy()
        for j in _depth_order(parents):
            p = parents[j]
            if p >= 0:
                c.xyz[b, :, j] = c.xyz[b, :, p] + factor[j] * (old[:, j] - old[:, p])
        changed[b] = True
    return changed


def add_virtual_joints(c: _Clips, chosen: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    """Give each ``chosen`` item 1..``most`` extra joints at random points of random bones (edges), joined to both
    ends; the arrays grow by ``most`` padding joints. Returns the items changed."""
    B, T, J, _ = c.xyz.shape

    def grow(a: np.ndarray, axis: int, fill) -> np.ndarray:
        return np.concatenate([a, np.full(a.shape[:axis] + (most,) + a.shape[axis + 1 :], fill, a.dtype)], axis)

    c.uv, c.visible, c.xyz = grow(c.uv, 2, np.nan), grow(c.visible, 2, False), grow(c.xyz, 2, np.nan)
    c.exists, c.parents = grow(c.exists, 1, False), grow(c.parents, 1, -1)
    c.mirror = np.concatenate([c.mirror, np.broadcast_to(np.arange(J, J + most), (B, most))], 1)
    c.adjacency = grow(grow(c.adjacency, 1, False), 2, False)
    c.adjacency[:, np.arange(J, J + most), np.arange(J, J + most)] = True
    changed = np.zeros(B, bool)
    for b in np.flatnonzero(chosen):
        a, e = np.nonzero(np.triu(c.adjacency[b, :J, :J], 1) & c.exists[b, :J, None] & c.exists[b, None, :J])
        if not len(a):
            continue
        pick = rng.choice(len(a), min(int(rng.integers(1, most + 1)), len(a)), replace=False)
        for k, (i, j) in enumerate(zip(a[pick], e[pick], strict=True)):
            v = J + k
            c.xyz[b, :, v] = c.xyz[b, :, i] + rng.uniform(0.25, 0.75) * (c.xyz[b, :, j] - c.xyz[b, :, i])
            c.exists[b, v] = True
            c.adjacency[b, v, [i, j]] = c.adjacency[b, [i, j], v] = True
        changed[b] = True
    return changed


def _rotation(azimuth: float, elevation: float, roll: float) -> np.ndarray:
    """Turn about the camera frame's vertical (y) axis, then tilt about x, then roll about the optical (z) axis."""
    ca, sa = np.cos(azimuth), np.sin(azimuth)
    ce, se = np.cos(elevation), np.sin(elevation)
    cr, sr = np.cos(roll), np.sin(roll)
    turn = np.array([[ca, 0, sa], [0, 1, 0], [-sa, 0, ca]])
    tilt = np.array([[1, 0, 0], [0, ce, -se], [0, se, ce]])
    spin = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return spin @ tilt @ turn


def reproject(c: _Clips, chosen: np.ndarray, aug: AugmentConfig, rng: np.random.Generator) -> None:
    """See the ``chosen`` items through new random cameras: new camera-frame 3D and its projection, every point in
    front of the camera visible (occlusion comes later)."""
    for b in np.flatnonzero(chosen):
        pts = c.xyz[b]  # (T, J, 3)
        seen = np.isfinite(pts).all(-1) & c.exists[b]
        if seen.sum() < 2:
            continue
        centre = pts[seen].mean(0)
        size = float(np.sqrt(((pts[seen] - centre) ** 2).sum(-1).mean()))
        if not size > 0:
            continue
        R = _rotation(
            rng.uniform(0, 2 * np.pi),
            np.deg2rad(rng.uniform(*aug.elevation_deg)),
            np.deg2rad(rng.uniform(-aug.roll_deg, aug.roll_deg)),
        )
        distance = size * np.exp(rng.uniform(*np.log(aug.distance)))
        cam = (pts - centre) @ R.T + np.array([0.0, 0.0, distance])
        if rng.random() < aug.weak_projection:
            depth = np.nanmean(np.where(seen[..., None], cam[..., 2:], np.nan), axis=1, keepdims=True)
        else:
            depth = cam[..., 2:]
        in_front = seen & (cam[..., 2] > 0.05 * size)
        with np.errstate(invalid="ignore", divide="ignore"):
            uv = FOCAL * cam[..., :2] / depth + FOCAL / 2
        c.xyz[b] = np.where(seen[..., None], cam, np.nan)
        c.uv[b] = np.where(in_front[..., None], uv, np.nan)
        c.visible[b] = in_front


def _bridged(adjacency: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    """The graph on the kept joints: two are joined if they were, or if a path through dropped joints joined them."""
    reach = adjacency.copy()
    while True:
        through = (reach[:, dropped].astype(np.int32) @ reach[dropped, :].astype(np.int32)) > 0
        grown = reach | through
        if (grown == reach).all():
            break
        reach = grown
    keep = ~dropped
    out = reach & keep[:, None] & keep[None, :]
    out[np.diag_indices(len(keep))] = keep  # self-loops on the kept joints; a dropped joint is like padding
    return out


def drop_joints(c: _Clips, chosen: np.ndarray, most: float, rng: np.random.Generator, min_joints: int = 3) -> None:
    """Reduce the ``chosen`` items to random sub-skeletons: up to ``most`` of the joints go, as single joints or
    (half the time, where the rig has a tree) as whole limbs; the graph is rebuilt for the joints left."""
    for b in np.flatnonzero(chosen):
        present = np.flatnonzero(c.exists[b])
        budget = int(rng.uniform(0, most) * len(present))
        budget = min(budget, len(present) - min_joints)
        if budget <= 0:
            continue
        dropped = np.zeros(len(c.exists[b]), bool)
        parents = c.parents[b]
        if (parents >= 0).any() and rng.random() < 0.5:
            subtrees = _subtrees(tuple(parents.tolist()))
            for start in rng.permutation(present):
                subtree = subtrees[start] & ~dropped
                if dropped.sum() + subtree.sum() <= budget:
                    dropped |= subtree
        else:
            dropped[rng.choice(present, budget, replace=False)] = True
        if not dropped.any():
            continue
        c.adjacency[b] = _bridged(c.adjacency[b], dropped)
        c.exists[b] &= ~dropped
        c.visible[b] &= ~dropped
        c.uv[b][:, dropped] = np.nan
        c.xyz[b][:, dropped] = np.nan


@functools.lru_cache(maxsize=256)
def _subtrees(parents: tuple[int, ...]) -> np.ndarray:
    """(J, J) bool: row r marks the joints of the subtree rooted at joint r (r itself included)."""
    inside = np.eye(len(parents), dtype=bool)
    for j in _order(parents):  # parents before children: a joint is in every subtree its parent is in
        if parents[j] >= 0:
            inside[:, j] |= inside[:, parents[j]]
    inside.flags.writeable = False  # shared by every call for this rig
    return inside


def detector_noise(c: _Clips, sigma: float, outliers: float, rng: np.random.Generator) -> None:
    """2D as trackers give it: Gaussian noise with a per-item sigma up to ``sigma`` times the 2D size, and a share
    ``outliers`` of the visible points thrown somewhere in the box around the object."""
    seen = c.visible  # (B, T, J)
    ok = seen.sum((1, 2)) >= 2  # items with a box to measure
    lo = np.where(seen[..., None], c.uv, np.inf).min((1, 2))
    hi = np.where(seen[..., None], c.uv, -np.inf).max((1, 2))
    lo, hi = np.where(ok[:, None], lo, 0.0), np.where(ok[:, None], hi, 0.0)
    if sigma > 0:
        spread = rng.uniform(0, sigma, len(ok)) * np.linalg.norm(hi - lo, axis=-1)
        c.uv += rng.normal(size=c.uv.shape) * spread[:, None, None, None]
    if outliers > 0:
        thrown = seen & ok[:, None, None] & (rng.random(seen.shape) < outliers)
        item = np.nonzero(thrown)[0]
        margin = 0.2 * (hi - lo)[item]
        c.uv[thrown] = rng.uniform(lo[item] - margin, hi[item] + margin)
