"""`lfm lift`: 2D keypoints in, 3D out."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from .common import err


def lift(
    input: Path = typer.Argument(
        ..., help="2D keypoints: lfm JSON, COCO JSON, OpenPose folder, DeepLabCut csv/h5, SLEAP analysis h5."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="The result HDF5 file (opens in xarray, h5py)."),
    fmt: str = typer.Option(None, "--format", help="lfm-json, coco, openpose, dlc or sleap [default: detected]."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Model checkpoint [default: a packaged model]."),
    model_kind: str = typer.Option(
        "lfm",
        "--model",
        help="Packaged model to use without --checkpoint: lfm (single frame) or spacetime (sequences).",
    ),
    rig: str = typer.Option(None, "--rig", help="The rig of the input joints, when the file does not say."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Points with lower confidence are missing."),
    also: list[str] = typer.Option([], "--also", help="Also write npz, json or c3d beside the output (repeatable)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Lift 2D keypoints of any object to 3D: one canonical 3D shape per frame and individual (defined up to
    rotation and scale), NaN where a joint was missing.

    Example: [cyan]lfm lift examples/walk.json -o walk.h5[/]

    Example: [cyan]lfm lift openpose_out/ -o people.h5 --min-confidence 0.3 --also npz[/]

    In Python: [cyan]xarray.open_dataset("walk.h5", engine="h5netcdf").position[/]
    """
    from .. import __version__
    from ..checkpoint import default_checkpoint, file_hash, load_checkpoint
    from ..devices import resolve_device
    from ..errors import LfmError
    from ..io.readers import read_keypoints
    from ..io.writers import write_also, write_h5
    from ..lift import lift_keypoints
    from ..rigs import get_rig

    for fmt_also in also:
        if fmt_also not in ("npz", "json", "c3d"):
            raise LfmError(f"--also {fmt_also!r}: choose npz, json or c3d")
    targets = [output] + [output.with_suffix(f".{f}") for f in also]
    for target in targets:
        if target.resolve() == input.resolve() or input.resolve() in target.resolve().parents:
            raise LfmError("would overwrite the input; choose another --output name", target)
    kp = read_keypoints(input, fmt)
    if rig is not None:
        kp.rig = get_rig(rig)
        if kp.rig.num_joints != kp.shape[2]:
            raise LfmError(f"{kp.shape[2]} joints, but rig {kp.rig.name!r} has {kp.rig.num_joints}", input)
        kp.joints = list(kp.rig.joints)
    if model_kind not in ("lfm", "spacetime"):
        raise LfmError(f"--model {model_kind!r}: choose lfm or spacetime")
    ckpt = checkpoint or default_checkpoint(model_kind)
    dev = resolve_device(device)
    model, cfg, info = load_checkpoint(ckpt, dev)
    lifted = lift_keypoints(
        kp, model, cfg.kind, window=int(info.get("window", 48)), min_confidence=min_confidence, device=dev
    )
    attrs = {
        "lfm_version": __version__,
        "checkpoint": str(ckpt),
        "checkpoint_sha256": file_hash(ckpt),
        "command": _command_line(input, output, fmt, checkpoint, rig, min_confidence, also, device),
        "input": str(input),
        "input_format": kp.format,
    }
    write_h5(output, kp, lifted, attrs)
    written = [output] + [write_also(output, f, kp, lifted, attrs) for f in also]
    T, I, J = kp.shape
    err.print(
        f"lifted {T} frames x {I} individual(s) x {J} keypoints ({kp.format}, rig "
        f"{kp.rig.name if kp.rig else 'none'}) with {cfg.kind} -> {', '.join(map(str, written))}"
    )
    if lifted.empty_frames:
        err.print(f"[yellow]warning:[/] {input}: {lifted.empty_frames} frame(s) had no usable 2D point and are NaN")
    for note in lifted.notes:
        err.print(f"[yellow]note:[/] {note}")


def _command_line(input, output, fmt, checkpoint, rig, min_confidence, also, device) -> str:
    """The lfm command that reproduces this result (as parsed, so defaults are explicit)."""
    words = ["lfm", "lift", str(input), "-o", str(output)]
    for flag, value in (("--format", fmt), ("--checkpoint", checkpoint), ("--rig", rig)):
        if value is not None:
            words += [flag, str(value)]
    words += ["--min-confidence", str(min_confidence), "--device", device]
    for f in also:
        words += ["--also", f]
    return shlex.join(words)
