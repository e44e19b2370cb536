"""`lfm render`: pictures of lifted or ground-truth motion."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import typer

from .common import err


def render(
    input: Path = typer.Argument(
        ..., help="A result of lfm lift, or an lfm dataset (with --sequence and --checkpoint)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="A .gif, .mp4 (needs imageio-ffmpeg) or .png file."),
    individual: int = typer.Option(0, "--individual", help="Which individual of a lift result."),
    sequence: str = typer.Option(None, "--sequence", help="Dataset sequence (name or number) to lift and compare."),
    view: int = typer.Option(0, "--view", help="Which camera view of the dataset sequence."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Model for a dataset sequence."),
    max_frames: int = typer.Option(120, "--max-frames", help="Draw at most this many frames (evenly spread)."),
    fps: float = typer.Option(15.0, "--fps", help="Frames per second of the animation."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Draw the 2D input beside the 3D skeleton (rig edges, camera slowly orbiting): ground truth in red and the
    lifted prediction in blue when both exist. Headless (matplotlib Agg).

    Example: [cyan]lfm render walk.h5 -o walk.gif[/]

    Example: [cyan]lfm render real.h5 --sequence human_cmu/train_walking_1 --checkpoint best.safetensors -o cmp.gif[/]
    """
    from ..errors import LfmError
    from ..render import render_motion

    try:
        with h5py.File(input, "r") as f:
            is_dataset = f.attrs.get("format") == "lfm-dataset"
    except (OSError, FileNotFoundError):
        raise LfmError("not a readable HDF5 file", input) from None
    if is_dataset:
        uv, pred, truth, edges, title, size = _dataset_sequence(input, sequence, view, checkpoint, device)
    else:
        if sequence is not None:
            raise LfmError("--sequence is for dataset files; this is a lift result", input)
        uv, pred, truth, edges, title, size = _lift_result(input, individual)
    keep = np.unique(np.linspace(0, len(uv) - 1, min(max_frames, len(uv))).round().astype(int))
    n = render_motion(
        output,
        uv[keep],
        edges,
        pred[keep] if pred is not None else None,
        truth[keep] if truth is not None else None,
        fps=fps,
        title=title,
        image_size=size,
    )
    err.print(f"drew {n} frame(s) to {output}")


def _lift_result(path: Path, individual: int):
    from ..errors import LfmError

    with h5py.File(path, "r") as f:
        if "position" not in f or "position_2d" not in f:
            raise LfmError("neither an lfm dataset nor an lfm lift result", path)
        if not 0 <= individual < f["position"].shape[1]:
            raise LfmError(f"--individual {individual}: the file has {f['position'].shape[1]}", path)
        pos = f["position"][:, individual]
        uv = f["position_2d"][:, individual]
        edges = [tuple(e) for e in f["edges"][()]] if "edges" in f else []
    return uv, _facing_camera(pos, uv), None, edges, f"{path.name} (individual {individual})", None


def _facing_camera(pos: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The canonical frame has no fixed orientation: for display, turn the whole sequence (one similarity
    transform) so that its x, y best match the 2D input; depth then runs along z, as in a camera frame."""
    import torch

    from ..geometry.procrustes import sequence_align

    flat = np.concatenate([uv, np.zeros_like(uv[..., :1])], -1)
    mask = np.isfinite(pos).all(-1) & np.isfinite(flat).all(-1)
    if mask.sum() < 3:
        return pos
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        aligned = sequence_align(
            torch.as_tensor(np.nan_to_num(pos), dtype=torch.float64)[None],
            torch.as_tensor(np.nan_to_num(flat), dtype=torch.float64)[None],
            torch.as_tensor(mask)[None],
        )[0].numpy()
    return np.where(mask[..., None], aligned, np.nan)


def _dataset_sequence(path: Path, sequence, view: int, checkpoint, device):
    import torch

    from ..checkpoint import load_checkpoint
    from ..data.format import DatasetFile
    from ..devices import resolve_device
    from ..errors import LfmError
    from ..geometry.procrustes import sequence_align
    from ..io.readers import Keypoints2D
    from ..lift import lift_keypoints

    if sequence is None or checkpoint is None:
        raise LfmError("a dataset needs --sequence NAME and --checkpoint to compare against", path)
    with DatasetFile(path) as f:
        names = list(f.sequences["name"])
        index = names.index(sequence) if sequence in names else int(sequence) if sequence.isdigit() else None
        if index is None or not 0 <= index < len(names):
            raise LfmError(f"no sequence {sequence!r} (the file has {len(names)}, e.g. {names[0]!r})", path)
        seq = f.sequence(index)
    if not 0 <= view < len(seq.views):
        raise LfmError(f"--view {view}: sequence {seq.name!r} has {len(seq.views)} view(s)", path)
    v = seq.views[view]
    truth = v.camera.to_camera(seq.points3d).astype(np.float32)
    kp = Keypoints2D(
        points=v.points2d[:, None],
        confidence=np.ones(v.visible.shape, np.float32)[:, None],
        joints=list(seq.rig.joints),
        rig=seq.rig,
        individuals=["0"],
        fps=seq.fps or None,
    )
    dev = resolve_device(device)
    model, cfg, info = load_checkpoint(checkpoint, dev)
    lifted = lift_keypoints(kp, model, cfg.kind, window=int(info.get("window", 48)), device=dev)
    pred = lifted.position[:, 0]
    mask = torch.as_tensor(np.isfinite(pred).all(-1) & np.isfinite(truth).all(-1))[None]
    aligned = sequence_align(torch.as_tensor(np.nan_to_num(pred))[None], torch.as_tensor(truth)[None], mask)[0]
    aligned = np.where(mask[0, ..., None].numpy(), aligned.numpy(), np.nan)
    return v.points2d, aligned, truth, list(seq.rig.edges), f"{seq.name} ({seq.category})", v.camera.image_size
