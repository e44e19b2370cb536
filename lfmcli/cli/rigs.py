"""`lfm rigs`: the skeletons lfm knows, and your own."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..errors import printable
from ..files import check_not_input
from ..rigs import get_rig, import_rig, load_rig, shipped_rigs
from .common import err, out, print_json

app = typer.Typer(
    help="List, show, validate and import rigs (joints + the edges the model attends over).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.command("list")
def list_rigs(as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout.")) -> None:
    """List the shipped rigs: name, joints, edges, category and source.

    Example: [cyan]lfm rigs list --json | jq 'keys'[/]
    """
    rigs = shipped_rigs()
    if as_json:
        print_json(
            {
                r.name: {"joints": r.num_joints, "edges": len(r.edges), "category": r.category, "source": r.source}
                for r in rigs.values()
            }
        )
        return
    table = Table(title=f"{len(rigs)} shipped rigs")
    longest = max(len(n) for n in rigs)
    table.add_column("name", no_wrap=True, min_width=longest)
    for col in ("joints", "edges"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    table.add_column("category", no_wrap=True, overflow="ellipsis", min_width=8, max_width=10)
    width = max(79 - 16 - longest - 21, 12)  # the whole table in 80 columns
    table.add_column("source", overflow="ellipsis", no_wrap=True, max_width=width)
    for r in rigs.values():
        table.add_row(r.name, str(r.num_joints), str(len(r.edges)), r.category, r.source)
    out.print(table)


@app.command()
def show(
    rig: str = typer.Argument(..., help="A shipped rig name or a rig YAML file."),
    png: Path = typer.Option(None, "--png", help="Also draw the rig to this PNG file."),
    as_yaml: bool = typer.Option(False, "--yaml", help="Print the rig as YAML to stdout."),
) -> None:
    """Show a rig's joints (with parent and mirror joint) and edges.

    Example: [cyan]lfm rigs show h36m_17 --png h36m_17.png[/]
    """
    r = get_rig(rig)
    if as_yaml:
        typer.echo(r.to_yaml(), nl=False)
    else:
        mirror = {a: b for a, b in r.symmetry} | {b: a for a, b in r.symmetry}
        table = Table(
            title=f"{r.name}: {r.num_joints} joints, {len(r.edges)} edges"
            + (f" — {r.description}" if r.description else "")
        )
        for col in ("#", "joint", "parent", "mirror", "edges to"):
            table.add_column(col, overflow="fold")
        for j, name in enumerate(r.joints):
            parent = "" if r.parents is None or r.parents[j] < 0 else r.joints[r.parents[j]]
            linked = [r.joints[b if a == j else a] for a, b in r.edges if j in (a, b)]
            table.add_row(str(j), name, parent, r.joints[mirror[j]] if j in mirror else "", ", ".join(linked))
        out.print(table)
    if png is not None:
        from ..render import draw_rig

        draw_rig(r, png)
        err.print(f"drew {r.name} to {png}")


@app.command()
def validate(path: Path = typer.Argument(..., help="A rig YAML file.")) -> None:
    """Check a rig file: known joint names, no duplicates, no self-loops, no parent cycles; says how many
    unconnected parts its graph has.

    Example: [cyan]lfm rigs validate my_rig.yaml[/]
    """
    r = load_rig(path)
    err.print(
        f"[green]valid[/]: {printable(path)} defines {r.name!r} with {r.num_joints} joints and {len(r.edges)} edges"
        + (", a kinematic tree" if r.parents is not None else "")
        + (f", in {r.parts} unconnected parts" if r.edges and r.parts > 1 else "")
    )


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="A DeepLabCut config.yaml, or a COCO JSON with keypoint categories."),
    output: Path = typer.Option(..., "-o", "--output", help="The rig YAML file to write."),
    name: str = typer.Option(None, "--name", help="Rig name (default: the DLC Task or the COCO category name)."),
    category: str = typer.Option(None, "--category", help="Which COCO category, when the file has several."),
) -> None:
    """Make a rig from a DeepLabCut project config (bodyparts + skeleton) or a COCO keypoint category.

    Example: [cyan]lfm rigs import dlc-project/config.yaml -o mouse.yaml[/]

    Example: [cyan]lfm rigs import person_keypoints_val2017.json --category person -o person.yaml[/]
    """
    check_not_input(output, [path])
    r = import_rig(path, name=name, category=category)
    r.save(output)
    err.print(f"wrote {output}: {r.name!r} with {r.num_joints} joints and {len(r.edges)} edges")
