"""What a sequence's geometry can add to a model's depth: bones keep their length over a clip, so a bone's 2D length
in each frame fixes how far it points out of the image, but not to which side.

On the sequences of one category (every view whose joints are all seen), pa-mpjpe% (lower is better) of: the flat
lift; the model; the model's depth refined so that each bone keeps one length over the sequence (a least-squares
fit from the 2D alone, with a per-frame scale for the distance, starting from the model's depth and held near it);
and three upper bounds that read the true 3D: the true bone lengths with the true depth signs, the longest 2D
length of each bone as its length with the true signs, and the true lengths with the model's signs. The bounds
use the 2D as a weak-perspective camera at the frame's true mean depth would give it, in the data's units. Then how
often the model turns a bone to the true side (out of the image or into it), and how its bones' depth steps
correlate with the true ones.

Usage: python benchmarks/bone_lengths.py CHECKPOINT DATASET --category dog [--split all]
(a model that left the category out: `lfm train ... --set 'data.exclude_categories=[dog]'`, docs/accuracy.md)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _table import print_table  # benchmarks/ is the script folder

from lfmcli.checkpoint import load_checkpoint
from lfmcli.data.format import open_dataset
from lfmcli.geometry.kinematics import bone_offsets, topological_order
from lfmcli.geometry.procrustes import similarity_align
from lfmcli.metrics import pa_mpjpe_pct
from lfmcli.models import flat_lift

ROWS = (
    "flat lift",
    "model",
    "model, bone lengths held constant",
    "bound: true lengths, true signs",
    "bound: longest 2D lengths, true signs",
    "bound: true lengths, model's signs",
)


def in_camera(pred: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """The model's shapes (T, J, 3) turned so that their x, y best match the normalised 2D: a residual model's frame
    is its own (a depth model's already is the camera's)."""
    cur = pred
    for _ in range(10):
        cur = similarity_align(pred, torch.cat([xy, cur[..., 2:]], -1))
    return cur


def hold_lengths(xy: np.ndarray, z0: np.ndarray, parents, steps: int = 300) -> np.ndarray:
    """Depths (T, J) near ``z0`` for which every bone has one length over the sequence, up to a slowly varying
    per-frame scale (the object's distance), given its 2D ``xy`` (T, J, 2) in the same units."""
    child = np.array([j for j, p in enumerate(parents) if p >= 0])
    par = np.array([parents[j] for j in child])
    P, Z0 = torch.as_tensor(xy, dtype=torch.float64), torch.as_tensor(z0, dtype=torch.float64)
    l2 = ((P[:, child] - P[:, par]) ** 2).sum(-1)
    start = torch.sqrt(l2 + (Z0[:, child] - Z0[:, par]) ** 2)
    unit = float(start.mean())
    log_length = torch.nn.Parameter(torch.log(start.median(0).values.clamp(min=1e-9)))
    log_scale = torch.nn.Parameter(torch.zeros(len(P), dtype=torch.float64))
    z = torch.nn.Parameter(Z0.clone())
    opt = torch.optim.Adam([{"params": [z], "lr": 0.05 * unit}, {"params": [log_length, log_scale], "lr": 0.05}])
    for _ in range(steps):
        opt.zero_grad()
        length = torch.sqrt(l2 + (z[:, child] - z[:, par]) ** 2 + 1e-12 * unit**2)
        scale = torch.exp(log_scale - log_scale.mean())
        bones = ((length - scale[:, None] * torch.exp(log_length)) ** 2).mean()
        loss = (bones + ((z - Z0) ** 2).mean()) / unit**2 + 10 * ((log_scale[1:] - log_scale[:-1]) ** 2).sum() / len(P)
        loss.backward()
        opt.step()
    return z.detach().numpy()


def from_bones(xy: np.ndarray, dz: np.ndarray, parents) -> np.ndarray:
    """(T, J, 3): the 2D with depths built down the tree from each bone's depth step ``dz`` (T, J)."""
    z = np.zeros(dz.shape)
    for j in topological_order(parents):
        if parents[j] >= 0:
            z[:, j] = z[:, parents[j]] + dz[:, j]
    return np.concatenate([xy, z[..., None]], -1)


def lifted_views(model, ds, category: str, split: str = "all"):
    """(sequence, view, true 3D in the camera frame, flat lift, the model's lift in the camera) for every view of a
    sequence of ``category`` in ``split`` whose joints are all seen, in a rig with a tree."""
    for i in range(ds.num_sequences):
        s = ds.sequences
        if s["category"][i] != category or split not in ("all", s["split"][i]):
            continue
        seq = ds.sequence(i)
        if seq.rig.parents is None or seq.num_frames < 2:
            continue
        for view in seq.views:
            truth = seq.points3d @ view.camera.R.T + view.camera.t  # camera frame
            if not (np.isfinite(truth).all() and view.visible.all()):
                continue
            T, J, _ = truth.shape
            pixels = torch.as_tensor(view.points2d, dtype=torch.float32)
            seen = torch.ones(T, J, dtype=torch.bool)
            flat = flat_lift(pixels, seen)
            adjacency = torch.as_tensor(seq.rig.adjacency())[None]
            with torch.no_grad():
                pred = in_camera(model.lift_clips(pixels[None], seen[None], seen[:1], adjacency)[0], flat[..., :2])
            yield seq, view, truth, flat, pred


def depth_steps(truth: np.ndarray, pred: np.ndarray, parents) -> tuple[np.ndarray, np.ndarray]:
    """Each bone's depth step (child minus parent, along the camera axis), true and the model's, over all frames."""
    bone = np.asarray(parents) >= 0
    true_step, model_step = bone_offsets(truth, parents)[..., 2], bone_offsets(pred, parents)[..., 2]
    return true_step[:, bone].ravel(), model_step[:, bone].ravel()


def bone_sides(steps: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """How often (%) the model turns a bone to the true side, each bone weighted by its true depth step (50% is
    chance), and the correlation of its depth steps with the true ones."""
    true_step, model_step = (np.concatenate(k) for k in zip(*steps, strict=True))
    agree = (np.sign(true_step) == np.sign(model_step)) * np.abs(true_step)
    return 100 * agree.sum() / np.abs(true_step).sum(), float(np.corrcoef(true_step, model_step)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("dataset")
    ap.add_argument("--category", required=True)
    ap.add_argument("--split", default="all", help="train, val, test, or all")
    args = ap.parse_args()
    model = load_checkpoint(args.checkpoint, "cpu").model
    errors: dict[str, list[np.ndarray]] = {row: [] for row in ROWS}
    steps: list[tuple[np.ndarray, np.ndarray]] = []  # each bone's depth step, true and the model's
    clips = 0
    with open_dataset(args.dataset) as ds:
        for seq, view, truth, flat, pred in lifted_views(model, ds, args.category, args.split):
            parents = seq.rig.parents
            T, J, _ = truth.shape
            seen = torch.ones(T, J, dtype=torch.bool)
            xy_np, pred_np = flat[..., :2].double().numpy(), pred.double().numpy()
            held = hold_lengths(xy_np, pred_np[..., 2], parents)
            # the bounds: 2D of a weak-perspective camera at each frame's true mean depth, in the data's units
            K = view.camera.K
            metric = (view.points2d - K[:2, 2]) / K[0, 0] * truth[..., 2].mean(1)[:, None, None]
            flat_len = np.linalg.norm(bone_offsets(metric, parents), axis=-1)
            true_len = np.linalg.norm(bone_offsets(truth[:1], parents), axis=-1)
            true_sign = np.sign(bone_offsets(truth, parents)[..., 2])
            model_sign = np.sign(bone_offsets(pred_np, parents)[..., 2])
            steps.append(depth_steps(truth, pred_np, parents))

            def depth_of(length, sign, flat_len=flat_len):
                return sign * np.sqrt(np.clip(length**2 - flat_len**2, 0, None))

            shapes = {
                "flat lift": flat.numpy(),
                "model": pred_np,
                "model, bone lengths held constant": np.concatenate([xy_np, held[..., None]], -1),
                "bound: true lengths, true signs": from_bones(metric, depth_of(true_len, true_sign), parents),
                "bound: longest 2D lengths, true signs": from_bones(
                    metric, depth_of(flat_len.max(0, keepdims=True), true_sign), parents
                ),
                "bound: true lengths, model's signs": from_bones(metric, depth_of(true_len, model_sign), parents),
            }
            target = torch.as_tensor(truth, dtype=torch.float32)
            for row, shape in shapes.items():
                errors[row].append(pa_mpjpe_pct(torch.as_tensor(shape, dtype=torch.float32), target, seen).numpy())
            clips += 1
    if not clips:
        raise SystemExit(f"no sequence of category {args.category!r} with every joint seen in {args.dataset}")
    frames = sum(len(e) for e in errors["model"])
    print_table(
        ["depth from", "pa-mpjpe %"],
        [[row, f"{np.concatenate(errors[row]).mean():.2f}"] for row in ROWS],
        f"{args.category}: {clips} views of sequences, {frames} frames ({args.split} split)",
    )
    side, correlation = bone_sides(steps)
    print(
        f"the model turns a bone to the true side for {side:.0f}% of the depth (each bone weighted by its true depth "
        f"step; 50% is chance); correlation of its depth steps with the true ones {correlation:.2f}"
    )


if __name__ == "__main__":
    main()
