"""`lfm build-dataset`: turn 3D sources into one lfm dataset file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..data.build import Planned, parse_ratios, write_dataset
from ..rigs import get_rig
from .common import err, progress

app = typer.Typer(
    help="Build an lfm dataset (HDF5) from 3D sources: 2D comes from real cameras where the source "
    "has them, else from seeded random cameras.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

OUTPUT = typer.Option(..., "-o", "--output", help="The dataset file to write (replaced if it exists).")
VIEWS = typer.Option(1, "--views", help="Random cameras per sequence that has no real cameras.")
SEED = typer.Option(0, "--seed", help="Seed for cameras (and generated data): same seed, same file.")
SPLIT = typer.Option("0.8,0.1,0.1", "--split", help="Train,val,test ratios; whole sequences are split, per category.")


def _write(output: Path, planned: list[Planned], views: int, seed: int, split: str, attrs: dict) -> None:
    ratios = parse_ratios(split)
    with progress() as bar:
        task = bar.add_task("building", total=len(planned))
        summary = write_dataset(
            output,
            planned,
            views=views,
            seed=seed,
            ratios=ratios,
            attrs=attrs,
            advance=lambda seq: bar.update(task, advance=1, description=seq.name),
        )
    table = Table(
        title=f"{output}: {summary['sequences']} sequences, {summary['frames']} frames, {summary['samples']} 2D samples"
    )
    table.add_column("category")
    table.add_column("frames", justify="right")
    for k, v in summary["categories"].items():
        table.add_row(k, str(v))
    err.print(table)
    err.print("splits: " + ", ".join(f"{k} {v}" for k, v in summary["splits"].items()) + " frames")


@app.command()
def npz(
    paths: list[Path] = typer.Argument(..., help="Interchange .npz files or folders (searched recursively)."),
    output: Path = OUTPUT,
    views: int = VIEWS,
    seed: int = SEED,
    split: str = SPLIT,
    rig: str = typer.Option(None, "--rig", help="Use this rig (name or YAML) for every file instead of matching."),
) -> None:
    """Import interchange .npz files (points3d, joint_names, parents, fps, category, up_axis, optional real views).

    Rigs are matched to the shipped rigs by joint names, or built from the file's joint tree. Files with fps 0
    hold independent samples: each frame is its own sequence.

    Example: [cyan]lfm build-dataset npz ../shared/data -o real.h5 --views 2[/]
    """
    from ..sources import npz as source

    planned = source.plan(paths, rig=get_rig(rig) if rig else None)
    _write(output, planned, views, seed, split, {"builder": "npz"})


@app.command()
def synthetic(
    output: Path = OUTPUT,
    creatures: int = typer.Option(12, "--creatures", help="How many random creatures (kinds taken in turn)."),
    motions: int = typer.Option(2, "--motions", help="Motions (walk, trot, turn, idle) per creature."),
    frames: int = typer.Option(90, "--frames", help="Frames per sequence."),
    fps: float = typer.Option(30.0, "--fps", help="Frame rate."),
    kinds: str = typer.Option("biped,quadruped,bird,crawler", "--kinds", help="Comma-separated body plans."),
    views: int = VIEWS,
    seed: int = SEED,
    split: str = SPLIT,
) -> None:
    """Generate a seeded zoo of procedural creatures (bipeds, quadrupeds, birds, many-legged crawlers) in motion.

    Needs no download: this is the data the demo and the tests use.

    Example: [cyan]lfm build-dataset synthetic -o zoo.h5 --creatures 24 --views 2 --seed 1[/]
    """
    from ..sources import synthetic as source

    planned = source.plan(
        creatures=creatures,
        motions_per_creature=motions,
        frames=frames,
        fps=fps,
        seed=seed,
        kinds=[k.strip() for k in kinds.split(",") if k.strip()],
    )
    _write(output, planned, views, seed, split, {"builder": "synthetic"})


@app.command()
def bvh(
    paths: list[Path] = typer.Argument(..., help="BVH files or folders (searched recursively)."),
    output: Path = OUTPUT,
    scale: float = typer.Option(
        None, "--scale", help="Metres per BVH unit [default: CMU unit for CMU skeletons, else 1]."
    ),
    fps: float = typer.Option(None, "--fps", help="Resample to this frame rate (default: keep the file's)."),
    end_sites: bool = typer.Option(False, "--end-sites", help="Keep End Site points as joints."),
    category: str = typer.Option("human", "--category", help="Category of the performer."),
    views: int = VIEWS,
    seed: int = SEED,
    split: str = SPLIT,
) -> None:
    """Import BVH motion capture of any skeleton through forward kinematics; the rig comes from the hierarchy.

    Example: [cyan]lfm build-dataset bvh ../shared/data/bvh_cmu -o cmu.h5 --fps 30[/]
    """
    from ..sources import bvh as source

    planned = source.plan(paths, scale=scale, fps=fps, end_sites=end_sites, category=category)
    _write(output, planned, views, seed, split, {"builder": "bvh"})
