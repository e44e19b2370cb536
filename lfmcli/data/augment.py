"""Training augmentations aimed at what a model has not seen: new skeletons, new proportions, new cameras and the
2D that real detectors give. Each works on a `Batch` of frames or windows and draws from the caller's generator.

The 3D a batch carries is in its view's camera frame (y down); a re-projected item is seen from a new camera turned
about that frame's vertical axis, raised or lowered, rolled, and placed from close by (strong perspective) to far away
(nearly orthographic). Morphology and virtual joints change the 3D, so the items they touch are re-projected too.

Every step is a tensor operation over the whole batch, on the batch's device: the same code augments a batch made on
the CPU (drawing from a numpy Generator) and one made on a GPU (drawing from a torch Generator there). What depends
on a rig alone (its limbs, the subtree under each joint) is worked out once per rig on the host.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence as Seq
from dataclasses import dataclass

import numpy as np
import torch

from ..config import AugmentConfig, DataConfig
from .dataset import Batch, occlude, rotate_scale_2d
from .draws import Draws, draws

FOCAL = 1000.0  # pixels of the virtual cameras; the models normalise 2D, so only the ratio to depth matters


def augment_training(batch: Batch, d: DataConfig, rng: np.random.Generator | torch.Generator | Draws) -> Batch:
    """``batch`` with every training augmentation of the data block ``d``, in order: `augment`, occlusion, then the
    2D rotation and scaling (the one place both ways of making batches finish them)."""
    rand = draws(rng, batch.points2d.device)
    batch = augment(batch, d.augment, rand)
    batch = occlude(batch, d.occlusion, rand)
    return rotate_scale_2d(batch, d.rotate_2d, d.scale_2d, rand)


def augment(batch: Batch, cfg: AugmentConfig, rng: np.random.Generator | torch.Generator | Draws) -> Batch:
    """``batch`` with the augmentations of ``cfg`` applied (morphology and virtual joints, then new cameras, then
    sub-skeletons, then detector noise). ``rng``: a numpy Generator, or a torch one on the batch's device."""
    if not cfg.active:
        return batch
    rand = draws(rng, batch.points2d.device)
    clips = _Clips.of(batch)
    B = clips.xyz.shape[0]
    moved = rand.random(B) < cfg.reproject
    if cfg.morph > 0:
        moved |= morph(clips, rand.random(B) < cfg.morph, cfg.morph_range, rand)
    if cfg.virtual_joints > 0:
        moved |= add_virtual_joints(clips, rand.random(B) < cfg.virtual_joints, cfg.virtual_max, rand)
    if cfg.reproject > 0 or cfg.morph > 0 or cfg.virtual_joints > 0:
        reproject(clips, moved, cfg, rand)
    if cfg.drop_joints > 0:
        drop_joints(clips, rand.random(B) < cfg.drop_joints, cfg.drop_max, rand)
    if cfg.noise_2d > 0 or cfg.outliers_2d > 0:
        detector_noise(clips, cfg.noise_2d, cfg.outliers_2d, rand)
    return clips.batch()


@dataclass
class _Clips:
    """A batch with a time axis (frames are clips of one frame), its tensors copied so that steps may change them."""

    uv: torch.Tensor  # (B, T, J, 2)
    visible: torch.Tensor  # (B, T, J)
    exists: torch.Tensor  # (B, J)
    adjacency: torch.Tensor  # (B, J, J)
    xyz: torch.Tensor  # (B, T, J, 3)
    parents: torch.Tensor  # (B, J)
    mirror: torch.Tensor  # (B, J)
    category: torch.Tensor
    frames: bool  # the batch held single frames

    @classmethod
    def of(cls, b: Batch) -> _Clips:
        frames = b.visible.dim() == 2
        add_t = (lambda a: a[:, None]) if frames else (lambda a: a)
        return cls(
            add_t(b.points2d).clone(),
            add_t(b.visible).clone(),
            b.exists.clone(),
            b.adjacency.clone(),
            add_t(b.target).clone(),
            b.parents.clone(),
            b.mirror.clone(),
            b.category,
            frames,
        )

    @property
    def device(self) -> torch.device:
        return self.uv.device

    def batch(self) -> Batch:
        drop_t = (lambda a: a[:, 0]) if self.frames else (lambda a: a)
        has_3d = torch.isfinite(self.xyz).all(-1) & self.exists[:, None]
        self.visible &= self.exists[:, None] & torch.isfinite(self.uv).all(-1)
        return Batch(
            points2d=drop_t(self.uv).float().contiguous(),
            visible=drop_t(self.visible).contiguous(),
            exists=self.exists,
            adjacency=self.adjacency,
            target=drop_t(self.xyz).float().contiguous(),
            has_3d=drop_t(has_3d).contiguous(),
            category=self.category,
            parents=self.parents,
            mirror=self.mirror,
        )


def _depth_order(parents: np.ndarray) -> tuple[int, ...]:
    """Joints with parents before children (parents: -1 for roots; a cycle never reaches the list)."""
    return _order(tuple(parents.tolist()))


@functools.lru_cache(maxsize=4096)  # a few rigs per run (and padded lengths), asked for every batch
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
    return _limbs(tuple(parents.tolist()), tuple(mirror.tolist())).copy()


@functools.lru_cache(maxsize=4096)
def _limbs(parents: tuple[int, ...], mirror: tuple[int, ...]) -> np.ndarray:
    p = np.array(parents, dtype=np.int64)
    J = len(p)
    children = np.bincount(p[p >= 0], minlength=J)
    limb = np.arange(J)
    for j in _order(parents):
        if p[j] >= 0 and children[p[j]] == 1 and p[p[j]] >= 0:
            limb[j] = limb[p[j]]  # an only child continues its parent's chain
    limb = np.minimum(limb, limb[np.array(mirror, dtype=np.int64)])
    limb.flags.writeable = False  # shared by every call for this rig
    return limb


@functools.lru_cache(maxsize=4096)
def _subtrees(parents: tuple[int, ...]) -> np.ndarray:
    """(J, J) bool: row r marks the joints of the subtree rooted at joint r (r itself included)."""
    inside = np.eye(len(parents), dtype=bool)
    for j in _order(parents):  # parents before children: a joint is in every subtree its parent is in
        if parents[j] >= 0:
            inside[:, j] |= inside[:, parents[j]]
    inside.flags.writeable = False  # shared by every call for this rig
    return inside


def _rig_tables(parents: torch.Tensor, mirror: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item (rows of ``parents`` and ``mirror``), on their device: the subtree under each joint (b, J, J) bool and
    each joint's limb (b, J), worked out once per rig on the host (a batch holds a few rigs, each many times)."""
    rows, item = torch.unique(torch.cat([parents, mirror], 1), dim=0, return_inverse=True)
    J = parents.shape[1]
    rigs = [(tuple(r[:J]), tuple(r[J:])) for r in rows.tolist()]
    subtrees = torch.from_numpy(np.stack([_subtrees(p) for p, _ in rigs]))
    limb = torch.from_numpy(np.stack([_limbs(p, m) for p, m in rigs]))
    return subtrees.to(parents.device)[item], limb.to(parents.device)[item]


def _items(mask: torch.Tensor) -> torch.Tensor:
    """The indices of the items ``mask`` (B,) marks: the costlier steps work on those alone."""
    return mask.nonzero()[:, 0]


def morph(c: _Clips, chosen: torch.Tensor, scale: Seq[float], rand: Draws) -> torch.Tensor:
    """Rescale the bones of the ``chosen`` items limb by limb (log-uniform factors in ``scale``), rebuilding the 3D
    down the tree; returns the items changed (those with a tree)."""
    B, T, J, _ = c.xyz.shape
    chosen = chosen & (c.parents >= 0).any(1)
    factors = torch.exp(rand.uniform(*np.log(scale), B, J))  # (B, J): one per limb, by the limb's id
    at = _items(chosen)
    if not len(at):
        return chosen
    parents, xyz = c.parents[at], c.xyz[at]
    subtrees, limb = _rig_tables(parents, c.mirror[at])
    factor = factors[at].gather(1, limb)
    above = subtrees.transpose(1, 2)  # above[b, j, k]: k is j or one of its ancestors
    root = parents < 0
    rooted = (above & root[:, None, :]).any(-1)  # joints that reach a root (not on or under a cycle)
    parent = parents.clamp(min=0)[:, None, :, None].expand(len(at), T, J, 3)
    bone = xyz - xyz.gather(2, parent)  # each joint less its parent
    # a joint's new place: its root's, plus every bone on the way down scaled by the factor of the joint it ends in
    step = torch.where(root[:, None, :, None], xyz, factor[:, None, :, None] * bone)
    lost = ~torch.isfinite(step).all(-1)  # (b, T, J): a joint without 3D loses every joint below it too
    above = above.to(xyz.dtype)
    moved = torch.einsum("bjk,btkc->btjc", above, step.nan_to_num(0.0, 0.0, 0.0))
    lost = torch.einsum("bjk,btk->btj", above, lost.to(xyz.dtype)) > 0
    moved = torch.where(lost[..., None], torch.nan, moved)
    c.xyz[at] = torch.where(rooted[:, None, :, None], moved, xyz)
    return chosen


def add_virtual_joints(c: _Clips, chosen: torch.Tensor, most: int, rand: Draws) -> torch.Tensor:
    """Give each ``chosen`` item 1..``most`` extra joints at random points of random bones (edges), joined to both
    ends; the arrays grow by ``most`` padding joints. Returns the items changed."""
    B, T, J, _ = c.xyz.shape
    dev = c.device

    def grow(a: torch.Tensor, dim: int, fill) -> torch.Tensor:
        shape = list(a.shape)
        shape[dim] = most
        return torch.cat([a, torch.full(shape, fill, dtype=a.dtype, device=dev)], dim)

    c.uv, c.visible, c.xyz = grow(c.uv, 2, torch.nan), grow(c.visible, 2, False), grow(c.xyz, 2, torch.nan)
    c.exists, c.parents = grow(c.exists, 1, False), grow(c.parents, 1, -1)
    c.mirror = torch.cat([c.mirror, torch.arange(J, J + most, device=dev).expand(B, most)], 1)
    c.adjacency = grow(grow(c.adjacency, 1, False), 2, False)
    new = torch.arange(J, J + most, device=dev)
    c.adjacency[:, new, new] = True
    wanted = (rand.random(B) * most).long() + 1  # joints to add per item
    share = rand.uniform(0.25, 0.75, B, most)  # where along its bone each goes
    at = _items(chosen)
    if not len(at):
        return chosen
    b = len(at)
    exists = c.exists[at, :J]
    bones = (torch.triu(c.adjacency[at, :J, :J], 1) & exists[:, :, None] & exists[:, None, :]).flatten(1)
    count = torch.minimum(wanted[at], bones.sum(1))
    # that many of an item's bones, at random and each once: those of the smallest random keys
    keys = torch.cat([torch.where(bones, rand.random(b, J * J), 2.0), torch.full((b, most), 3.0, device=dev)], 1)
    placed = torch.arange(most, device=dev) < count[:, None]  # (b, most)
    pick = torch.where(placed, keys.topk(most, 1, largest=False).indices, 0)
    ends = torch.stack([pick // J, pick % J])  # (2, b, most): each bone's two joints
    xyz = c.xyz[at]
    first, last = (xyz.gather(2, e[:, None, :, None].expand(b, T, most, 3)) for e in ends)
    xyz[:, :, J:] = torch.where(placed[:, None, :, None], first + share[at, None, :, None] * (last - first), torch.nan)
    c.xyz[at] = xyz
    c.exists[at, J:] = placed
    joined = torch.nn.functional.one_hot(ends, J + most).any(0) & placed[..., None]  # (b, most, J + most)
    adjacency = c.adjacency[at]
    adjacency[:, J:] |= joined
    adjacency[:, :, J:] |= joined.transpose(1, 2)
    c.adjacency[at] = adjacency
    changed = torch.zeros_like(chosen)
    changed[at] = count > 0
    return changed


def camera_rotation(azimuth: torch.Tensor, elevation: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3): a turn about the camera frame's vertical (y) axis, then a tilt about x, then a roll about the
    optical (z) axis (radians)."""
    ca, sa = torch.cos(azimuth), torch.sin(azimuth)
    ce, se = torch.cos(elevation), torch.sin(elevation)
    cr, sr = torch.cos(roll), torch.sin(roll)
    one, zero = torch.ones_like(ca), torch.zeros_like(ca)

    def matrix(*rows):
        return torch.stack([torch.stack(r, -1) for r in rows], -2)

    turn = matrix((ca, zero, sa), (zero, one, zero), (-sa, zero, ca))
    tilt = matrix((one, zero, zero), (zero, ce, -se), (zero, se, ce))
    spin = matrix((cr, -sr, zero), (sr, cr, zero), (zero, zero, one))
    return spin @ tilt @ turn


def view_through(
    xyz: torch.Tensor, seen: torch.Tensor, R: torch.Tensor, distance: torch.Tensor, weak: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clips (B, T, J, 3) seen through cameras turned by R (B, 3, 3) about the centre of their ``seen`` points
    (B, T, J) and set ``distance`` (B,) object sizes in front of it (the size: the RMS distance of those points from
    their centre), projected with focal length FOCAL and the principal point at (FOCAL/2, FOCAL/2), by each point's
    own depth or (``weak`` (B,)) its frame's mean depth. Returns the camera-frame 3D (NaN where not seen), the 2D
    (NaN where not in front of the camera), which points are in front, and each item's size."""
    n = seen.flatten(1).sum(1).clamp(min=1)  # (B,)
    centre = torch.where(seen[..., None], xyz, 0.0).flatten(1, 2).sum(1) / n[:, None]  # (B, 3)
    off = xyz - centre[:, None, None]
    size = (torch.where(seen, (off**2).sum(-1), 0.0).flatten(1).sum(1) / n).sqrt()
    cam = torch.einsum("bij,btkj->btki", R.to(xyz.dtype), off)
    cam[..., 2] += (distance * size)[:, None, None]
    z = cam[..., 2:]
    mean_z = torch.nanmean(torch.where(seen[..., None], z, torch.nan), 2, keepdim=True)  # (B, T, 1, 1)
    depth = torch.where(weak[:, None, None, None], mean_z, z)
    in_front = seen & (z[..., 0] > 0.05 * size[:, None, None])
    uv = torch.where(in_front[..., None], FOCAL * cam[..., :2] / depth + FOCAL / 2, torch.nan)
    return torch.where(seen[..., None], cam, torch.nan), uv, in_front, size


def reproject(c: _Clips, chosen: torch.Tensor, aug: AugmentConfig, rand: Draws) -> None:
    """See the ``chosen`` items through new random cameras: new camera-frame 3D and its projection, every point in
    front of the camera visible (occlusion comes later). Items with fewer than two 3D points stay as they are."""
    B = c.xyz.shape[0]
    seen = torch.isfinite(c.xyz).all(-1) & c.exists[:, None]
    R = camera_rotation(
        rand.uniform(0, 2 * np.pi, B),
        torch.deg2rad(rand.uniform(*aug.elevation_deg, B)),
        torch.deg2rad(rand.uniform(-aug.roll_deg, aug.roll_deg, B)),
    )
    distance = torch.exp(rand.uniform(*np.log(aug.distance), B))
    weak = rand.random(B) < aug.weak_projection
    xyz, uv, in_front, size = view_through(c.xyz, seen, R, distance, weak)
    ok = (chosen & (seen.flatten(1).sum(1) >= 2) & (size > 0))[:, None, None]
    c.xyz = torch.where(ok[..., None], xyz, c.xyz)
    c.uv = torch.where(ok[..., None], uv.to(c.uv.dtype), c.uv)
    c.visible = torch.where(ok, in_front, c.visible)


def _bridged(adjacency: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
    """The graphs (b, J, J) on the kept joints: two are joined if they were, or if a path through dropped joints
    (b, J) joined them. One graph (J, J) and its dropped joints (J,) as numpy arrays give a numpy array."""
    if isinstance(adjacency, np.ndarray):
        return _bridged(torch.from_numpy(adjacency)[None], torch.from_numpy(np.asarray(dropped))[None])[0].numpy()
    b, J = dropped.shape
    K = int(dropped.sum(1).max()) if b else 0  # the most joints dropped from one item
    through = (~dropped).to(torch.uint8).argsort(dim=1, stable=True)[:, :K]  # (b, K): each item's dropped joints first
    real = dropped.gather(1, through)  # (b, K): which of those are dropped
    into = adjacency.gather(2, through[:, None, :].expand(b, J, K)) & real[:, None, :]  # (b, J, K): edges into them
    out = adjacency.gather(1, through[:, :, None].expand(b, K, J)) & real[:, :, None]  # (b, K, J): edges out of them
    # which dropped joints a path through dropped joints joins: paths twice as long each round, log2(K) rounds
    among = into.gather(1, through[:, :, None].expand(b, K, K)) & real[:, :, None]
    among |= torch.eye(K, dtype=torch.bool, device=into.device)
    while True:
        grown = (among.float() @ among.float()) > 0
        if torch.equal(grown, among):
            break
        among = grown
    reach = adjacency | ((((into.float() @ among.float()) > 0).float() @ out.float()) > 0)
    keep = ~dropped
    joined = reach & keep[:, :, None] & keep[:, None, :]
    eye = torch.eye(J, dtype=torch.bool, device=joined.device)
    return torch.where(eye, keep[:, None, :], joined)  # self-loops on the kept joints; a dropped one is like padding


def drop_joints(c: _Clips, chosen: torch.Tensor, most: float, rand: Draws, min_joints: int = 3) -> None:
    """Reduce the ``chosen`` items to random sub-skeletons: up to ``most`` of the joints go, as single joints or
    (half the time, where the rig has a tree) as whole limbs; the graph is rebuilt for the joints left."""
    B, J = c.exists.shape
    dev = c.device
    present = c.exists
    n = present.sum(1)
    budget = torch.minimum((rand.uniform(0, most, B) * n).long(), n - min_joints)  # joints to drop, per item
    chosen = chosen & (budget > 0)
    by_limb = chosen & (c.parents >= 0).any(1) & (rand.random(B) < 0.5)
    order = torch.where(present, rand.random(B, J), 2.0).argsort(1)  # the present joints in a random order first
    dropped = torch.zeros(B, J, dtype=torch.bool, device=dev)
    dropped.scatter_(1, order, torch.arange(J, device=dev) < budget[:, None])  # single joints: the first few
    dropped &= (chosen & ~by_limb)[:, None]
    at = _items(by_limb)
    if len(at):  # whole limbs: the subtree under each joint in that order, while it fits in what is left to drop
        subtrees, _ = _rig_tables(c.parents[at], c.mirror[at])
        taken = torch.zeros(len(at), J, dtype=torch.bool, device=dev)
        items, left = torch.arange(len(at), device=dev), budget[at]
        for k in range(J):
            start = order[at, k]
            subtree = subtrees[items, start] & ~taken
            size = subtree.sum(1)
            fits = present[at, start] & (size <= left)
            taken |= subtree & fits[:, None]
            left = left - torch.where(fits, size, 0)
        dropped[at] = taken
    at = _items(dropped.any(1))
    if len(at):
        c.adjacency[at] = _bridged(c.adjacency[at], dropped[at])
    c.exists = c.exists & ~dropped
    c.visible = c.visible & ~dropped[:, None]
    c.uv = torch.where(dropped[:, None, :, None], torch.nan, c.uv)
    c.xyz = torch.where(dropped[:, None, :, None], torch.nan, c.xyz)


def detector_noise(c: _Clips, sigma: float, outliers: float, rand: Draws) -> None:
    """2D as trackers give it: Gaussian noise with a per-item sigma up to ``sigma`` times the 2D size, and a share
    ``outliers`` of the visible points thrown somewhere in the box around the object."""
    seen = c.visible  # (B, T, J)
    B = seen.shape[0]
    ok = seen.flatten(1).sum(1) >= 2  # items with a box to measure
    lo = torch.where(seen[..., None], c.uv, torch.inf).amin((1, 2))
    hi = torch.where(seen[..., None], c.uv, -torch.inf).amax((1, 2))
    lo, hi = torch.where(ok[:, None], lo, 0.0), torch.where(ok[:, None], hi, 0.0)
    if sigma > 0:
        spread = rand.uniform(0, sigma, B) * torch.linalg.vector_norm(hi - lo, dim=-1)
        c.uv = c.uv + rand.normal(*c.uv.shape) * spread[:, None, None, None]
    if outliers > 0:
        thrown = seen & ok[:, None, None] & (rand.random(*seen.shape) < outliers)
        margin = 0.2 * (hi - lo)
        low, width = (lo - margin)[:, None, None], (hi - lo + 2 * margin)[:, None, None]
        c.uv = torch.where(thrown[..., None], low + rand.random(*c.uv.shape) * width, c.uv)
