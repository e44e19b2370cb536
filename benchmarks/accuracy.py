"""The papers' experiments on held-out real data (../shared/data), one table each, always with the flat baseline.

Held out by sequence, and by whole action for humans and dogs (test: CMU walking and basketball signals, Bandai
walks and kicks, dog trot and pace; validation: CMU jumping, Bandai bows, dog run02). Every model trains for
--minutes (same budget for all, so rows compare); PA-MPJPE is in the data's units (metres; chairs in ShapeNet units)
and pa-mpjpe% is scale-free. Training uses the scale-free loss, so that a 2.5 mm fly weighs as much as a person.

Experiments: combined vs isolated training; unseen category (each category left out in turn, trained on the others
and a synthetic zoo); rig transfer (trained on the 28-joint CMU humans, tested on the 31-joint CMU BVH skeleton, the
22-joint Bandai humans and the raw Bandai BVH files) — both in three ARMS: without the augmentations of AUGMENT, with
them, and with them and depth output; the scale of the Fourier features (humans only, train vs held-out action);
ablations (Fourier vs MLP encoding, hybrid vs global-only vs local-only attention, Procrustes vs plain loss); space
vs space-time (FA-MPJPE, SA-MPJPE, SA-MPVE); occlusion. Only when asked for (--only augments): each augmentation
left out in turn, with depth output, for rig transfer and the categories of --left-out (8 models for each).
docs/accuracy.md holds a run's tables.

Usage: python benchmarks/accuracy.py [--minutes 10] [--device auto] [--only combined,unseen,...] [--preset small]
                                    [--left-out dog,hand]   (the categories of the per-augmentation experiment)
A GPU makes the default budget meaningful; on a CPU use small budgets and read the tables as a smoke test.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from _table import print_table  # benchmarks/ is the script folder

from lfmcli.data.format import DatasetFile

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
HELD_OUT = {  # folder: (test actions, validation actions)
    "human_cmu": ({"walking", "basketball_signal"}, {"jumping"}),
    "human_bandai": ({"walk", "walk-back", "walk-left", "walk-right", "kick"}, {"bow"}),
    "dog_ai4animation": ({"trot", "pace"}, {"run02"}),
}
CATEGORIES = ("human", "dog", "mouse", "chair", "fly", "hand", "face")
SCALE_FREE = {"loss__scale_free": "true"}
AUGMENT = {  # the augmentations for unseen categories and rigs (data.augment), as measured in docs/accuracy.md
    "data__augment__reproject": 0.5,
    "data__augment__morph": 0.3,
    "data__augment__drop_joints": 0.3,
    "data__augment__virtual_joints": 0.2,
    "data__augment__noise_2d": 0.01,
    "data__augment__outliers_2d": 0.02,
}


def _action(folder: str, stem: str) -> str:
    if folder == "human_bandai":
        return stem.split("_")[0]  # <action>_<style>_<take>
    return re.sub(r"_\d+$", "", re.sub(r"^(train_|dog_)", "", stem)) if folder == "human_cmu" else stem


def build_data(out: Path) -> dict[str, Path]:
    """real.h5 (every npz source, whole actions held out); the human rigs apart for rig transfer: cmu.h5 (the CMU
    humans' train and val), bandai.h5 (the Bandai humans' test), bvh.h5 (the CMU BVH skeleton) and bandai_bvh.h5
    (the raw Bandai BVH files), all test."""
    from lfmcli.data.build import write_dataset
    from lfmcli.sources import bvh, npz

    planned = npz.plan([SHARED])
    for p in planned:
        folder, _, stem = p.name.partition("/")
        test, val = HELD_OUT.get(folder, (set(), set()))
        action = _action(folder, stem.split("/")[0])
        p.split = "test" if action in test else "val" if action in val else None
    files = {"real": out / "real.h5", "cmu": out / "cmu.h5", "bandai": out / "bandai.h5"}
    write_dataset(files["real"], planned, views=2, seed=1)
    with DatasetFile(files["real"]) as f:  # the splits real.h5 gave each sequence
        split = dict(zip(f.sequences["name"], f.sequences["split"], strict=True))
    cmu = [p for p in planned if p.name.startswith("human_cmu/") and split[p.name] != "test"]
    for p in planned:
        p.split = split[p.name]
    write_dataset(files["cmu"], cmu, views=2, seed=1)
    bandai = [p for p in planned if p.name.startswith("human_bandai/") and split[p.name] == "test"]
    write_dataset(files["bandai"], bandai, views=2, seed=1)
    for name, folder, scale in (("bvh", "bvh_cmu", None), ("bandai_bvh", "bvh_bandai", 0.01)):
        transfer = bvh.plan([SHARED / folder], scale=scale, fps=30).sequences
        for p in transfer:
            p.split = "test"
        files[name] = out / f"{name}.h5"
        write_dataset(files[name], transfer, views=2, seed=1)
    return files


def build_zoo(out: Path, device: str) -> Path:
    """A synthetic zoo (bipeds, quadrupeds, birds, crawlers): the many other categories a left-out one meets."""
    from lfmcli.sources import build_dataset

    zoo = out / "zoo.h5"
    build_dataset("synthetic", [], zoo, {"creatures": 32, "frames": 90, "device": device}, views=2, seed=1)
    return zoo


ARMS = {  # the unseen-category and rig-transfer arms: without and with the augmentations, and with depth output
    "plain": SCALE_FREE,
    "aug": {**SCALE_FREE, **AUGMENT},
    "depth": {**SCALE_FREE, **AUGMENT, "model__output": "depth"},
}


def augment_variants() -> list[tuple[str, dict]]:
    """All of AUGMENT, each of its settings left out in turn, and none of it; all with depth output."""
    depth = {**SCALE_FREE, "model__output": "depth"}
    dropped = [(f"without {k.rsplit('__', 1)[1]}", {a: v for a, v in AUGMENT.items() if a != k}) for k in AUGMENT]
    return [(label, {**depth, **sets}) for label, sets in [("all", AUGMENT), *dropped, ("none", {})]]


def arm_row(label: str, results: dict, flat: dict) -> list[str]:
    """One row of the unseen-category and rig-transfer tables: pa-mpjpe % of each arm, the flat lift and the gain."""
    gain = 100 * (1 - results["depth"]["pa-mpjpe%"] / flat["pa-mpjpe%"])
    cells = [fmt(results[arm], "pa-mpjpe%") for arm in ("aug", "plain", "depth")] + [fmt(flat, "pa-mpjpe%")]
    return [label, str(results["aug"]["frames"]), *cells, f"{gain:.0f}%"]


def train(data, run: Path, minutes: float, device: str, preset: str, kind: str = "lfm", **sets) -> Path:
    from lfmcli.config import RunConfig
    from lfmcli.train import Trainer

    overrides = [f"training.max_minutes={minutes}", f"training.device={device}", "training.steps_per_epoch=100"]
    overrides += ["training.schedule=cosine", "training.epochs=100000"]  # the cosine decay follows the time budget
    overrides += [f"{k.replace('__', '.')}={v}" for k, v in sets.items()]
    cfg = RunConfig.resolve(kind, preset, None, overrides, data)
    Trainer(cfg, run).fit()
    return run / "best.safetensors"


def evaluate(ckpt, data, device, split: str | None = "test", **kw) -> dict:
    from lfmcli.eval import evaluate as run_eval

    metrics = ["pa-mpjpe", "pa-mpjpe%", "sa-mpjpe", "sa-mpve"]
    return run_eval(ckpt, [data], metrics, split=split, baseline=True, device=device, **kw)


def fmt(values: dict, metric: str) -> str:
    if metric not in values:
        return "-"
    return f"{values[metric]:.2f}" if metric.endswith("%") else f"{values[metric]:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--only", default="combined,unseen,transfer,fourier,ablations,spacetime,occlusion")
    ap.add_argument("--left-out", default="dog,hand", help="categories left out in the per-augmentation experiment")
    args = ap.parse_args()
    from lfmcli.devices import resolve_device

    device = resolve_device(args.device)
    chosen = set(args.only.split(","))
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is missing: these experiments run on it")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = build_data(tmp)
        real = files["real"]
        runs = tmp / "runs"
        m, dev, p = args.minutes, device, args.preset
        # one model on all categories: the combined row, the default of the ablations, the single-frame model of the
        # space-time comparison (and where that model starts), and the occlusion test
        combined = (
            train([real], runs / "combined", m, dev, p)
            if chosen - {"unseen", "transfer", "augments", "fourier"}
            else None
        )
        zoo = None  # built by the first experiment that needs it
        if "combined" in chosen:
            rows = []
            res = evaluate(combined, real, dev)
            for cat in CATEGORIES:
                iso = evaluate(
                    train([real], runs / f"iso_{cat}", m, dev, p, data__categories=f"[{cat}]"),
                    real,
                    dev,
                    categories=[cat],
                )
                c, i, b = res["categories"][cat], iso["categories"][cat], res["baseline"]["categories"][cat]
                rows.append(
                    [
                        cat,
                        str(c["frames"]),
                        fmt(c, "pa-mpjpe"),
                        fmt(i, "pa-mpjpe"),
                        fmt(b, "pa-mpjpe"),
                        fmt(c, "pa-mpjpe%"),
                        fmt(i, "pa-mpjpe%"),
                        fmt(b, "pa-mpjpe%"),
                    ]
                )
            print_table(
                ["category", "frames", "PA combined", "PA isolated", "PA flat", "% combined", "% isolated", "% flat"],
                rows,
                "Combined vs isolated training (3D-LFM 4.3.1), test split",
            )
        if "unseen" in chosen:
            rows = []
            zoo = zoo or build_zoo(tmp, dev)
            for cat in CATEGORIES:
                res = {}
                for arm, sets in ARMS.items():
                    run = runs / f"without_{cat}_{arm}"
                    ckpt = train([real, zoo], run, m, dev, p, data__exclude_categories=f"[{cat}]", **sets)
                    res[arm] = evaluate(ckpt, real, dev, split=None, categories=[cat])  # all of it is unseen
                rows.append(
                    arm_row(
                        cat,
                        {k: r["categories"][cat] for k, r in res.items()},
                        res["plain"]["baseline"]["categories"][cat],
                    )
                )
            print_table(
                ["left out", "frames", "% augmented", "% plain", "% depth output", "% flat", "depth below flat"],
                rows,
                "Unseen category (3D-LFM 4.3.2): trained on the other real categories and a synthetic zoo, "
                "tested on all of it (pa-mpjpe %)",
            )
        if "transfer" in chosen:
            rows = []
            trained = {arm: train([files["cmu"]], runs / f"cmu_{arm}", m, dev, p, **sets) for arm, sets in ARMS.items()}
            for name, label in (
                ("bvh", "CMU BVH, 31 joints"),
                ("bandai", "Bandai, 22 joints"),
                ("bandai_bvh", "Bandai raw BVH, 22 joints"),
            ):
                res = {arm: evaluate(ckpt, files[name], dev) for arm, ckpt in trained.items()}
                rows.append(
                    arm_row(label, {k: r["overall"] for k, r in res.items()}, res["plain"]["baseline"]["overall"])
                )
            print_table(
                ["test rig", "frames", "% augmented", "% plain", "% depth output", "% flat", "depth below flat"],
                rows,
                "Rig transfer: trained on the 28-joint CMU humans (train split), tested on other human skeletons",
            )
        if "augments" in chosen:
            # which augmentation carries the gain: trained as the depth arm above, less one setting at a time
            rigs = {"bvh": "CMU BVH 31", "bandai": "Bandai 22", "bandai_bvh": "Bandai BVH 22"}
            left_out = [c for c in args.left_out.split(",") if c]
            if left_out:
                zoo = zoo or build_zoo(tmp, dev)
            rows, flat = [], {}
            for label, sets in augment_variants():
                key = re.sub(r"\W+", "_", label)
                cmu = train([files["cmu"]], runs / f"augments_cmu_{key}", m, dev, p, **sets)
                cells = []
                for name in rigs:
                    res = evaluate(cmu, files[name], dev)
                    cells.append(fmt(res["overall"], "pa-mpjpe%"))
                    flat[name] = fmt(res["baseline"]["overall"], "pa-mpjpe%")
                for cat in left_out:
                    run = runs / f"augments_without_{cat}_{key}"
                    ckpt = train([real, zoo], run, m, dev, p, data__exclude_categories=f"[{cat}]", **sets)
                    res = evaluate(ckpt, real, dev, split=None, categories=[cat])
                    cells.append(fmt(res["categories"][cat], "pa-mpjpe%"))
                    flat[cat] = fmt(res["baseline"]["categories"][cat], "pa-mpjpe%")
                rows.append([label, *cells])
            rows.append(["flat lift", *flat.values()])
            print_table(
                ["augmentations", *(f"% {r}" for r in rigs.values()), *(f"% unseen {c}" for c in left_out)],
                rows,
                "Each augmentation left out in turn (depth output): rig transfer from the CMU humans, and left-out "
                "categories (pa-mpjpe %)",
            )
        if "fourier" in chosen:
            rows = []
            for key, name, sets in (
                ("s1", "Fourier, sigma 1", {"model__sigma": 1}),
                ("s3", "Fourier, sigma 3", {"model__sigma": 3}),
                ("s10", "Fourier, sigma 10", {"model__sigma": 10}),
                ("mlp", "learned MLP", {"model__encoding": "mlp"}),
            ):
                ckpt = train([files["cmu"]], runs / f"fourier_{key}", m, dev, p, **sets)
                fit, val = (evaluate(ckpt, files["cmu"], dev, split=s) for s in ("train", "val"))
                rows.append([name, fmt(fit["overall"], "pa-mpjpe%"), fmt(val["overall"], "pa-mpjpe%")])
            flat = [fmt(r["baseline"]["overall"], "pa-mpjpe%") for r in (fit, val)]
            rows.append(["flat baseline", *flat])
            print_table(
                ["encoding", "% train", "% val"],
                rows,
                "Fourier scale: CMU humans only, error on the training actions and on a held-out action (jumping)",
            )
        if "ablations" in chosen:
            rows = []
            for name, sets in (
                ("hybrid, Fourier, Procrustes (default)", None),
                ("learned MLP encoding", {"model__encoding": "mlp"}),
                ("global attention only", {"model__attention": "global"}),
                ("local (graph) attention only", {"model__attention": "local"}),
                ("plain loss (no alignment)", {"loss__align": "false"}),
            ):
                ckpt = combined if sets is None else train([real], runs / re.sub(r"\W+", "_", name), m, dev, p, **sets)
                res = evaluate(ckpt, real, dev)
                rows.append([name, fmt(res["overall"], "pa-mpjpe"), fmt(res["overall"], "pa-mpjpe%")])
            rows.append(
                [
                    "flat baseline",
                    fmt(res["baseline"]["overall"], "pa-mpjpe"),
                    fmt(res["baseline"]["overall"], "pa-mpjpe%"),
                ]
            )
            print_table(["model", "PA", "%"], rows, "Ablations, all categories")
        if "spacetime" in chosen:
            single = evaluate(combined, real, dev, window=32)
            st_run = train(
                [real],
                runs / "spacetime",
                m,
                dev,
                p,
                kind="spacetime",
                data__window=32,
                training__batch_size=16,
                training__init=combined,
                training__trainable="temporal",
                training__warmup_steps=50,
            )
            st = evaluate(st_run, real, dev, window=32)
            rows = [
                [name, fmt(r["overall"], "pa-mpjpe"), fmt(r["overall"], "sa-mpjpe"), fmt(r["overall"], "sa-mpve")]
                for name, r in (
                    ("3D-LFM (single frame)", single),
                    ("space-time", st),
                    ("flat baseline", single["baseline"]),
                )
            ]
            print_table(
                ["model", "FA-MPJPE", "SA-MPJPE", "SA-MPVE"],
                rows,
                "Space vs space-time on test sequences (32-frame clips; the space-time model starts from the "
                "single-frame one)",
            )
        if "occlusion" in chosen:
            rows = []
            for ratio in (0.0, 0.1, 0.3, 0.6):
                res = evaluate(combined, real, dev, occlusion=ratio, seed=1)
                rows.append(
                    [
                        f"{ratio:.0%}",
                        fmt(res["overall"], "pa-mpjpe"),
                        fmt(res["baseline"]["overall"], "pa-mpjpe"),
                        fmt(res["overall"], "pa-mpjpe%"),
                    ]
                )
            print_table(
                ["hidden", "PA", "PA flat", "%"], rows, "Occlusion: share of visible 2D points hidden at test time"
            )


if __name__ == "__main__":
    main()
