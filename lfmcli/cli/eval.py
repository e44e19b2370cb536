"""`lfm eval`: metrics of a checkpoint on a dataset split."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..metrics import ALIASES, METRICS
from .common import err, out, print_json, progress

_NAMES = ", ".join(f"{m} ({a})" if (a := next((k for k, v in ALIASES.items() if v == m), None)) else m for m in METRICS)


def eval_(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors from lfm train or lfm mvlift)."),
    data: list[Path] = typer.Argument(..., help="Dataset files."),
    metric: list[str] = typer.Option(
        ["mpjpe", "pa-mpjpe", "pa-mpjpe%"],
        "--metric",
        help=f"{_NAMES}; repeat for several (docs/metrics.md).",
    ),
    split: str = typer.Option(
        "test", "--split", help="Which split to evaluate: train, val, test, or all (a category the model never saw)."
    ),
    occlude: float = typer.Option(0.0, "--occlude", help="Hide this ratio of the visible 2D points (seeded)."),
    categories: list[str] = typer.Option(
        None, "--categories", help="Only these categories (comma-separated, or the flag repeated)."
    ),
    exclude: list[str] = typer.Option(
        None, "--exclude-categories", help="Leave these categories out (comma-separated, or the flag repeated)."
    ),
    baseline: str = typer.Option(None, "--baseline", help="flat: also report the z = 0 lift, for reference."),
    per_sequence: bool = typer.Option(False, "--per-sequence", help="Also report every sequence (and view)."),
    window: int = typer.Option(None, "--window", help="Clip length for sequence metrics (default: the model's)."),
    seed: int = typer.Option(0, "--seed", help="Seed of --occlude."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Evaluate a checkpoint: per-category and overall metrics, frame-weighted, in the ground truth's units
    (pa-mpjpe% is scale-free). docs/metrics.md gives every formula.

    Example: [cyan]lfm eval runs/small/best.safetensors real.h5 --metric pa-mpjpe --metric sa-mpjpe --baseline flat[/]
    """
    from ..errors import LfmError
    from ..eval import evaluate

    if baseline not in (None, "flat"):
        raise LfmError(f"--baseline {baseline!r}: the only baseline is flat")
    split_list = lambda given: [c.strip() for text in given or [] for c in text.split(",") if c.strip()]  # noqa: E731
    with progress() as bar:
        task = bar.add_task("evaluating", total=None)
        result = evaluate(
            checkpoint,
            data,
            metric,
            split=None if split == "all" else split,
            occlusion=occlude,
            categories=split_list(categories) if categories else None,
            exclude=split_list(exclude),
            baseline=baseline == "flat",
            per_sequence=per_sequence,
            window=window,
            seed=seed,
            device=device,
            advance=lambda n: bar.update(task, advance=n),
        )
    if as_json:
        print_json(result)
        return
    scored = [result["overall"], *([result["baseline"]["overall"]] if baseline else [])]
    names = [m for m in dict.fromkeys(k for r in scored for k in r) if m != "frames"]
    table = Table(
        title=f"{checkpoint} on {split} ({result['overall']['frames']} frames"
        + (f", {occlude:.0%} of 2D hidden" if occlude else "")
        + ")"
    )
    table.add_column("sequence" if per_sequence else "category", overflow="fold")
    table.add_column("frames", justify="right")
    for m in names:
        table.add_column(m, justify="right")
        if baseline:
            table.add_column(f"{m} flat", justify="right", style="dim")
    rows = [*result["categories"].items(), ("overall", result["overall"])]
    if per_sequence:
        rows = [*result["sequences"].items(), *rows]
    for name, values in rows:
        cells = []
        for m in names:
            cells.append(f"{values[m]:.4g}" if m in values else "-")
            if baseline:
                base = (
                    result["baseline"]["overall"]
                    if name == "overall"
                    else result["baseline"]
                    .get("sequences" if per_sequence and name in result.get("sequences", {}) else "categories", {})
                    .get(name, {})
                )
                cells.append(f"{base[m]:.4g}" if m in base else "-")
        table.add_row(name, str(values["frames"]), *cells)
    out.print(table)
    for note in result["notes"]:
        err.print(f"[yellow]note:[/] {note}")
