"""`lfm adapt`: adapt a lifting model to a new kind of object from its 2D alone."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import LfmError
from ..files import check_writable_folder
from .common import err, progress


def adapt(
    data: list[Path] = typer.Option(None, "--data", help="Datasets of the new kind's 2D (only their 2D is read)."),
    output: Path = typer.Option(..., "-o", "--output", help="Run folder (config, metrics, checkpoints)."),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="The model to start from (default: the packaged one); it is only read."
    ),
    scratch: bool = typer.Option(False, "--scratch", help="Start from fresh weights of --model and --preset."),
    model: str = typer.Option(
        "lfm", "--model", help="lfm (single frame) or spacetime: the packaged model of that kind, or a fresh one."
    ),
    preset: str = typer.Option(
        "small", "--preset", help="With --scratch: lfm tiny, small, base, large; spacetime tiny, small, paper."
    ),
    config: Path = typer.Option(None, "--config", help="YAML config (blocks: model, data, training, loss, adapt)."),
    overrides: list[str] = typer.Option([], "--set", help="Override one setting: --set adapt.cycle=1 (repeatable)."),
    steps: int = typer.Option(None, "--steps", help="Optimisation steps in all."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Time budget (training.max_minutes)."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (training.device)."),
    seed: int = typer.Option(None, "--seed", help="Seed of weights, clips and views (training.seed)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its last epoch."),
) -> None:
    """Adapt a lifter to a kind of object it never saw, from that kind's 2D alone: other views of each lift must
    be likely under a density of the kind's real 2D and pass for real 2D with a critic, every bone keeps the length
    its 2D shows over its track, mirrored bones are alike (the adapt block of the config weighs each term;
    adapt.camera_elevation_deg says how far the camera looks down; adapt.azimuth_deg how far the other views turn:
    narrow turns teach no depth, but keep from harm data that shows the object from one side only; for a rigid
    object, set adapt.prior=0). The best and last checkpoints go to the run folder; `lfm lift --checkpoint` uses
    them like any other.

    It learns from varied poses seen from many sides; a few hundred frames of one camera per clip can do harm.

    Example: [cyan]lfm build-dataset tracks mice/*.h5 -o mice.h5 --category mouse --fps 30[/]

    Example: [cyan]lfm adapt --data mice.h5 -o runs/mice --max-minutes 20[/]

    Example: [cyan]lfm lift clip.h5 -o clip3d.h5 --checkpoint runs/mice/best.safetensors[/]
    """
    from ..adapt import Adapter, AdaptRunConfig, adapt_config, with_steps

    check_writable_folder(output)  # before any work: the run folder is written only once adaptation starts
    flags = {"max_minutes": max_minutes, "device": device, "seed": seed}
    flags = {k: v for k, v in flags.items() if v is not None}
    if resume:
        if data or checkpoint or scratch:
            raise LfmError(
                "--resume continues with the run's own data and model; leave out --data, --checkpoint, --scratch"
            )
        cfg = AdaptRunConfig.resume(output, overrides, flags)
    else:
        cfg = adapt_config(checkpoint, preset if scratch else None, model, config, overrides, data or [], flags)
    if steps is not None:
        cfg = with_steps(cfg, steps, resume)
    with progress() as bar:
        task = bar.add_task("preparing", total=None)
        adapter = Adapter(
            cfg,
            output,
            resume=resume,
            on_step=lambda k, n, loss: bar.update(
                task, completed=k, total=n, description=f"epoch {adapter.epoch + 1} loss {loss:.4f}"
            ),
        )
        bank = adapter.train_bank
        start = f"from {cfg.training.init}" if cfg.training.init else "from scratch"
        err.print(
            f"adapting {cfg.model.kind} (dim {cfg.model.dim}, {cfg.model.layers} layers, {cfg.model.output} output) "
            f"{start} on {adapter.device}: {bank.num_samples} frames of 2D of {', '.join(bank.categories)} "
            f"(rigs {', '.join(bank.group_names)})"
        )

        def report(r) -> None:
            mark = " [green]best[/]" if r.best else ""
            err.print(
                f"epoch {r.epoch:3d}  loss {r.train_loss:.5f}  val loss {r.val_pa_mpjpe:.5f}  lr {r.lr:.1e}{mark}"
            )

        reports = adapter.fit(on_epoch=report)
    flat = f" (flat lift {adapter.flat_val:.5f})" if adapter.flat_val == adapter.flat_val else ""  # not on resume
    err.print(
        f"best val loss {adapter.best:.5f}{flat} after {adapter.step} steps; "
        f"{output / 'best.safetensors'} and {output / 'metrics.jsonl'}"
        if reports
        else "no epoch was run"
    )
