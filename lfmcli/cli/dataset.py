"""`lfm dataset`: look inside and check dataset files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..data.format import DatasetFile
from .common import err, out, print_json

app = typer.Typer(help="Inspect and validate lfm dataset files (HDF5).", no_args_is_help=True, rich_markup_mode="rich")


@app.command()
def info(
    path: Path = typer.Argument(..., help="An lfm dataset file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Summarise a dataset: sequences, frames, and frames per category, rig and split.

    Example: [cyan]lfm dataset info real.h5 --json[/]
    """
    with DatasetFile(path) as f:
        summary = f.info()
    if as_json:
        print_json(summary)
        return
    out.print(
        f"[bold]{path}[/]: {summary['sequences']} sequences, {summary['frames']} frames, "
        f"{summary['views']} views, {summary['samples']} 2D samples; units {', '.join(summary['units'])}"
    )
    for key, label in (("categories", "frames"), ("splits", "frames"), ("rigs", "joints")):
        table = Table(show_header=True)
        table.add_column(key[:-1] if key != "categories" else "category")
        table.add_column(label, justify="right")
        for k, v in summary[key].items():
            table.add_row(k, str(v))
        out.print(table)


@app.command()
def validate(path: Path = typer.Argument(..., help="An lfm dataset file.")) -> None:
    """Check schema, shapes, camera sanity, NaN and infinite values, and that visible points have coordinates.

    Example: [cyan]lfm dataset validate real.h5[/]
    """
    with DatasetFile(path) as f:
        problems = f.validate()
        summary = None if problems else f.info()
    if problems:
        for p in problems[:50]:
            err.print(f"[red]problem:[/] {path}: {p}")
        if len(problems) > 50:
            err.print(f"... and {len(problems) - 50} more")
        raise typer.Exit(1)
    err.print(f"[green]valid[/]: {path} ({summary['sequences']} sequences, {summary['frames']} frames)")
