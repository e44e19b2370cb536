"""Training samples from dataset files: single frames or windows of frames, padded into batches of mixed rigs.

`SampleBank` loads one split of one or more dataset files into memory, grouped by rig (2D, visibility, and the
3D of every 2D view in that camera's frame), so a batch is a few vectorised gathers. It suits datasets up to a few
million samples; larger ones need a streaming reader. `DeviceBank` holds the same arrays as tensors on one device
(a GPU), so that batches are sampled and gathered where the model runs (``training.batches=device``).
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import LfmError
from ..rigs import Rig
from .draws import Draws, draws
from .format import DatasetFile, require_valid


@dataclass
class Batch:
    points2d: torch.Tensor  # (B, J, 2) or (B, T, J, 2) pixels, NaN where hidden
    visible: torch.Tensor  # (B, J) / (B, T, J) bool: the 2D the model may use
    exists: torch.Tensor  # (B, J) bool: False for padding joints
    adjacency: torch.Tensor  # (B, J, J) bool rig graph with self-loops
    target: torch.Tensor  # (B, J, 3) / (B, T, J, 3) camera-frame 3D
    has_3d: torch.Tensor  # (B, J) / (B, T, J) bool: where the target counts
    category: torch.Tensor  # (B,) int index into SampleBank.categories
    parents: torch.Tensor  # (B, J) int: each joint's parent in the rig's tree, -1 for a root, padding or no tree
    mirror: torch.Tensor  # (B, J) int: each joint's left/right mirror joint (itself when it has none)

    def to(self, device) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)})

    def model_inputs(self):
        return self.points2d, self.visible, self.exists, self.adjacency

    def __len__(self) -> int:
        return len(self.exists)

    def take(self, items: torch.Tensor, joints: int) -> Batch:
        """The batch of ``items`` with only the first ``joints`` joints (those past it must be padding)."""
        cut = {}
        for f in fields(self):
            value = getattr(self, f.name)[items]
            if f.name == "adjacency":
                value = value[:, :joints, :joints]
            elif f.name in ("points2d", "target"):
                value = value[..., :joints, :]
            elif f.name != "category":
                value = value[..., :joints]
            cut[f.name] = value
        return Batch(**cut)

    def by_size(self) -> list[Batch]:
        """The batch whole, or in two pieces of fewer and more joints when that saves most of the padding: a batch
        of mixed rigs is padded to its largest, and attention costs grow with the square of the joint count."""
        J, device = self.exists.shape[1], self.exists.device
        used = (self.exists * torch.arange(1, J + 1, device=device)).amax(1)  # joints up to the last one that exists
        order = torch.argsort(used, stable=True)
        size = used[order].double()
        n = torch.arange(1, len(size) + 1, dtype=torch.float64, device=device)
        cost = n * size**2 + (len(size) - n) * size[-1] ** 2  # attention cost if cut after n items
        k = int(cost.argmin()) + 1
        if cost[k - 1] > 0.7 * len(size) * size[-1] ** 2 or k == len(size):
            return [self.take(order, int(size[-1]))]
        return [self.take(order[:k], int(size[k - 1])), self.take(order[k:], int(size[-1]))]


@dataclass
class _Group:
    rig: Rig
    points2d: np.ndarray  # (M, J, 2)
    visible: np.ndarray  # (M, J)
    target: np.ndarray  # (M, J, 3) camera frame
    parents: np.ndarray = field(init=False)  # (J,) the rig's tree, -1 for roots (all -1 without a tree)
    mirror: np.ndarray = field(init=False)  # (J,) each joint's left/right mirror (itself when it has none)

    def __post_init__(self):
        J = self.rig.num_joints
        self.parents = np.array(self.rig.parents if self.rig.parents is not None else [-1] * J)
        self.mirror = np.arange(J)
        for a, b in self.rig.symmetry:
            self.mirror[a], self.mirror[b] = b, a


class SampleBank:
    """The samples of ``split`` in ``paths`` (all splits when ``split`` is None), optionally only of some
    ``categories`` and without the ``exclude`` ones. With ``read_3d`` (supervised training and evaluation) only
    views of sequences with 3D are taken; without it the 3D is never read and every target is NaN (models that
    learn from 2D alone)."""

    def __init__(
        self,
        paths: Seq[str | Path],
        split: str | None,
        categories: Seq[str] | None = None,
        exclude: Seq[str] = (),
        read_3d: bool = True,
    ):
        groups: dict[str, _Group] = {}
        parts: dict[str, list] = {}
        views = []  # (group name, first row, length, category, fps)
        cameras: list[np.ndarray] = []  # each view's intrinsics K
        names: list[str] = []  # "<sequence>#<view number>" per view
        view_number: dict[tuple[int, int], int] = {}  # (file, sequence) -> views seen so far
        for path in paths:
            require_valid(path)  # never train or evaluate on what the format does not promise
            with DatasetFile(path) as f:
                s, v = f.sequences, f.views
                for j in range(len(v["sequence"])):
                    i = int(v["sequence"][j])
                    if split is not None and s["split"][i] != split:
                        continue
                    if (categories is not None and s["category"][i] not in categories) or s["category"][i] in exclude:
                        continue
                    rig = f.rigs[s["rig"][i]]
                    if rig.name in groups and groups[rig.name].rig != rig:
                        raise LfmError(f"rig {rig.name!r} differs from the rig of that name in another file", path)
                    n, a, b = int(s["length"][i]), int(v["start"][j]), int(s["start"][i])
                    if read_3d:
                        xyz = f.points(rig.name, "points3d")[b : b + n] @ v["R"][j].T.astype(np.float32) + v["t"][j]
                        if not np.isfinite(xyz).any():
                            continue  # a 2D-only sequence
                    else:
                        xyz = np.full((n, rig.num_joints, 3), np.nan, np.float32)
                    groups.setdefault(rig.name, _Group(rig, None, None, None))
                    uv = f.points(rig.name, "points2d")[a : a + n]
                    seen = f.points(rig.name, "visible")[a : a + n]
                    chunks = parts.setdefault(rig.name, [])
                    first = sum(len(c[0]) for c in chunks)
                    chunks.append((uv, seen, xyz.astype(np.float32)))
                    views.append((rig.name, first, n, str(s["category"][i]), float(s["fps"][i])))
                    cameras.append(v["K"][j])
                    k = view_number.get((id(f), i), 0)
                    view_number[(id(f), i)] = k + 1
                    names.append(f"{s['name'][i]}#{k}")
        if not views:
            what = f"{split or ''} samples{' with 3D' if read_3d else ''}".strip()
            raise LfmError(f"no {what} in {', '.join(map(str, paths))}")
        for name, chunks in parts.items():
            g = groups[name]
            g.points2d, g.visible, g.target = (np.concatenate([c[k] for c in chunks]) for k in range(3))
        self.groups = groups
        self._sample_weights: dict[tuple, np.ndarray] = {}
        self.group_names = sorted(groups)
        self.categories = sorted({c for *_, c, _ in views})
        self.max_joints = max(g.rig.num_joints for g in groups.values())
        self.adjacency = {n: g.rig.adjacency() for n, g in groups.items()}
        gid = {n: k for k, n in enumerate(self.group_names)}
        cid = {c: k for k, c in enumerate(self.categories)}
        # one entry per view: its rig group, first row, length, category, fps
        self.view_group = np.array([gid[g] for g, *_ in views])
        self.view_start = np.array([a for _, a, *_ in views])
        self.view_length = np.array([n for _, _, n, *_ in views])
        self.view_category = np.array([cid[c] for *_, c, _ in views])
        self.view_fps = np.array([fps for *_, fps in views])
        self.view_names = names
        self.view_K = np.array(cameras, np.float32).reshape(-1, 3, 3)
        # one entry per frame sample
        self.sample_view = np.repeat(np.arange(len(views)), self.view_length)
        offsets = np.concatenate([[0], np.cumsum(self.view_length)[:-1]])
        self.sample_row = self.view_start[self.sample_view] + (
            np.arange(len(self.sample_view)) - offsets[self.sample_view]
        )

    @property
    def num_samples(self) -> int:
        return len(self.sample_view)

    def frames_per_category(self) -> dict[str, int]:
        counts = np.bincount(self.view_category[self.sample_view], minlength=len(self.categories))
        return {c: int(n) for c, n in zip(self.categories, counts, strict=True)}

    def _category_shares(self, weights: dict[str, float] | None) -> np.ndarray:
        """Each category's share of the batches when balanced: 1, or as ``weights`` says."""
        weights = weights or {}
        return np.array([float(weights.get(c, 1.0)) for c in self.categories])

    def sample_weights(self, balance: bool, weights: dict[str, float] | None = None) -> np.ndarray:
        """Sampling probabilities per frame sample: uniform, or equal total weight per category (times ``weights``,
        a category's share relative to the others)."""
        key = (balance, tuple(sorted((weights or {}).items())))
        if key not in self._sample_weights:  # asked for every batch: made once
            cat = self.view_category[self.sample_view]
            w = self._category_shares(weights)[cat] / np.bincount(cat)[cat] if balance else np.ones(len(cat))
            self._sample_weights[key] = w / w.sum()
        return self._sample_weights[key]

    def window_views(self) -> np.ndarray:
        """Views of time series (fps > 0): the ones windows are cut from."""
        return np.flatnonzero(self.view_fps > 0)

    def view_weights(self, views: np.ndarray, balance: bool, weights: dict[str, float] | None = None) -> np.ndarray:
        w = self.view_length[views].astype(float)
        if balance:
            cat = self.view_category[views]
            totals = np.bincount(cat, weights=w)
            w = w * self._category_shares(weights)[cat] / totals[cat]
        return w / w.sum()

    def _empty(self, B: int, J: int, T: int | None):
        lead = (B, J) if T is None else (B, T, J)
        return (
            np.full((*lead, 2), np.nan, np.float32),
            np.zeros(lead, bool),
            np.zeros((B, J), bool),
            np.zeros((B, J, J), bool),
            np.full((*lead, 3), np.nan, np.float32),
            np.zeros(B, np.int64),
            np.full((B, J), -1, np.int64),
            np.broadcast_to(np.arange(J), (B, J)).copy(),
        )

    def frames(self, samples: np.ndarray) -> Batch:
        """A padded batch of single frames (indices into the frame samples)."""
        views = self.sample_view[samples]
        rows = self.sample_row[samples]
        groups = self.view_group[views]
        J = max(self.groups[self.group_names[g]].rig.num_joints for g in np.unique(groups))
        uv, vis, exists, adj, xyz, cat, parents, mirror = self._empty(len(samples), J, None)
        for g in np.unique(groups):
            at = np.flatnonzero(groups == g)
            grp = self.groups[self.group_names[g]]
            n = grp.rig.num_joints
            uv[at, :n], vis[at, :n], xyz[at, :n] = grp.points2d[rows[at]], grp.visible[rows[at]], grp.target[rows[at]]
            exists[at, :n] = True
            adj[at, :n, :n] = self.adjacency[grp.rig.name]
            parents[at, :n], mirror[at, :n] = grp.parents, grp.mirror
        cat[:] = self.view_category[views]
        return _batch(uv, vis, exists, adj, xyz, cat, parents, mirror)

    def windows(self, views: np.ndarray, starts: np.ndarray, length: int) -> Batch:
        """A padded batch of ``length``-frame windows: frames start..start+length-1 of each view (frames past the
        end of a view are padding: nothing visible, no target)."""
        groups = self.view_group[views]
        J = max(self.groups[self.group_names[g]].rig.num_joints for g in np.unique(groups))
        uv, vis, exists, adj, xyz, cat, parents, mirror = self._empty(len(views), J, length)
        steps = np.arange(length)
        for g in np.unique(groups):
            at = np.flatnonzero(groups == g)
            grp = self.groups[self.group_names[g]]
            n = grp.rig.num_joints
            inside = steps[None] < (self.view_length[views[at]] - starts[at])[:, None]  # (b, T)
            rows = self.view_start[views[at]][:, None] + starts[at][:, None] + np.where(inside, steps[None], 0)
            uv[at, :, :n] = np.where(inside[..., None, None], grp.points2d[rows], np.nan)
            vis[at, :, :n] = grp.visible[rows] & inside[..., None]
            xyz[at, :, :n] = np.where(inside[..., None, None], grp.target[rows], np.nan)
            exists[at, :n] = True
            adj[at, :n, :n] = self.adjacency[grp.rig.name]
            parents[at, :n], mirror[at, :n] = grp.parents, grp.mirror
        cat[:] = self.view_category[views]
        return _batch(uv, vis, exists, adj, xyz, cat, parents, mirror)


def _batch(uv, vis, exists, adj, xyz, cat, parents, mirror) -> Batch:
    has_3d = np.isfinite(xyz).all(-1) & (exists if uv.ndim == 3 else exists[:, None])
    return Batch(
        points2d=torch.from_numpy(uv),
        visible=torch.from_numpy(vis),
        exists=torch.from_numpy(exists),
        adjacency=torch.from_numpy(adj),
        target=torch.from_numpy(xyz),
        has_3d=torch.from_numpy(has_3d),
        category=torch.from_numpy(cat),
        parents=torch.from_numpy(parents),
        mirror=torch.from_numpy(mirror),
    )


class DeviceBank:
    """The samples of a `SampleBank` as tensors on ``device``, copied there once: a batch is drawn, gathered and
    padded there (`DeviceBank.batch`), the same batches as `SampleBank.frames` and `SampleBank.windows` make. The 2D,
    visibility and 3D of every rig lie in flat per-joint arrays (no padding: a sample of a J-joint rig takes J
    entries), so a batch of mixed rigs is one gather."""

    def __init__(self, bank: SampleBank, device: str | torch.device):
        self.bank, self.device = bank, torch.device(device)
        groups = [bank.groups[n] for n in bank.group_names]
        joints = np.array([g.rig.num_joints for g in groups])
        entries = np.array([len(g.points2d) for g in groups]) * joints
        first = np.concatenate([[0], np.cumsum(entries)[:-1]])  # each rig's first entry

        def flat(name: str, width: tuple[int, ...]):
            return torch.from_numpy(np.concatenate([getattr(g, name).reshape(-1, *width) for g in groups]))

        self.points2d, self.visible, self.target = (
            flat(n, w).to(self.device) for n, w in (("points2d", (2,)), ("visible", ()), ("target", (3,)))
        )
        J = bank.max_joints
        self.adjacency = torch.zeros(len(groups), J, J, dtype=torch.bool)
        self.parents = torch.full((len(groups), J), -1, dtype=torch.int64)
        self.mirror = torch.arange(J).repeat(len(groups), 1)
        for k, g in enumerate(groups):
            n = g.rig.num_joints
            self.adjacency[k, :n, :n] = torch.from_numpy(bank.adjacency[g.rig.name])
            self.parents[k, :n], self.mirror[k, :n] = torch.from_numpy(g.parents), torch.from_numpy(g.mirror)
        self.adjacency, self.parents, self.mirror = (
            a.to(self.device) for a in (self.adjacency, self.parents, self.mirror)
        )
        v = bank.view_group
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.int64, device=self.device)  # noqa: E731
        self.view_group, self.view_joints = as_tensor(v), as_tensor(joints[v])
        self.view_first = as_tensor(first[v] + bank.view_start * joints[v])  # entry of the view's first joint
        self.view_length, self.view_category = as_tensor(bank.view_length), as_tensor(bank.view_category)
        self.sample_view = as_tensor(bank.sample_view)
        self.sample_frame = as_tensor(bank.sample_row - bank.view_start[bank.sample_view])  # frame in its view
        self.window_views = as_tensor(bank.window_views())
        self._cdf: dict[tuple, torch.Tensor] = {}

    def _pick(self, key: tuple, weights, size: int, rand: Draws) -> torch.Tensor:
        """``size`` indices drawn with probabilities ``weights()`` (its cumulative sum kept here for ``key``)."""
        if key not in self._cdf:
            cdf = np.cumsum(weights())
            self._cdf[key] = torch.as_tensor(cdf / cdf[-1], dtype=torch.float64, device=self.device)
        cdf = self._cdf[key]
        pick = torch.searchsorted(cdf, rand.random(size, dtype=torch.float64), right=True)
        return pick.clamp_(max=len(cdf) - 1)

    def batch(self, size: int, d: DataConfig, temporal: bool, rand: Draws) -> Batch:
        """``size`` frames (or ``d.window``-frame windows) drawn as `lfmcli.train.make_train_batch` draws them:
        frames (windows: views by their length) balanced by category as the data block ``d`` says, a window's
        start uniform over those that fit in its view."""
        share = (d.balance_categories, tuple(sorted(d.category_weights.items())))
        if temporal:
            views = self.bank.window_views()
            weights = lambda: self.bank.view_weights(views, d.balance_categories, d.category_weights)  # noqa: E731
            chosen = self.window_views[self._pick(("windows", *share), weights, size, rand)]
            fits = (self.view_length[chosen] - d.window + 1).clamp(min=1)
            starts = (rand.random(size, dtype=torch.float64) * fits).long()
            return self.windows(chosen, starts, d.window)
        weights = lambda: self.bank.sample_weights(d.balance_categories, d.category_weights)  # noqa: E731
        return self.frames(self._pick(("frames", *share), weights, size, rand))

    def frames(self, samples: torch.Tensor) -> Batch:
        """`SampleBank.frames` of these samples (a tensor of indices on this device)."""
        views = self.sample_view[samples]
        return self._gather(views, self.view_first[views] + self.sample_frame[samples] * self.view_joints[views])

    def windows(self, views: torch.Tensor, starts: torch.Tensor, length: int) -> Batch:
        """`SampleBank.windows` of these views and starts (tensors on this device)."""
        steps = torch.arange(length, device=self.device)
        inside = steps < (self.view_length[views] - starts)[:, None]  # (B, T): frames past a view's end are padding
        frame = starts[:, None] + torch.where(inside, steps, 0)
        return self._gather(views, self.view_first[views, None] + frame * self.view_joints[views, None], inside)

    def _gather(self, views: torch.Tensor, first: torch.Tensor, inside: torch.Tensor | None = None) -> Batch:
        """The batch whose items (frames, or windows when ``inside`` says which frames hold data) start at the
        entries ``first`` ((B,) or (B, T)), padded to the largest rig among ``views``."""
        n = self.view_joints[views]
        J = int(n.max())
        j = torch.arange(J, device=self.device)
        exists = j < n[:, None]  # (B, J)
        real = exists if inside is None else exists[:, None] & inside[..., None]  # (B, J) or (B, T, J)
        at = torch.where(real, first[..., None] + j, 0)
        uv = torch.where(real[..., None], self.points2d[at], torch.nan)
        xyz = torch.where(real[..., None], self.target[at], torch.nan)
        g = self.view_group[views]
        return Batch(
            points2d=uv,
            visible=self.visible[at] & real,
            exists=exists,
            adjacency=self.adjacency[g, :J, :J],
            target=xyz,
            has_3d=torch.isfinite(xyz).all(-1) & real,
            category=self.view_category[views],
            parents=self.parents[g, :J],
            mirror=self.mirror[g, :J],
        )


def occlude(batch: Batch, ratio: float, rng: np.random.Generator | torch.Generator, min_visible: int = 3) -> Batch:
    """Hide each visible 2D point with probability ``ratio``; items (frames) left with fewer than ``min_visible``
    points keep their original visibility. ``rng``: a numpy Generator, or a torch one on the batch's device."""
    if ratio <= 0:
        return batch
    vis = batch.visible
    hidden = vis & (draws(rng, vis.device).random(*vis.shape) < ratio)
    kept = vis & ~hidden
    enough = kept.sum(-1, keepdim=True) >= vis.sum(-1, keepdim=True).clamp(max=min_visible)
    return replace(batch, visible=torch.where(enough, kept, vis))


def rotate_scale_2d(batch: Batch, degrees: float, scale: float, rng: np.random.Generator | torch.Generator) -> Batch:
    """Random in-plane rotation (+-degrees) and scaling (1 +- scale) of each item's 2D about its visible centroid.
    ``rng``: a numpy Generator, or a torch one on the batch's device."""
    if degrees <= 0 and scale <= 0:
        return batch
    uv = batch.points2d
    B = uv.shape[0]
    rand = draws(rng, uv.device)
    a = torch.deg2rad(rand.uniform(-degrees, degrees, B))
    s = rand.uniform(1 - scale, 1 + scale, B)
    return replace(batch, points2d=turn_2d(uv, batch.visible, a, s))


def turn_2d(uv: torch.Tensor, visible: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Each item's 2D (B, ..., 2) turned by ``angle`` (B,) radians and scaled by ``scale`` (B,) about the centroid of
    its ``visible`` points (B, ...)."""
    B = uv.shape[0]
    c, s = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2) * scale[:, None, None]
    flat = uv.reshape(B, -1, 2)
    seen = visible.reshape(B, -1, 1)
    centre = torch.nanmean(torch.where(seen, flat, torch.nan), 1, keepdim=True).nan_to_num()
    return ((flat - centre) @ rot.transpose(1, 2).to(flat.dtype) + centre).reshape(uv.shape)
