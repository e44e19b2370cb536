"""Stages 2 and 3 of MVLift: other views of a 2D clip by optimisation, then a 3D motion that explains them all.

Stage 2 (`optimise_views`): the input clip is view 0 of the ring (mvlift/geometry.py); the 2D of the other ring
views is optimised jointly, pulled by score distillation towards motions the stage-1 prior finds likely given the
epipolar lines of the input, and by pairwise epipolar consistency towards one 3D motion. It starts from the flat
lift (the input at the ring's centre depth), which is consistent but has no depth.

Stage 3 (`fit_motion`): 3D by triangulating every view, then constant bone lengths along the rig's tree (the
inverse kinematics of the dataset builders); reprojecting it into views 90 degrees apart gives strictly consistent
multi-view 2D, written as an ordinary lfm dataset, which also trains a lifter that never saw real 3D.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..errors import LfmError
from ..files import check_not_input
from ..geometry.cameras import Camera
from ..sequence import View
from .diffusion import Conditions, MotionDenoiser, sds_target
from .geometry import epipolar_lines, fundamental, line_distance, project, ring_cameras, triangulate
from .prior import Clips


def flat_start(x0: torch.Tensor, angles, radius: float) -> torch.Tensor:
    """The input clips (B, T, J, 2) placed at the ring's centre depth and seen from ``angles``: (B, V, T, J, 2)."""
    world = torch.cat([x0, torch.zeros_like(x0[..., :1])], -1)
    R, t = ring_cameras(angles, radius, x0.dtype)
    return torch.stack([project(world, R[v], t[v], radius) for v in range(len(angles))], 1)


def epipolar_loss(views: torch.Tensor, weight: torch.Tensor, angles, radius: float) -> torch.Tensor:
    """Mean squared distance of each point to its epipolar lines from every other view, over all pairs of views:
    views (B, V, T, J, 2), weight (B, V, T, J). Zero exactly when the views are projections of one 3D motion."""
    R, t = ring_cameras(angles, radius, views.dtype)
    total, norm = views.new_zeros(()), views.new_zeros(())
    for i in range(len(angles)):
        for j in range(len(angles)):
            if i == j:
                continue
            F = fundamental(R[i], t[i], R[j], t[j], radius)
            d = line_distance(epipolar_lines(F, views[:, i]), views[:, j])
            w = weight[:, i] * weight[:, j]
            total = total + (d**2 * w).sum()
            norm = norm + w.sum()
    return total / norm.clamp(min=1)


def input_lines(x0: torch.Tensor, seen: torch.Tensor, angles, radius: float):
    """Epipolar lines (B, V-1, T, J, 3) in each other view of the input's points, and where they hold."""
    R, t = ring_cameras(angles, radius, x0.dtype)
    lines = [epipolar_lines(fundamental(R[0], t[0], R[v], t[v], radius), x0) for v in range(1, len(angles))]
    return torch.stack(lines, 1), seen[:, None].expand(-1, len(angles) - 1, -1, -1)


def view_weights(clips: Clips, views: int) -> torch.Tensor:
    """(B, V, T, J) where each view has a point: the input where it was seen, the other views at every joint of
    every frame."""
    c = clips.cond
    tokens = (c.exists[:, None] & c.frames[:, :, None]).to(clips.x0.dtype)
    return torch.cat([clips.seen[:, 0:1].to(clips.x0.dtype), tokens[:, None].expand(-1, views - 1, -1, -1)], 1)


def optimise_views(
    prior: MotionDenoiser,
    clips: Clips,
    angles,
    radius: float,
    steps: int = 200,
    lr: float = 0.01,
    sds_weight: float = 1.0,
    epipolar_weight: float = 10.0,
    t_range: tuple[float, float] = (0.02, 0.5),
    generator: torch.Generator | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> torch.Tensor:
    """Stage 2: (B, V, T, J, 2) 2D in every ring view of ``angles`` (angles[0] = 0, the input, kept as it is)."""
    x0, seen, c = clips.x0[:, 0], clips.seen[:, 0], clips.cond
    B, T, J, _ = x0.shape
    K = len(angles) - 1
    others = flat_start(x0, angles, radius)[:, 1:].clone().requires_grad_(True)
    lines, has_line = input_lines(x0, seen, angles, radius)
    weight = view_weights(clips, len(angles))
    tokens = weight[:, 1]
    cond = Conditions(
        c.exists.repeat_interleave(K, 0),
        c.adjacency.repeat_interleave(K, 0),
        c.frames.repeat_interleave(K, 0),
        lines.reshape(B * K, 1, T, J, 3),
        has_line.reshape(B * K, 1, T, J),
    )
    opt = torch.optim.Adam([others], lr=lr)
    for step in range(steps):
        flat = others.reshape(B * K, 1, T, J, 2)
        target = sds_target(prior, flat, cond, t_range, generator)
        w = tokens.repeat_interleave(K, 0)[:, None, ..., None]
        sds = 0.5 * (((flat - target) ** 2) * w).sum() / w.sum().clamp(min=1)
        epi = epipolar_loss(torch.cat([x0[:, None], others], 1), weight, angles, radius)
        loss = sds_weight * sds + epipolar_weight * epi
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step:
            on_step(step + 1, steps, float(loss.detach()))
    return torch.cat([x0[:, None], others.detach()], 1)


def fit_motion(views: torch.Tensor, weight: torch.Tensor, angles, radius: float) -> torch.Tensor:
    """Stage 3's first step: the 3D (B, T, J, 3) that best explains the 2D of all views (B, V, T, J, 2) in the
    ring's world frame (y down), by weighted triangulation; the points seen in the input (view 0) keep their 2D
    there exactly, the optimised views give their depth."""
    R, t = ring_cameras(angles, radius, torch.float64)
    pts = views.double().permute(0, 2, 1, 3, 4)  # (B, T, V, J, 2)
    w = weight.double().permute(0, 2, 1, 3)
    return triangulate(pts, w, R, t, radius, exact_first=True).to(views.dtype)


def constant_bones(motion: np.ndarray, parents, steps: int = 100) -> np.ndarray:
    """Stage 3's second step: the motion (T, J, 3) with the bone lengths of a rig tree held constant (the
    median over frames, not the first frame's, since triangulated frames are noisy), by inverse kinematics."""
    from ..geometry.kinematics import refine_bone_lengths

    parents = np.asarray(parents)
    lengths = np.linalg.norm(motion - motion[:, np.maximum(parents, 0)], axis=-1)  # (T, J)
    typical = np.median(lengths, 0)
    rest = motion[int(np.argmin(np.abs(lengths - typical).sum(-1)))]  # the frame of the most typical bones
    refined, _ = refine_bone_lengths(motion, parents, [0], steps=steps, rest_frames=rest[None])
    return refined


IMAGE = 1000  # pixels across the virtual images the consistent views are written in
PIXELS_PER_UNIT = IMAGE / 4  # an object of one unit fills a quarter of them
Y_UP = np.diag([1.0, -1.0, -1.0])  # the ring's world (y down, as images) turned upright for the dataset file


def ring_view_cameras(angles, radius: float) -> list[Camera]:
    """The ring cameras of ``angles`` as pixel cameras of the upright world the dataset file stores."""
    R, t = ring_cameras(angles, radius, torch.float64)
    f = PIXELS_PER_UNIT * radius
    K = np.array([[f, 0.0, IMAGE / 2], [0.0, f, IMAGE / 2], [0.0, 0.0, 1.0]])
    return [Camera(K=K, R=R[v].numpy() @ Y_UP, t=t[v].numpy(), image_size=(IMAGE, IMAGE)) for v in range(len(angles))]


def _view(cam: Camera, points: np.ndarray) -> View:
    uv = cam.project(points).astype(np.float32)
    visible = np.isfinite(uv).all(-1) & (cam.to_camera(points)[..., 2] > 0) & cam.in_image(uv)
    return View(camera=cam, points2d=np.where(visible[..., None], uv, np.nan), visible=visible)


def _chosen(tiles: tuple[np.ndarray, np.ndarray], most: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``most`` of the clips (0: all), a seeded random choice kept in order."""
    views, starts = tiles
    if not most or len(views) <= most:
        return views, starts
    keep = np.sort(np.random.default_rng(seed).choice(len(views), most, replace=False))
    return views[keep], starts[keep]


def synthesize(
    run: str | Path,
    output: str | Path,
    progress: Callable[[str, int, int], None] | None = None,
    overrides: dict | None = None,
) -> dict:
    """Stages 2 and 3 over every clip of the run's data (windows without overlap, each clip keeps its split):
    writes the fitted 3D motions with their consistent views to the dataset file ``output``; returns its summary.
    ``overrides`` (a nested dict, e.g. {"views": {"steps": 50}}) change the run's config, which is saved."""
    from ..data.format import DatasetFile, DatasetWriter
    from ..devices import resolve_device
    from ..sequence import SPLITS, Sequence
    from .prior import PRIOR, ClipSource
    from .runs import load_denoiser, read_run_config

    run = Path(run)
    check_not_input(Path(output), [run / PRIOR])
    cfg = read_run_config(run).merged(overrides or {})
    prior, _, _ = load_denoiser(run / PRIOR, "prior", resolve_device(cfg.device))
    cfg.save(run / "config.yaml")
    v, radius = cfg.views, cfg.data.radius
    sources = {}
    for split in SPLITS:
        try:
            sources[split] = ClipSource(cfg, split)
        except LfmError:
            continue
    if not sources:
        raise LfmError(f"no motion in {', '.join(cfg.data.paths)}")
    tiles = {split: _chosen(source.tiles(), v.max_clips, cfg.seed) for split, source in sources.items()}
    total = sum(len(t[0]) for t in tiles.values())
    cameras = ring_view_cameras(v.output_angles, radius)
    generator = torch.Generator(device=prior.out[1].weight.device).manual_seed(cfg.seed)
    done, notes = 0, set()
    with DatasetWriter(output, attrs={"builder": "mvlift", "mvlift_run": str(run)}) as writer:
        for split, source in sources.items():
            views, starts = tiles[split]
            for a in range(0, len(views), v.batch_size):
                part = slice(a, a + v.batch_size)
                clips = source.clips(views[part], starts[part]).to(prior.out[1].weight.device)
                seen = optimise_views(
                    prior,
                    clips,
                    v.angles,
                    radius,
                    steps=v.steps,
                    lr=v.lr,
                    sds_weight=v.sds_weight,
                    epipolar_weight=v.epipolar_weight,
                    t_range=(0.02, v.max_noise),
                    generator=generator,
                )
                weight = view_weights(clips, len(v.angles))
                motion = fit_motion(seen, weight, v.angles, radius).cpu().numpy().astype(np.float64)
                c = clips.cond
                for k, (view, start) in enumerate(zip(views[part], starts[part], strict=True)):
                    group = source.bank.groups[source.bank.group_names[source.bank.view_group[view]]]
                    rig, n = group.rig, int(c.frames[k].sum())
                    points = motion[k, :n, : rig.num_joints]
                    if v.bone_steps and rig.parents is not None and n > 1:
                        points = constant_bones(points, rig.parents, v.bone_steps)
                    elif v.bone_steps and rig.parents is None:
                        notes.add(f"rig {rig.name!r} has no joint tree: its bone lengths are not held constant")
                    points = (points @ Y_UP).astype(np.float32)  # Y_UP is its own inverse
                    seq = Sequence(
                        name=f"{source.bank.view_names[view]}@{int(start)}",
                        category=source.bank.categories[source.bank.view_category[view]],
                        rig=rig,
                        points3d=points,
                        fps=float(source.bank.view_fps[view]),
                        split=split,
                        units="object",  # the object's size in its input view is 1
                        source="mvlift stages 2 and 3",
                    )
                    seq.views = [_view(cam, points) for cam in cameras]
                    writer.add(seq)
                done += len(views[part])
                if progress:
                    progress("clips", done, total)
    with DatasetFile(output) as f:
        return {**f.info(), "notes": sorted(notes)}
