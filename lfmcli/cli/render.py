"""`lfm render`: pictures of lifted or ground-truth motion."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err


def render(
    input: Path = typer.Argument(..., help="A result of lfm lift, or an lfm dataset (with --sequence)."),
    output: Path = typer.Option(..., "-o", "--output", help="A .gif, .mp4 (needs imageio-ffmpeg) or .png file."),
    individual: int = typer.Option(0, "--individual", help="Which individual of a lift result."),
    sequence: str = typer.Option(None, "--sequence", help="Dataset sequence (name or number) to lift and compare."),
    view: int = typer.Option(0, "--view", help="Which camera view of the dataset sequence."),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="Model for a dataset sequence (default: the packaged single-frame model)."
    ),
    max_frames: int = typer.Option(120, "--max-frames", help="Draw at most this many frames (evenly spread)."),
    fps: float = typer.Option(15.0, "--fps", help="Frames per second of the animation."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Draw the 2D input beside the 3D skeleton (rig edges, camera slowly orbiting): ground truth in red and the
    lifted prediction in blue when both exist. Headless (matplotlib Agg).

    Example: [cyan]lfm render walk.h5 -o walk.gif[/]

    Example: [cyan]lfm render real.h5 --sequence human_cmu/train_walking_1 --checkpoint best.safetensors -o cmp.gif[/]
    """
    from ..render import render_file

    n = render_file(
        input,
        output,
        individual=individual,
        sequence=sequence,
        view=view,
        checkpoint=checkpoint,
        max_frames=max_frames,
        fps=fps,
        device=device,
    )
    err.print(f"drew {n} frame(s) to {output}")
