"""`lfm train`: train a lifting model on dataset files."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import LfmError
from ..files import check_writable_folder
from .common import err, progress


def train(
    data: list[Path] = typer.Option(None, "--data", help="Dataset files (repeat --data for several)."),
    output: Path = typer.Option(..., "-o", "--output", help="Run folder (config, metrics, checkpoints)."),
    model: str = typer.Option("lfm", "--model", help="lfm (single frame) or spacetime."),
    preset: str = typer.Option(
        "small", "--preset", help="lfm: tiny, small, base, large; spacetime: tiny, small, paper."
    ),
    config: Path = typer.Option(None, "--config", help="YAML config (blocks: model, data, training, loss)."),
    overrides: list[str] = typer.Option([], "--set", help="Override one setting: --set training.lr=3e-4 (repeatable)."),
    epochs: int = typer.Option(None, "--epochs", help="Epochs (training.epochs)."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Training time budget (training.max_minutes)."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (training.device)."),
    init: Path = typer.Option(
        None, "--init", help="Start from this checkpoint's matching weights, e.g. a single-frame model (training.init)."
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of weights, batches and augmentation (training.seed)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its last epoch."),
) -> None:
    """Train 3D-LFM or the space-time model with a Procrustes-aligned loss; the best and last checkpoints, the
    resolved config and per-epoch metrics go to the run folder.

    Datasets with different rigs and joint counts mix in one batch (padding and masks); categories are balanced
    and visible points randomly hidden (data.occlusion) by default. Multi-GPU: run the same command under torchrun.

    Example: [cyan]lfm train --data zoo.h5 --data real.h5 --preset small -o runs/small --max-minutes 10[/]

    Example: [cyan]lfm train --data zoo.h5 --model spacetime --set data.window=32 -o runs/st[/]

    Example: [cyan]lfm train --data zoo.h5 --model spacetime --init runs/small/best.safetensors -o runs/st[/]
    """
    from ..config import RunConfig
    from ..train import Trainer

    check_writable_folder(output)  # before any work: the run folder is written only once training starts
    flags = {"epochs": epochs, "max_minutes": max_minutes, "device": device, "init": init and str(init), "seed": seed}
    flags = {k: v for k, v in flags.items() if v is not None}
    if resume:
        if data:
            raise LfmError("--resume continues with the run's own data; leave out --data")
        cfg = RunConfig.resume(output, overrides, flags)
    else:
        cfg = RunConfig.resolve(model, preset, config, overrides, data or [], flags)
    with progress() as bar:
        task = bar.add_task("preparing", total=None)
        trainer = Trainer(
            cfg,
            output,
            resume=resume,
            on_step=lambda k, n, loss: bar.update(
                task, completed=k, total=n, description=f"epoch {trainer.epoch + 1} loss {loss:.4f}"
            ),
        )
        err.print(
            f"training {cfg.model.kind} (dim {cfg.model.dim}, {cfg.model.layers} layers) on "
            f"{trainer.device}: {trainer.train_bank.num_samples} train / {trainer.val_bank.num_samples} val frames, "
            f"categories {', '.join(trainer.train_bank.categories)}"
        )
        if trainer.init_report:
            r = trainer.init_report
            err.print(f"started from {r['from']}: {r['copied']} tensors copied, {len(r['fresh'])} fresh")

        def report(r) -> None:
            if trainer.rank:
                return
            mark = " [green]best[/]" if r.best else ""
            err.print(
                f"epoch {r.epoch:3d}  loss {r.train_loss:.5f}  val PA-MPJPE {r.val_pa_mpjpe:.4f}  "
                f"lr {r.lr:.1e}  {r.samples_per_second:,.0f} samples/s{mark}"
            )

        reports = trainer.fit(on_epoch=report)
    if trainer.rank == 0:
        err.print(
            f"best val PA-MPJPE {trainer.best:.4f} after {trainer.epoch} epochs; "
            f"{output / 'best.safetensors'} and {output / 'metrics.jsonl'}"
            if reports
            else "no epoch was run"
        )
