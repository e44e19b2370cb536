"""`lfm models`: the packaged default models."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import err, out, print_json

app = typer.Typer(
    help="The models packaged with lfm (used by lfm lift when no --checkpoint is given).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout.")) -> None:
    """List the packaged models: kind, size, what they were trained on, validation error, hardware and time.

    Example: [cyan]lfm models list[/]
    """
    from ..checkpoint import packaged_models

    found = packaged_models()
    if as_json:
        print_json(found)
        return
    if not found:
        err.print("no packaged models in this installation (make default-model builds them)")
        return
    table = Table(title="packaged models")
    table.add_column("name", no_wrap=True, min_width=max(len(n) for n in found))
    for col in ("kind", "size", "trained on", "val PA-MPJPE", "hardware, time"):
        table.add_column(col, overflow="fold")
    for name, m in found.items():
        table.add_row(
            name,
            f"{m['kind']} (D {m['dim']}, {m['layers']} layers)",
            f"{m['parameters']:,} params, {m['megabytes']} MB",
            ", ".join(m.get("categories", [])),
            f"{m.get('val_pa_mpjpe', float('nan')):.4f}",
            f"{m.get('hardware', '?')}, {m.get('recipe_minutes', '?')} min",
        )
    out.print(table)
