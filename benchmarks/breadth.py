"""What breadth buys: error on kinds of object never trained on, against the number of kinds trained on.

A fixed PANEL of kinds that no model of the curve trains on — near relatives (wolf: dog and fox stay in training;
zebra: horse and donkey do), far kinds (the fly, a swimmer, a rigid class) and a real one (the DANNCE mouse) — is
scored (pa-mpjpe %, every split: the kind is unseen) after training on 1, 2, 4, 8, 16 and all of the remaining kinds
of ../shared/data and ../shared/data_objects (--points), --draws random draws of kinds per point up to 8 (one
above), each model at the same step budget. Then leave-one-kind-out inside the quadrupeds (horse out with donkey and
zebra in; dog out with wolf and fox in; cat out), each trained on every other kind, and rig transfer within dogs
(every kind, the dogs on three of their four rigs; scored on the fourth: the real mocap dog, and the pug). Last, the
bone-side measure of benchmarks/bone_lengths.py (how often the model turns a bone to the true side; 50% is chance)
for the near and far panels, for the model of each number of kinds (its first draw). The flat (z = 0) lift is beside
every number.

Every model: the `small` preset with depth output, the augmentations for unseen objects and the scale-free loss
(benchmarks/accuracy.py's depth arm), --steps steps of batches of 256, cosine decay. docs/accuracy.md holds a run.

Usage: python benchmarks/breadth.py [--steps 500] [--draws 1] [--points 1,2,4,8,16,all] [--device cpu]
[--plot docs/breadth.png] [--only curve,leave-one-out,transfer]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _table import print_table  # benchmarks/ is the script folder
from accuracy import AUGMENT, SCALE_FREE
from bone_lengths import bone_sides, depth_steps, lifted_views

from lfmcli.data.format import DatasetFile

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PANEL = {"near": ["wolf", "zebra"], "far": ["fly", "manta_ray", "chair"], "real": ["mouse"]}
LEAVE_ONE_OUT = {"horse": "donkey and zebra in", "dog": "wolf and fox in", "cat": "every other quadruped in"}
# of the four dog rigs (the real mocap dog; keyframed husky, shiba, pug), the ones scored while the other three train
TRANSFER = ("dog_ai4animation", "dog_pug_quaternius")
DEPTH_ARM = {**SCALE_FREE, **AUGMENT, "model__output": "depth"}


def build(out: Path) -> dict[str, Path]:
    """all.h5 (every kind, two random views per sequence), and for each dog rig: without_<rig>.h5 (everything
    else) and <rig>.h5 (that rig alone)."""
    from lfmcli.data.build import write_dataset
    from lfmcli.sources import npz

    planned = npz.plan([SHARED / "data", SHARED / "data_objects"])
    files = {"all": out / "all.h5"}
    write_dataset(files["all"], planned, views=2, seed=1)
    for rig in TRANSFER:
        files[rig] = out / f"{rig}.h5"
        write_dataset(files[rig], [p for p in planned if p.name.startswith(rig + "/")], views=2, seed=1)
        files[f"without_{rig}"] = out / f"without_{rig}.h5"
        write_dataset(
            files[f"without_{rig}"], [p for p in planned if not p.name.startswith(rig + "/")], views=2, seed=1
        )
    return files


def train(data: list[Path], run: Path, steps: int, device: str, categories: list[str] | None, exclude=()) -> Path:
    from lfmcli.config import RunConfig
    from lfmcli.train import Trainer

    epochs = max(1, steps // 100)
    overrides = [f"training.device={device}", "training.steps_per_epoch=100", f"training.epochs={epochs}"]
    overrides += ["training.schedule=cosine", "training.warmup_steps=50", f"training.patience={epochs}"]
    overrides += ["training.val_samples=1024", "data.val_split=train"]  # no kind is left without val frames
    overrides += [f"data.categories={json.dumps(categories)}"] if categories else []
    overrides += [f"data.exclude_categories={json.dumps(list(exclude))}"] if exclude else []
    overrides += [f"{k.replace('__', '.')}={v}" for k, v in DEPTH_ARM.items()]
    cfg = RunConfig.resolve("lfm", "small", None, overrides, data)
    Trainer(cfg, run).fit()
    return run / "last.safetensors"  # the step budget decides, not a validation that sees other kinds


def score(ckpt: Path, data: Path, categories: list[str], device: str) -> dict:
    """{category: (model's pa-mpjpe %, flat's)} on every split."""
    from lfmcli.eval import evaluate

    res = evaluate(ckpt, [data], ["pa-mpjpe%"], split=None, categories=categories, baseline=True, device=device)
    model, flat = res["categories"], res["baseline"]["categories"]
    return {c: (model[c]["pa-mpjpe%"], flat[c]["pa-mpjpe%"]) for c in categories if c in model}


def sides(ckpt: Path, data: Path, categories: list[str]) -> tuple[float, float]:
    """The bone-side measure over ``categories`` (every split, rigs with a tree): how often the model turns a bone
    to the true side (%), and the correlation of its depth steps with the true ones."""
    from lfmcli.checkpoint import load_checkpoint
    from lfmcli.data.format import open_dataset

    model = load_checkpoint(ckpt, "cpu").model
    steps = []
    with open_dataset(data) as ds:
        for category in categories:
            for seq, _, truth, _, pred in lifted_views(model, ds, category):
                steps.append(depth_steps(truth, pred.double().numpy(), seq.rig.parents))
    return bone_sides(steps)


def plot(curve: dict[int, list[dict]], flat: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for group in PANEL.values() for k in group]
    fig, axes = plt.subplots(1, len(kinds), figsize=(3 * len(kinds), 3.2), sharex=True)
    for ax, kind in zip(axes, kinds, strict=True):
        xs = sorted(curve)
        for n in xs:
            ax.scatter([n] * len(curve[n]), [d[kind][0] for d in curve[n]], s=10, color="tab:blue", alpha=0.5)
        ax.plot(xs, [np.mean([d[kind][0] for d in curve[n]]) for n in xs], "o-", color="tab:blue", label="model")
        ax.axhline(flat[kind], color="tab:red", ls="--", label="flat lift")
        group = next(g for g, members in PANEL.items() if kind in members)
        ax.set_title(f"{kind} ({group})")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("kinds trained on")
    axes[0].set_ylabel("pa-mpjpe % (unseen kind)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500, help="training steps of every model")
    ap.add_argument("--draws", type=int, default=1, help="random draws of kinds per point of the curve up to 8")
    ap.add_argument("--points", default="1,2,4,8,16,all", help="numbers of kinds trained on (all: the whole pool)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "breadth.png")
    ap.add_argument("--only", default="curve,leave-one-out,transfer")
    args = ap.parse_args()
    try:
        points = [None if p == "all" else int(p) for p in args.points.split(",")]
        usable = all(p is None or p > 0 for p in points)
    except ValueError:
        usable = False
    if not usable:
        ap.error(f"--points takes numbers of kinds and 'all', such as 1,2,4,all, not {args.points!r}")
    if not (SHARED / "data").is_dir():
        raise SystemExit(f"{SHARED / 'data'} is missing: these experiments run on it")
    chosen = set(args.only.split(","))
    panel = [k for group in PANEL.values() for k in group]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = build(tmp)
        with DatasetFile(files["all"]) as f:
            kinds = sorted(set(f.sequences["category"]))
        pool = [k for k in kinds if k not in panel]
        print(f"panel {panel}; {len(pool)} kinds to train on: {', '.join(pool)}", flush=True)
        if "curve" in chosen:
            curve: dict[int, list[dict]] = {}
            firsts: dict[int, Path] = {}
            for n in sorted({len(pool) if p is None else min(p, len(pool)) for p in points}):
                for draw in range(args.draws if n <= 8 else 1):  # the larger draws overlap more: one each
                    trained = sorted(rng.choice(pool, n, replace=False).tolist())
                    ckpt = train([files["all"]], tmp / f"n{n}_{draw}", args.steps, args.device, trained)
                    curve.setdefault(n, []).append(score(ckpt, files["all"], panel, args.device))
                    firsts.setdefault(n, ckpt)
                    print(f"{n} kinds ({', '.join(trained)}): {curve[n][-1]}", flush=True)
            flat = {k: next(iter(curve.values()))[0][k][1] for k in panel}  # the same for every model
            rows = [
                [str(n), str(len(curve[n])), *[f"{np.mean([d[k][0] for d in curve[n]]):.2f}" for k in panel]]
                for n in sorted(curve)
            ]
            rows.append(["flat lift", "", *[f"{flat[k]:.2f}" for k in panel]])
            print_table(
                ["kinds trained on", "draws", *[f"{k} ({g})" for g, m in PANEL.items() for k in m]],
                rows,
                f"Breadth: pa-mpjpe % on kinds never trained on (mean over draws), {args.steps} steps per model",
            )
            if args.plot and len(curve) > 1:
                plot(curve, flat, args.plot)
                print(f"plot: {args.plot}")
            rows = []
            for n in sorted(firsts):
                cells = []
                for group in ("near", "far"):
                    side, correlation = sides(firsts[n], files["all"], PANEL[group])
                    cells += [f"{side:.0f}%", f"{correlation:.2f}"]
                rows.append([str(n), *cells])
            print_table(
                ["kinds trained on", "near: true side", "near: corr.", "far: true side", "far: corr."],
                rows,
                "Bone sides on the unseen panels (benchmarks/bone_lengths.py; 50% is chance; the flat lift has none)",
            )
        if "leave-one-out" in chosen:
            rows = []
            for kind, note in LEAVE_ONE_OUT.items():
                ckpt = train([files["all"]], tmp / f"without_{kind}", args.steps, args.device, None, [kind])
                model, flat = score(ckpt, files["all"], [kind], args.device)[kind]
                rows.append([kind, note, f"{model:.2f}", f"{flat:.2f}", f"{100 * (1 - model / flat):.0f}%"])
                print(rows[-1], flush=True)
            print_table(
                ["left out", "relatives", "% model", "% flat", "below flat"],
                rows,
                f"Leave one quadruped out (trained on every other kind), {args.steps} steps",
            )
        if "transfer" in chosen:
            rows = []
            for rig in TRANSFER:
                ckpt = train([files[f"without_{rig}"]], tmp / f"transfer_{rig}", args.steps, args.device, None)
                model, flat = score(ckpt, files[rig], ["dog"], args.device)["dog"]
                rows.append([rig, f"{model:.2f}", f"{flat:.2f}", f"{100 * (1 - model / flat):.0f}%"])
                print(rows[-1], flush=True)
            print_table(
                ["test rig (the other three dog rigs in training)", "% model", "% flat", "below flat"],
                rows,
                f"Rig transfer within dogs (every kind in training), {args.steps} steps",
            )


if __name__ == "__main__":
    main()
