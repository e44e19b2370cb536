"""Stage 4 of MVLift: a multi-view 2D diffusion model that generates the other ring views of an input clip in one
pass, trained on the strictly consistent views of stage 3; triangulating its views gives 3D motion with its path.

`MVLifter` wraps it as a lifting model (``lift_clips`` like lfm's models), so `lfm lift` and `lfm eval` take an
MVLift checkpoint as they take any other: its output is in the input camera's frame (OpenCV axes), in units of
the object's size in the input view, with the motion's path through that frame kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import checkpoint_loader
from ..data.format import DatasetFile, require_valid
from ..errors import LfmError
from .config import MVLiftConfig
from .diffusion import Conditions, MotionDenoiser, sample
from .geometry import normalise_clip, ring_cameras, triangulate
from .runs import load_denoiser
from .views import PIXELS_PER_UNIT

MULTIVIEW = "multiview.safetensors"


class ViewSets:
    """Clips of every view of the stage-3 sequences of dataset files: (views, frames, joints) per sequence, in the
    ring's normalised coordinates. Their 3D is never read."""

    def __init__(self, paths, split: str | None, views: int, window: int, radius: float):
        self.items = []  # (points (V, T, J, 2), rig)
        self.categories: set[str] = set()
        for path in paths:
            require_valid(path)
            with DatasetFile(path) as f:
                s, v = f.sequences, f.views
                if f.attrs.get("builder") != "mvlift":
                    raise LfmError("not made by `lfm mvlift views` (stage 3): its views are not a ring", path)
                for i in range(f.num_sequences):
                    if split is not None and s["split"][i] != split:
                        continue
                    own = np.flatnonzero(v["sequence"] == i)
                    rig = f.rigs[s["rig"][i]]
                    n, starts = int(s["length"][i]), v["start"][own]
                    if len(own) != views:
                        raise LfmError(f"sequence {s['name'][i]!r} has {len(own)} views, the model {views}", path)
                    uv = np.stack([f.points(rig.name, "points2d")[a : a + n] for a in starts])
                    K = v["K"][own[0]]
                    if not math.isclose(K[0, 0] / PIXELS_PER_UNIT, radius, rel_tol=1e-6):
                        raise LfmError(
                            f"its ring has radius {K[0, 0] / PIXELS_PER_UNIT:g}, the config {radius:g}", path
                        )
                    self.items.append(((uv - K[:2, 2]) / PIXELS_PER_UNIT, rig))  # back to normalised coordinates
                    self.categories.add(str(s["category"][i]))
        if not self.items:
            raise LfmError(f"no {split or ''} sequences in {', '.join(map(str, paths))}")
        self.window = window
        self.max_joints = max(rig.num_joints for _, rig in self.items)

    def training(self, chosen: np.ndarray, rng: np.random.Generator):
        """Random windows of the ``chosen`` sequences: (clean 2D (B, V, T, J, 2), where the loss counts (every
        known point of every view but the given input view), conditions) for `runs.fit_denoiser`."""
        B, T, J = len(chosen), self.window, max(self.items[k][1].num_joints for k in chosen)
        V = self.items[chosen[0]][0].shape[0]
        x0 = torch.zeros(B, V, T, J, 2)
        known = torch.zeros(B, V, T, J, dtype=torch.bool)
        exists = torch.zeros(B, J, dtype=torch.bool)
        adjacency = torch.zeros(B, J, J, dtype=torch.bool)
        frames = torch.zeros(B, T, dtype=torch.bool)
        for b, k in enumerate(chosen):
            uv, rig = self.items[k]
            n, j = min(uv.shape[1], T), rig.num_joints
            a = int(rng.integers(0, uv.shape[1] - n + 1))
            clip = torch.as_tensor(uv[:, a : a + n], dtype=torch.float32)
            x0[b, :, :n, :j] = torch.nan_to_num(clip)
            known[b, :, :n, :j] = torch.isfinite(clip).all(-1)
            exists[b, :j] = True
            adjacency[b, :j, :j] = torch.as_tensor(rig.adjacency())
            frames[b, :n] = True
        given = torch.zeros(B, V, dtype=torch.bool)
        given[:, 0] = True
        cond = Conditions(exists, adjacency, frames, given=given, clean=x0)
        return x0, (known & ~given[:, :, None, None]).float(), cond


def train_multiview(
    run: str | Path,
    data: list[str | Path],
    resume: bool = False,
    overrides: dict | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train the stage-4 model into the run folder ``run`` (whose config.yaml stage 1 wrote) on stage-3 dataset
    files ``data``; returns the last metrics row."""
    from .runs import RunFolder, fit_denoiser, read_run_config

    cfg = read_run_config(run).merged(overrides or {})
    block, V = cfg.multiview, len(cfg.views.output_angles)
    folder = RunFolder(run, cfg, MULTIVIEW, resume)
    try:
        torch.manual_seed(cfg.seed)
        train = ViewSets(data, "train", V, cfg.data.window, cfg.data.radius)
        try:
            val = ViewSets(data, "val", V, cfg.data.window, cfg.data.radius)
        except LfmError:
            val = train
        m = cfg.model
        model = MotionDenoiser(m.dim, m.heads, m.layers, m.mlp_ratio, views=V)
        fixed_rng = np.random.default_rng([cfg.seed, 1])
        fixed = val.training(fixed_rng.integers(0, len(val.items), block.val_clips), fixed_rng)
        return fit_denoiser(
            model,
            folder,
            block,
            lambda rng: train.training(rng.integers(0, len(train.items), block.batch_size), rng),
            fixed,
            cfg,
            resume,
            on_step,
            info={
                "views": V,
                "window": cfg.data.window,
                "data": [str(p) for p in data],
                # what it trained on, as a lifter's checkpoint records it (`Checkpoint.familiarity_note`)
                "categories": sorted(train.categories),
                "rigs": {rig.name: rig.num_joints for _, rig in train.items},
            },
        )
    finally:
        folder.close()


CAMERA_FRAME = (
    "input camera frame (OpenCV axes: x right, y down, z forward) in units of the object's typical size in the "
    "image, its path through that frame kept; the distance assumes a camera data.radius object sizes away (default 4)"
)


class MVLifter(nn.Module):
    """The stage-4 model as a lifter: generate the other ring views of each clip; the input's points keep their 2D
    and take their depth from the generated views."""

    temporal = True
    frame_note = CAMERA_FRAME
    image_view = "perspective"  # its output is the input camera's frame with depth: x/z, y/z in the image (j2d)

    def __init__(self, denoiser: MotionDenoiser, cfg: MVLiftConfig, seed: int = 0):
        super().__init__()
        self.denoiser, self.cfg, self.seed = denoiser, cfg, seed

    def lift_clips(self, points2d, visible, exists, adjacency) -> torch.Tensor:
        """(B, T, J, 2) pixel clips -> (B, T, J, 3) in the input camera's frame (OpenCV axes), in object sizes."""
        B, T, J, _ = points2d.shape
        seen = visible & exists[:, None]
        x0, _, _ = normalise_clip(points2d, seen)
        return self._lift_normalised(x0, seen, exists, adjacency)

    def lift_sequence(self, points: np.ndarray, visible: np.ndarray, adjacency: torch.Tensor) -> np.ndarray:
        """(T, J, 2) pixels -> (T, J, 3): the whole sequence in one camera frame (CAMERA_FRAME)."""
        return _lift_sequence(self, points, visible, adjacency)

    def _lift_normalised(self, x0, seen, exists, adjacency) -> torch.Tensor:
        B, T, J, _ = x0.shape
        angles, radius = self.cfg.views.output_angles, self.cfg.data.radius
        V = len(angles)
        frames = torch.ones(B, T, dtype=torch.bool, device=x0.device)
        given = torch.zeros(B, V, dtype=torch.bool, device=x0.device)
        given[:, 0] = True
        clean = torch.zeros(B, V, T, J, 2, device=x0.device, dtype=x0.dtype)
        clean[:, 0] = x0
        cond = Conditions(exists, adjacency, frames, given=given, clean=clean)
        generator = torch.Generator(device=x0.device).manual_seed(self.seed)
        views = sample(self.denoiser, (B, V, T, J, 2), cond, self.cfg.multiview.sample_steps, generator, x0.device)
        weight = torch.cat([seen[:, None], exists[:, None, None].expand(B, V - 1, T, J)], 1).to(x0.dtype)
        R, t = ring_cameras(angles, radius, torch.float64)
        points = triangulate(
            views.double().transpose(1, 2),
            weight.double().transpose(1, 2),
            R.to(x0.device),
            t.to(x0.device),
            radius,
            exact_first=True,  # the input view is observed, the others generated
        )
        return (points + torch.tensor([0.0, 0.0, radius], device=x0.device, dtype=torch.float64)).to(x0.dtype)


@checkpoint_loader("mvlift")  # `load_checkpoint` (lift, eval) reads a multi-view checkpoint as a lifter
def load_lifter(path: str | Path, device: str = "cpu") -> tuple[MVLifter, MVLiftConfig, dict]:
    denoiser, cfg, info = load_denoiser(path, "multiview", device)
    return MVLifter(denoiser, cfg).to(device).eval(), cfg, info


def _lift_sequence(lifter: MVLifter, points: np.ndarray, visible: np.ndarray, adjacency) -> np.ndarray:
    """(T, J, 2) pixels of one individual -> (T, J, 3) in one camera frame for the whole sequence: each clip
    (the model's window, overlapping by half) is lifted in its own normalised frame, then placed where its 2D
    says: its centre along the ray through its 2D centre, at the depth its 2D size implies (a clip half the typical
    size is twice as far), and overlapping clips are blended."""
    T, J, _ = points.shape
    W = min(lifter.cfg.data.window, T)
    radius = lifter.cfg.data.radius
    starts = list(range(0, max(T - W, 0) + 1, max(W // 2, 1)))
    if starts[-1] + W < T:
        starts.append(T - W)
    device = adjacency.device
    pts = torch.as_tensor(np.stack([np.nan_to_num(points[s : s + W]) for s in starts]), device=device)
    vis = torch.as_tensor(np.stack([visible[s : s + W] for s in starts]), device=device)
    exists = torch.ones(len(starts), J, dtype=torch.bool, device=device)
    with torch.no_grad():
        x0, centre, size = normalise_clip(pts, vis)
        clips = lifter._lift_normalised(x0, vis, exists, adjacency.expand(len(starts), J, J)).double().cpu().numpy()
    centre, size = centre.double().cpu().numpy(), size.double().cpu().numpy()
    typical = float(np.median(size))
    middle = np.nanmean(np.where(visible[..., None], points, np.nan).reshape(-1, 2), 0)  # the sequence's 2D centre
    total, weight = np.zeros((T, J, 3)), np.zeros((T, 1, 1))
    ramp = np.minimum(np.arange(1, W + 1), np.arange(W, 0, -1)).astype(float)[:, None, None]
    for k, s in enumerate(starts):
        shift = np.array([*((centre[k] - middle) / size[k]), radius * (typical / size[k] - 1)])
        total[s : s + W] += (clips[k] + shift) * ramp
        weight[s : s + W] += ramp
    return (total / weight).astype(np.float32)
