"""`lfm mvlift`: learn to lift from 2D alone (MVLift), one subcommand per stage, all in one run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import LfmError
from .common import err, progress

app = typer.Typer(
    help="Learn to lift from 2D alone (MVLift): a line-conditioned 2D motion prior ([cyan]prior[/]), other views "
    "of every clip by score distillation and epipolar consistency, fitted to 3D and reprojected into consistent "
    "views ([cyan]views[/]), a multi-view diffusion model that lifts ([cyan]multiview[/]), and a space-time lifter "
    "distilled from the fitted 3D ([cyan]distil[/]). Every stage reads only the 2D of its data.\n\n"
    "Example: [cyan]lfm build-dataset tracks *.csv -o mice.h5 --category mouse --fps 30; "
    "lfm mvlift prior --data mice.h5 -o runs/mice; lfm mvlift views runs/mice; lfm mvlift multiview runs/mice; "
    "lfm lift clip.csv -o clip.h5 --checkpoint runs/mice/multiview.safetensors[/]",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

RUN = typer.Argument(..., help="The MVLift run folder (made by `lfm mvlift prior`).")
DEVICE = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (default: the run's).")
RESUME = typer.Option(False, "--resume", help="Continue this stage in the run folder from its last save.")
OVERRIDES = typer.Option([], "--set", help="Override one setting: --set prior.lr=3e-4 (repeatable).")


def _bar_step(bar, task, what: str):
    return lambda k, n, loss: bar.update(task, completed=k, total=n, description=f"{what} loss {loss:.4f}")


@app.command()
def prior(
    data: list[Path] = typer.Option(..., "--data", help="Dataset files (2D of any; their 3D is never read)."),
    output: Path = typer.Option(..., "-o", "--output", help="The run folder to create."),
    config: Path = typer.Option(None, "--config", help="YAML config (blocks: model, data, prior, views, multiview)."),
    overrides: list[str] = OVERRIDES,
    steps: int = typer.Option(None, "--steps", help="Training steps (prior.steps)."),
    seed: int = typer.Option(None, "--seed", help="Seed of weights, clips and noise."),
    device: str = DEVICE,
    resume: bool = RESUME,
) -> None:
    """Stage 1: train the 2D motion prior, conditioned on epipolar lines, on clips of the data's 2D.

    Example: [cyan]lfm mvlift prior --data humans2d.h5 -o runs/mv --steps 3000[/]
    """
    from ..mvlift.config import MVLiftConfig
    from ..mvlift.prior import PRIOR, train_prior
    from ..mvlift.runs import read_run_config

    words = list(overrides) + ([f"prior.steps={steps}"] if steps is not None else [])
    if resume:
        cfg = read_run_config(output).merged(_sets(words, seed, device))
    else:
        cfg = MVLiftConfig.resolve(config, words, data, seed=seed, device=device)
    with progress() as bar:
        row = train_prior(cfg, output, resume, _bar_step(bar, bar.add_task("prior", total=None), "prior"))
    err.print(f"prior: validation loss {row.get('val_loss', float('nan')):.4f} at step {row.get('step')}")
    err.print(f"{output / PRIOR}; next: [cyan]lfm mvlift views {output}[/]")


@app.command()
def views(
    run: Path = RUN,
    output: Path = typer.Option(None, "-o", "--output", help="The dataset file to write (default: RUN/views.h5)."),
    overrides: list[str] = OVERRIDES,
    device: str = DEVICE,
) -> None:
    """Stages 2 and 3: other views of every clip of the data (score distillation from the prior and epipolar
    consistency), one 3D motion fitted to them with constant bone lengths, and its strictly consistent views,
    written as an lfm dataset (3D in units of the object's size).

    Example: [cyan]lfm mvlift views runs/mv[/]
    """
    from ..mvlift.views import synthesize

    output = output or run / "views.h5"
    with progress() as bar:
        tasks: dict = {}

        def advance(stage: str, done: int, total: int) -> None:
            tasks.setdefault(stage, bar.add_task(stage, total=total))
            bar.update(tasks[stage], completed=done)

        summary = synthesize(run, output, advance, _sets(overrides, device=device))
    for note in summary["notes"]:
        err.print(f"[yellow]note:[/] {note}")
    err.print(
        f"{output}: {summary['sequences']} clips, {summary['frames']} frames in {summary['views']} views; next: "
        f"[cyan]lfm mvlift multiview {run}[/]"
    )


@app.command()
def multiview(
    run: Path = RUN,
    data: list[Path] = typer.Option(None, "--data", help="Stage-3 dataset files (default: RUN/views.h5)."),
    overrides: list[str] = OVERRIDES,
    steps: int = typer.Option(None, "--steps", help="Training steps (multiview.steps)."),
    device: str = DEVICE,
    resume: bool = RESUME,
) -> None:
    """Stage 4: train the multi-view model that generates the other views of an input clip in one pass; its
    checkpoint lifts: [cyan]lfm lift FILE --checkpoint RUN/multiview.safetensors[/].

    Example: [cyan]lfm mvlift multiview runs/mv[/]
    """
    from ..mvlift.multiview import MULTIVIEW, train_multiview

    words = list(overrides) + ([f"multiview.steps={steps}"] if steps is not None else [])
    with progress() as bar:
        row = train_multiview(
            run,
            data or [run / "views.h5"],
            resume,
            _sets(words, device=device),
            _bar_step(bar, bar.add_task("multiview", total=None), "multiview"),
        )
    err.print(f"multiview: validation loss {row.get('val_loss', float('nan')):.4f} at step {row.get('step')}")
    err.print(f"{run / MULTIVIEW}; lift with [cyan]lfm lift FILE --checkpoint {run / MULTIVIEW}[/]")


@app.command()
def distil(
    run: Path = RUN,
    preset: str = typer.Option("small", "--preset", help="Space-time model preset: tiny, small, paper."),
    overrides: list[str] = typer.Option([], "--set", help="Override one `lfm train` setting (repeatable)."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Training time budget (training.max_minutes)."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Train lfm's space-time lifter on the stage-3 3D (RUN/views.h5) into RUN/lifter: a lifter that never saw
    real 3D, used like any other ([cyan]lfm lift FILE --checkpoint RUN/lifter/best.safetensors[/]).

    Example: [cyan]lfm mvlift distil runs/mv --max-minutes 10[/]
    """
    from ..config import RunConfig
    from ..train import Trainer

    data = run / "views.h5"
    if not data.exists():
        raise LfmError("no views.h5 in the run folder: run `lfm mvlift views` first", run)
    flags = {k: v for k, v in {"max_minutes": max_minutes, "device": device}.items() if v is not None}
    cfg = RunConfig.resolve("spacetime", preset, None, overrides, [data], flags)
    with progress() as bar:
        task = bar.add_task("distil", total=None)
        trainer = Trainer(cfg, run / "lifter", on_step=_bar_step(bar, task, "distil"))
        trainer.fit()
    err.print(f"distilled lifter: val PA-MPJPE {trainer.best:.4f}; {run / 'lifter' / 'best.safetensors'}")


def _sets(words: list[str], seed: int | None = None, device: str | None = None) -> dict:
    from ..config import parse_set

    update = parse_set(words)
    update.update({k: v for k, v in {"seed": seed, "device": device}.items() if v is not None})
    return update
