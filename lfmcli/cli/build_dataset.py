"""`lfm build-dataset`: turn 3D sources into one lfm dataset file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..data.build import parse_ratios
from ..errors import LfmError
from .common import err, progress, stage_reporter

app = typer.Typer(
    help="Build an lfm dataset (HDF5) from 3D sources: 2D comes from real cameras where the source "
    "has them, else from seeded random cameras.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

OUTPUT = typer.Option(..., "-o", "--output", help="The dataset file to write (replaced if it exists).")
VIEWS = typer.Option(1, "--views", help="Random cameras per sequence that has no real cameras.")
SEED = typer.Option(0, "--seed", help="Seed for cameras (and generated data): same seed, same file.")


def _ratios(text: str) -> str:
    try:
        parse_ratios(text)
    except LfmError as e:
        raise typer.BadParameter(str(e)) from None
    return text


SPLIT = typer.Option(
    "0.8,0.1,0.1", "--split", callback=_ratios, help="Train,val,test ratios; whole sequences are split, per category."
)


SKIP_BAD = typer.Option(False, "--skip-bad", help="Report and skip bad source files instead of stopping.")


def _build(
    source: str,
    paths: list[Path],
    output: Path,
    options: dict,
    views: int = 1,
    seed: int = 0,
    split: str = "0.8,0.1,0.1",
    skip_bad: bool = False,
) -> None:
    """Build through the library and print what was written."""
    from ..sources import build_dataset

    with progress() as bar:
        summary = build_dataset(
            source,
            paths,
            output,
            options,
            views=views,
            seed=seed,
            ratios=parse_ratios(split),
            skip_bad=skip_bad,
            progress=stage_reporter(bar),
        )
    if summary["refinement"]:
        _print_refinement(summary["refinement"])
    for note in summary["notes"]:
        err.print(f"[yellow]note:[/] {note}")
    for name, problem in summary["skipped"]:
        err.print(f"[yellow]skipped[/] {name}: {problem}")
    table = Table(
        title=f"{output}: {summary['sequences']} sequences, {summary['frames']} frames, {summary['samples']} 2D samples"
    )
    for col in ("category", "sequences", "frames"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for k, v in summary["categories"].items():
        table.add_row(k, str(summary["category_sequences"].get(k, 0)), str(v))
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
    skip_bad: bool = SKIP_BAD,
) -> None:
    """Import interchange .npz files (points3d, joint_names, parents, fps, category, up_axis, optional real views).

    Rigs are matched to the shipped rigs by joint names, or built from the file's joint tree. Files with fps 0
    hold independent samples: each frame is its own sequence.

    Example: [cyan]lfm build-dataset npz ../shared/data -o real.h5 --views 2[/]
    """
    _build("npz", paths, output, {"rig": rig}, views, seed, split, skip_bad)


@app.command()
def bvh(
    paths: list[Path] = typer.Argument(..., help="BVH files or folders (searched recursively)."),
    output: Path = OUTPUT,
    scale: float = typer.Option(
        None, "--scale", help="Metres per BVH unit (default: CMU units for CMU joint names, else guessed from size)."
    ),
    fps: float = typer.Option(None, "--fps", help="Resample to this frame rate (default: keep the file's)."),
    end_sites: bool = typer.Option(False, "--end-sites", help="Keep End Site points as joints."),
    category: str = typer.Option("human", "--category", help="Category of the performer."),
    views: int = VIEWS,
    seed: int = SEED,
    split: str = SPLIT,
    skip_bad: bool = SKIP_BAD,
) -> None:
    """Import BVH motion capture of any skeleton through forward kinematics; the rig comes from the hierarchy.

    Example: [cyan]lfm build-dataset bvh ../shared/data/bvh_cmu -o cmu.h5 --fps 30[/]
    """
    options = {"scale": scale, "fps": fps, "end_sites": end_sites, "category": category}
    _build("bvh", paths, output, options, views, seed, split, skip_bad)


@app.command()
def tracks(
    paths: list[Path] = typer.Argument(
        ..., help="2D keypoint files, as `lfm lift` reads them (an OpenPose folder of per-frame JSON is one input)."
    ),
    output: Path = OUTPUT,
    category: str = typer.Option(None, "--category", help="Category of the tracked objects (default: the rig's)."),
    rig: str = typer.Option(None, "--rig", help="A shipped rig name or rig YAML (default: the file's skeleton)."),
    fmt: str = typer.Option(None, "--format", help="Input format (default: detected per file)."),
    fps: float = typer.Option(None, "--fps", help="Frame rate, where the files do not give it."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Points below this confidence are missing."),
    split: str = SPLIT,
    skip_bad: bool = SKIP_BAD,
) -> None:
    """Import 2D tracks without 3D: each individual of each file becomes one sequence with one real view.

    The camera is unknown, so each view gets a nominal one (docs/format.md). Such a dataset trains the models that
    learn from 2D alone ([cyan]lfm mvlift[/]); supervised training leaves it out.

    Example: [cyan]lfm build-dataset tracks mouse1.csv mouse2.csv -o mice.h5 --category mouse --fps 30[/]
    """
    options = {"category": category, "rig": rig, "format": fmt, "fps": fps, "min_confidence": min_confidence}
    _build("tracks", paths, output, options, split=split, skip_bad=skip_bad)


@app.command()
def h36m(
    positions_3d: Path = typer.Argument(..., help="VideoPose3D data_3d_h36m.npz (positions_3d, metres)."),
    output: Path = OUTPUT,
    positions_2d: Path = typer.Option(
        None, "--2d", help="VideoPose3D data_2d_h36m_<detections>.npz: the 4 real views."
    ),
    joints: int = typer.Option(17, "--joints", help="17 (the usual reduction) or 32."),
    train: str = typer.Option("S1,S5,S6,S7,S8", "--train-subjects", help="Subjects in the train split."),
    test: str = typer.Option("S9,S11", "--test-subjects", help="Subjects in the test split."),
    views: int = VIEWS,
    seed: int = SEED,
) -> None:
    """Import Human3.6M as prepared by VideoPose3D (its DATASETS.md tells how; the data needs a Human3.6M licence).

    With --2d, the four real cameras are kept and calibrated from the 2D/3D pairs; without it, --views random
    cameras. Subjects are split as given (S1, S5-S8 train; S9, S11 test by default).

    Example: [cyan]lfm build-dataset h36m data_3d_h36m.npz --2d data_2d_h36m_cpn_ft_h36m_dbb.npz -o h36m.h5[/]
    """
    options = {
        "positions_2d": positions_2d,
        "joints": joints,
        "train_subjects": tuple(x.strip() for x in train.split(",") if x.strip()),
        "test_subjects": tuple(x.strip() for x in test.split(",") if x.strip()),
    }
    _build("h36m", [positions_3d], output, options, views, seed)


@app.command()
def h3wb(
    paths: list[Path] = typer.Argument(..., help="H3WB 2D-to-3D JSON files (133 COCO-WholeBody joints)."),
    output: Path = OUTPUT,
    split: str = SPLIT,
    skip_bad: bool = SKIP_BAD,
) -> None:
    """Import H3WB whole-body samples (keypoints_2d, keypoints_3d in millimetres); each sample's camera is
    calibrated from its own 2D/3D pairs. A file named *train*, *val* or *test* sets the split of its samples.

    Example: [cyan]lfm build-dataset h3wb 2Dto3D_train.json -o h3wb.h5[/]
    """
    _build("h3wb", paths, output, {}, split=split, skip_bad=skip_bad)


@app.command()
def pascal3d(
    paths: list[Path] = typer.Argument(..., help="C3DPO keypoint JSON files (pascal3d_train.json, ...)."),
    output: Path = OUTPUT,
    rig: str = typer.Option(None, "--rig", help="Rig of the keypoints, for C3DPO files without PASCAL3D+ classes."),
    split: str = SPLIT,
    skip_bad: bool = SKIP_BAD,
) -> None:
    """Import C3DPO keypoint JSON: PASCAL3D+ samples become one rig per class (pascal3d_<class>); each sample keeps
    its real 2D with a weak-perspective camera fitted to its camera-frame 3D. Files named *train*/*val*/*test* set
    the split. Download the C3DPO files as its README describes.

    Example: [cyan]lfm build-dataset pascal3d pascal3d_train.json pascal3d_val.json -o pascal3d.h5[/]
    """
    _build("pascal3d", paths, output, {"rig": rig}, split=split, skip_bad=skip_bad)


FPS = typer.Option(30.0, "--fps", help="Frame rate of the animations.")
SMOOTH = typer.Option(0.1, "--smooth", help="Weight of the temporal smoothness term in bone refinement.")
IK_STEPS = typer.Option(100, "--ik-steps", help="Adam steps of the bone-length refinement.")
DEVICE = typer.Option("auto", "--device", help="Where refinement runs: auto, cpu, cuda or cuda:N.")
PROJECTION = typer.Option("perspective", "--projection", help="perspective, or weak (one depth per frame).")
IMAGE_SIZE = typer.Option(1080, "--image-size", help="Square image side in pixels.")
FOCAL = typer.Option(1050.0, "--focal", help="Focal length in pixels (1050 on 1080 px is a 35 mm lens on 36 mm).")


def _print_refinement(report: list[dict]) -> None:
    table = Table(title="bone refinement (RMS marker fit in data units; bone CV = std/mean of a bone's length)")
    for col in ("sequence", "frames", "fit before", "fit after", "bone CV before", "bone CV after"):
        table.add_column(col, justify="left" if col == "sequence" else "right", overflow="fold")
    rows = report if len(report) <= 24 else report[:12] + [None] + report[-11:]
    for r in rows:
        if r is None:
            table.add_row("...", "", "", "", "", "")
            continue
        table.add_row(
            r["sequence"],
            str(r["frames"]),
            f"{r['rms_before']:.4g}",
            f"{r['rms_after']:.4g}",
            f"{100 * r['bone_cv_before']:.2f}%",
            f"{100 * r['bone_cv_after']:.4f}%",
        )
    err.print(table)
    worst = max(r["bone_cv_after"] for r in report)
    err.print(f"largest bone-length variation after refinement: {100 * worst:.5f}% over {len(report)} sequences")


@app.command()
def animalsyn3d(
    paths: list[Path] = typer.Argument(..., help="DeformingThings4D folders or .anime files (searched recursively)."),
    markers: list[Path] = typer.Option(..., "--markers", help="Marker YAML files, AnimalSyn3D JSON files, or folders."),
    output: Path = OUTPUT,
    views: int = VIEWS,
    seed: int = SEED,
    split: str = SPLIT,
    fps: float = FPS,
    smooth: float = SMOOTH,
    ik_steps: int = IK_STEPS,
    device: str = DEVICE,
    projection: str = PROJECTION,
    image_size: int = IMAGE_SIZE,
    focal: float = FOCAL,
    skip_bad: bool = SKIP_BAD,
) -> None:
    """Build AnimalSyn3D-style data from DeformingThings4D animated meshes.

    Each joint is the mean of a group of mesh vertices (virtual markers); inverse kinematics then makes bone lengths
    constant (those of the first frame) with a smoothness term; each sequence gets --views random cameras rotated
    about the vertical axis, at the nearest distance that keeps every joint in the image. Animations are found as
    <character>_<action>/<character>_<action>.anime; --markers gives each character's marker groups.

    Example: [cyan]lfm build-dataset animalsyn3d DeformingThings4D/animals --markers AnimalSyn3D/ -o as3d.h5[/]
    """
    options = dict(markers=markers, fps=fps, smooth=smooth, ik_steps=ik_steps, device=device)
    options.update(projection=projection, image_size=image_size, focal=focal)
    _build("animalsyn3d", paths, output, options, views, seed, split, skip_bad)


@app.command("animalsyn3d-json")
def animalsyn3d_json(
    paths: list[Path] = typer.Argument(..., help="The released AnimalSyn3D folder (<animal>/<animation>.json)."),
    output: Path = OUTPUT,
    split: str = SPLIT,
    skip_bad: bool = SKIP_BAD,
) -> None:
    """Import the released AnimalSyn3D dataset as it is: its refined joints, cameras and 2D projections.

    Example: [cyan]lfm build-dataset animalsyn3d-json AnimalSyn3D/ -o as3d_release.h5[/]
    """
    _build("animalsyn3d-json", paths, output, {}, split=split, skip_bad=skip_bad)


@app.command()
def synthetic(
    output: Path = OUTPUT,
    creatures: int = typer.Option(12, "--creatures", help="How many random creatures (kinds taken in turn)."),
    motions: int = typer.Option(2, "--motions", help="Motions (walk, trot, turn, idle) per creature."),
    frames: int = typer.Option(90, "--frames", help="Frames per sequence."),
    kinds: str = typer.Option("biped,quadruped,bird,crawler", "--kinds", help="Comma-separated body plans."),
    keep_meshes: Path = typer.Option(
        None, "--keep-meshes", help="Keep the generated .anime and marker files here (a folder without meshes)."
    ),
    views: int = VIEWS,
    seed: int = SEED,
    split: str = SPLIT,
    fps: float = FPS,
    smooth: float = SMOOTH,
    ik_steps: int = IK_STEPS,
    device: str = DEVICE,
    projection: str = PROJECTION,
) -> None:
    """Generate a seeded zoo of procedural creatures (bipeds, quadrupeds, birds, many-legged crawlers) in motion,
    as skinned meshes with marker files, and build it through the AnimalSyn3D path.

    Needs no download: this is the data the demo and the tests use.

    Example: [cyan]lfm build-dataset synthetic -o zoo.h5 --creatures 24 --views 2 --seed 1[/]
    """
    options = dict(creatures=creatures, motions=motions, frames=frames, keep_meshes=keep_meshes)
    options.update(kinds=[k.strip() for k in kinds.split(",") if k.strip()])
    options.update(fps=fps, smooth=smooth, ik_steps=ik_steps, device=device, projection=projection)
    _build("synthetic", [], output, options, views, seed, split)
