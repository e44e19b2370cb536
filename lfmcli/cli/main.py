"""The `lfm` command."""

from __future__ import annotations

import typer

from .. import __version__
from . import build_dataset, dataset, models, mvlift, rigs
from .adapt import adapt
from .common import LfmGroup
from .eval import eval_
from .lift import lift
from .render import render
from .train import train

app = typer.Typer(
    cls=LfmGroup,
    name="lfm",
    help="Lift 2D keypoints of any object (humans, animals, furniture) into 3D.\n\n"
    "Start with [cyan]lfm rigs list[/] to see the skeletons lfm knows, [cyan]lfm build-dataset --help[/] to turn "
    "3D data into a training set, and [cyan]lfm dataset info FILE[/] to look inside one.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(rigs.app, name="rigs")
app.add_typer(dataset.app, name="dataset")
app.add_typer(models.app, name="models")
app.add_typer(build_dataset.app, name="build-dataset")
app.add_typer(mvlift.app, name="mvlift")
app.command("train")(train)
app.command("adapt")(adapt)
app.command("eval")(eval_)
app.command("lift")(lift)
app.command("render")(render)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lfm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Lift 2D keypoints of any object into 3D."""
