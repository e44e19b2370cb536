"""`lfm lift`: 2D keypoints in, 3D out."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import printable
from ..io.readers import READERS
from ..io.results import WRITERS
from .common import err

ALSO = ", ".join(n if w.suffix == f".{n}" else f"{n} ({w.suffix})" for n, w in WRITERS.items() if n != "h5")


def lift(
    input: Path = typer.Argument(..., help="2D keypoints: " + "; ".join(r.description for r in READERS.values()) + "."),
    output: Path = typer.Option(..., "-o", "--output", help="The result HDF5 file (opens in xarray, h5py)."),
    fmt: str = typer.Option(None, "--format", help=f"{', '.join(READERS)} (default: detected)."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Model checkpoint (default: a packaged model)."),
    model_kind: str = typer.Option(
        "lfm",
        "--model",
        help="Packaged model to use without --checkpoint: lfm (single frame) or spacetime (sequences).",
    ),
    rig: str = typer.Option(
        None,
        "--rig",
        help="The rig of the input joints: a rig name or YAML, or a DeepLabCut config.yaml (its skeleton and pcutoff); "
        "matched by name when the file names its joints.",
    ),
    min_confidence: float = typer.Option(
        None,
        "--min-confidence",
        help="Points with lower confidence are missing (default: a DeepLabCut config's pcutoff, or "
        + ", ".join(f"{r.min_confidence:g} for {r.name}" for r in READERS.values() if r.min_confidence)
        + ", else 0).",
    ),
    fps: float = typer.Option(None, "--fps", help="Frame rate of the input (default: what the file says, if it does)."),
    also: list[str] = typer.Option([], "--also", help=f"Also write {ALSO} beside the output (repeatable)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Lift 2D keypoints of any object to 3D: one canonical 3D shape per frame and individual (defined up to
    rotation and scale), NaN where a joint was missing.

    Example: [cyan]lfm lift examples/walk.json -o walk.h5[/]

    Example: [cyan]lfm lift openpose_out/ -o people.h5 --min-confidence 0.3 --also npz[/]

    In Python: [cyan]xarray.open_dataset("walk.h5", engine="h5netcdf").position[/]
    """
    from ..lift import lift_file

    done = lift_file(
        input,
        output,
        fmt=fmt,
        checkpoint=checkpoint,
        model_kind=model_kind,
        rig=rig,
        min_confidence=min_confidence,
        fps=fps,
        also=also,
        device=device,
    )
    kp, lifted = done.keypoints, done.lifted
    T, I, J = kp.shape
    err.print(
        f"lifted {T} frames x {I} individual(s) x {J} keypoints ({kp.format}, rig "
        f"{kp.rig.name if kp.rig else 'none'}) with {done.checkpoint.kind} -> {', '.join(map(printable, done.written))}"
    )
    if lifted.empty_frames:
        err.print(
            f"[yellow]warning:[/] {printable(input)}: {lifted.empty_frames} frame(s) had no usable 2D point and are NaN"
        )
    for note in lifted.notes:
        err.print(f"[yellow]note:[/] {note}")
