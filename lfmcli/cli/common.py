"""What every command shares: consoles (logs to stderr, data to stdout), progress bars, the one-line error rule."""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer.core import TyperGroup

from ..errors import LfmError

UNWRAPPED = 10_000  # columns off a terminal: wider than any row lfm prints


class _Console(Console):
    """A rich console that wraps to the terminal's width, and off a terminal (a pipe, a log, CI) not at all: a
    table is as wide as its content, so each row stays one line that grep finds."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if getattr(self.file, "isatty", lambda: False)() else ConsoleDimensions(UNWRAPPED, size.height)


err = _Console(stderr=True, soft_wrap=True, highlight=False)
out = _Console(highlight=False)  # results (tables): stdout


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def stage_reporter(bar: Progress):
    """A library progress callback, ``(stage, item, total)``, that keeps one bar per stage."""
    tasks: dict[str, int] = {}

    def report(stage: str, item: str = "", total: int | None = None) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], advance=1, description=item or stage)

    return report


class LfmGroup(TyperGroup):
    """Turns a user mistake (LfmError) into one line on stderr and exit code 1; LFM_DEBUG=1 keeps the traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LfmError as e:
            if os.environ.get("LFM_DEBUG", "0") not in ("", "0"):
                raise
            one_line = " ".join(str(e).split())  # a value quoted in the message may span lines
            err.print(f"[bold red]error:[/] {escape(one_line)}")
            ctx.exit(1)
