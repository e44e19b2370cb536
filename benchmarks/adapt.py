"""`lfm adapt` on a kind of object a model never saw: its depth from the kind's own 2D, against the model before,
the flat lift and a model trained with that kind's 3D.

For each kind (a category of ../shared/data), its sequences are built with one random camera each (the real
cameras where a file has them: the mouse's six, the hand's one) and split by sequence; a kind of fewer than
MIN_SEQUENCES sequences (the fly, the hand, the mouse: one recording each) is first cut into PIECES consecutive
parts, so that its splits hold different frames of one recording. ``human17`` is the CMU humans on a 17-joint
Human3.6M-like subset of their joints (benchmarks/rig_subsets.py's layout, the tree rebuilt over the dropped
joints). The starting model never saw the kind: the packaged model where the kind is not among its categories, else
a model trained with 3D on every other real category (as docs/accuracy.md's unseen-category experiment, with depth
output and the augmentations for unseen objects) for --base-steps. It is adapted on the training split's 2D alone
for --steps; the oracle is the same starting model trained as many steps with the training split's 3D. Budgets are
steps, not minutes, so that a busy machine changes the time a row takes, never its figures. All are scored on the
test split (--split val: the validation split, where settings are chosen; the oracle picks its checkpoint there, so
it is flattered on it): pa-mpjpe% (scale-free, lower is better) and pa-mpjpe in the data's units. Kinds of still
images (the hand, the mouse) adapt without the bone-length term, which follows a bone over a track.

--frames N,... adapts again on N frames of the training 2D (the first frames of each training sequence; kinds with
tracks only), --noise S on 2D with detector-like errors (each point moved by a normal of S times the frame's 2D
size, 5% of points lost, 1% thrown anywhere in the frame's box); both score on the same clean split. --views 2 sees
each sequence by two random cameras rather than one (every split): no kind has 10,000 training frames of 2D with
one camera per sequence, people have 15,736 with two.

Usage: python benchmarks/adapt.py [--kinds dog,horse,fly,hand,mouse,human17] [--steps 5000] [--base-steps 600]
                                 [--frames 100,1000,10000] [--views 1] [--noise 0.02] [--one-base]
                                 [--split test|val]
                                 [--device auto]
                                 [--set adapt.cycle=1 ...]   (each term alone or together)
A smoke test: python benchmarks/adapt.py --kinds horse --steps 5 --base-steps 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from _table import print_table  # benchmarks/ is the script folder
from accuracy import ARMS, SHARED, evaluate, fmt, train
from rig_subsets import LAYOUTS

from lfmcli.adapt import TRAINING, Adapter, adapt_config, with_steps
from lfmcli.checkpoint import default_checkpoint, load_checkpoint
from lfmcli.config import TrainingConfig
from lfmcli.data.dataset import SampleBank
from lfmcli.data.format import DatasetFile
from lfmcli.sources import build_dataset

# the builder's random cameras look down on the object from 0 to 30 degrees (data.build.random_views)
CAMERAS = ["adapt.camera_elevation_deg=15", "adapt.elevation_deg=[-15,15]"]
MIN_SEQUENCES, PIECES = 10, 10
STEPS = TrainingConfig().epochs * TRAINING["steps_per_epoch"]  # a run of lfm adapt's defaults: 5,000
SUBSETS = {"human17": ("human", "human_cmu", LAYOUTS["Human3.6M-like, 17"])}  # kind: (category, folder, joints)
VIEW_KEYS = ("points2d", "K", "R", "t", "image_size")


def kind_folders(category: str) -> list[Path]:
    """The folders of ../shared/data whose sequences are of ``category``."""
    found = []
    for folder in sorted(p for p in SHARED.iterdir() if p.is_dir()):
        first = next(iter(sorted(folder.glob("*.npz"))), None)
        if first is not None and str(np.load(first)["category"]) == category:
            found.append(folder)
    if not found:
        raise SystemExit(f"no folder of ../shared/data holds {category!r} sequences")
    return found


def subset(z: dict, keep: list[int]) -> dict:
    """The file's joints ``keep`` only, each hung from its nearest kept ancestor."""
    parents, index = z["parents"], {j: i for i, j in enumerate(keep)}

    def kept_parent(j: int) -> int:
        j = int(parents[j])
        while j >= 0 and j not in index:
            j = int(parents[j])
        return index.get(j, -1)

    out = {**z, "points3d": z["points3d"][:, keep], "joint_names": z["joint_names"][keep]}
    out["parents"] = np.array([kept_parent(j) for j in keep])
    if "points2d" in z:
        out["points2d"] = z["points2d"][:, :, keep]
    return out


def kind_files(
    kind: str, out: Path, frames: int | None = None, train: set[str] = frozenset(), views: int = 1
) -> tuple[str, bool]:
    """The kind's category and whether its samples are still images (fps 0), its sequences written to the folder
    ``out`` as npz files, named by folder and number (so that no name says a split, and a name keeps its split
    however many frames it holds), cut into pieces where the kind has too few sequences. With ``frames``, the
    sequences named in ``train`` keep only their first frames, about ``frames`` 2D samples in all when each
    sequence without real cameras is seen by ``views`` random ones."""
    category, folder, keep = SUBSETS.get(kind, (kind, None, None))
    files = [f for d in ([SHARED / folder] if folder else kind_folders(category)) for f in sorted(d.glob("*.npz"))]
    pieces = PIECES if len(files) < MIN_SEQUENCES else 1
    items = []
    for i, f in enumerate(files):
        z = dict(np.load(f))
        z = subset(z, keep) if keep else z
        T = len(z["points3d"])
        cuts = np.linspace(0, T, min(pieces, T) + 1).astype(int) if float(z["fps"]) > 0 else np.array([0, T])
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
            items.append((f"{f.parent.name}_{i:03d}_{k:02d}", frames_of(z, slice(a, b))))
    if frames is not None:
        seen = [(len(z["points3d"]), len(z["points2d"]) if "points2d" in z else views) for n, z in items if n in train]
        per = 1  # frames per training sequence and view: the fewest that give ``frames``, short sequences kept whole
        while per < max((T for T, _ in seen), default=1) and sum(min(T, per) * v for T, v in seen) < frames:
            per += 1
        items = [(n, frames_of(z, slice(per)) if n in train else z) for n, z in items]
    out.mkdir(parents=True, exist_ok=True)
    for name, z in items:
        np.savez(out / f"{name}.npz", **z)
    return category, all(float(z["fps"]) == 0 for _, z in items)


def frames_of(z: dict, frames: slice) -> dict:
    """The npz file's contents ``z`` for these frames only (its 3D and, where it has them, its real views' 2D)."""
    cut = {**z, "points3d": z["points3d"][frames]}
    if "points2d" in z:
        cut["points2d"] = z["points2d"][:, frames]
    return cut


def add_detector_noise(path: Path, sigma: float, seed: int = 0) -> None:
    """Detector-like errors in the training split's 2D of the dataset file, in place."""
    rng = np.random.default_rng(seed)
    with DatasetFile(path) as f:
        seqs, views = f.sequences, f.views
    with h5py.File(path, "r+") as h:
        for s, a in zip(views["sequence"], views["start"], strict=True):
            if seqs["split"][s] != "train":
                continue
            rows = slice(int(a), int(a) + int(seqs["length"][s]))
            uv, vis = h[f"points/{seqs['rig'][s]}/points2d"], h[f"points/{seqs['rig'][s]}/visible"]
            p, m = uv[rows], vis[rows]
            q = np.where(m[..., None], p, np.nan)
            low, high = np.nanmin(q, 1, keepdims=True), np.nanmax(q, 1, keepdims=True)
            size = np.linalg.norm(high - low, axis=-1, keepdims=True)
            p = p + rng.normal(size=p.shape) * sigma * size
            wild = rng.random(m.shape) < 0.01
            p = np.where(wild[..., None], low + rng.random(p.shape) * (high - low), p)
            m = m & (rng.random(m.shape) >= 0.05)
            uv[rows], vis[rows] = np.where(m[..., None], p, np.nan).astype(np.float32), m


def train_steps(data: list[Path], run: Path, steps: int, device: str, **sets) -> Path:
    """accuracy.py's training for ``steps`` steps (epochs of 100 steps) rather than minutes."""
    return train(data, run, 0, device, "small", training__epochs=max(steps // 100, 1), **sets)


def base_model(categories: list[str], tmp: Path, steps: int, device: str) -> tuple[Path, str]:
    """A model that never saw any of ``categories``, and what it is."""
    packaged = default_checkpoint()
    if not set(categories) & set(load_checkpoint(packaged).info.get("categories", [])):
        return packaged, "packaged"
    run, what = tmp / f"without_{'_'.join(categories)}", f"{steps} steps without {', '.join(categories)}"
    if (run / "best.safetensors").exists():
        return run / "best.safetensors", what
    real = tmp / "real.h5"
    if not real.exists():
        build_dataset("npz", [SHARED], real, views=2, seed=1)
    left_out = f"[{','.join(categories)}]"
    return train_steps([real], run, steps, device, data__exclude_categories=left_out, **ARMS["depth"]), what


def adapt(base: Path, data: Path, run: Path, steps: int, device: str, sets: list[str]) -> tuple[Path, int, float]:
    """The adapted checkpoint, the 2D frames it learned from and the seconds it took."""
    frames = SampleBank([data], "train", read_3d=False).num_samples
    started = time.perf_counter()
    cfg = adapt_config(base, overrides=[f"training.device={device}", *CAMERAS, *sets], paths=[data])
    Adapter(with_steps(cfg, steps), run).fit()
    return run / "best.safetensors", frames, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="dog,horse,fly,hand,mouse,human17")
    ap.add_argument("--steps", type=int, default=STEPS, help="adaptation steps, and the oracle's (lfm adapt's)")
    ap.add_argument("--base-steps", type=int, default=600, help="for a kind the packaged model saw")
    ap.add_argument("--frames", default="", help="also adapt on this many training frames of 2D, e.g. 100,1000")
    ap.add_argument(
        "--views",
        type=int,
        default=1,
        help="random cameras per sequence (kinds without real cameras): 2 gives people 15,736 frames of 2D",
    )
    ap.add_argument("--noise", type=float, default=0.0, help="also adapt on 2D with detector-like errors of this size")
    ap.add_argument(
        "--one-base",
        action="store_true",
        help="one starting model, trained without every kind of --kinds, for all of them (faster)",
    )
    ap.add_argument(
        "--split", choices=("test", "val"), default="test", help="the split scored: choose settings on val, report test"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        help="an adaptation setting, e.g. adapt.bone_lengths=0 (repeatable; CAMERAS describes the views already)",
    )
    args = ap.parse_args()
    if args.views < 1 or args.steps < 1:
        ap.error(f"--views and --steps take a positive number, not {args.views} and {args.steps}")
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is missing: these experiments run on it")
    dev, m = args.device, args.steps
    together = sorted({SUBSETS.get(k, (k,))[0] for k in args.kinds.split(",")}) if args.one_base else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in args.kinds.split(","):
            category, still = kind_files(kind, tmp / kind)
            data = tmp / f"{kind}.h5"
            build_dataset("npz", [tmp / kind], data, views=args.views, seed=3)  # random cameras per sequence
            with DatasetFile(data) as f:
                split = dict(zip(f.sequences["name"], f.sequences["split"], strict=True))
            if "test" not in split.values():
                raise SystemExit(f"{kind}: too few sequences for a test split")
            base, what = base_model(together or [category], tmp, args.base_steps, dev)
            val = "val" if "val" in split.values() else "train"
            model = {f"model__{k}": v for k, v in load_checkpoint(base).config.to_dict().items()}
            oracle = train_steps(
                [data], tmp / f"oracle_{kind}", m, dev, training__init=base, data__val_split=val, **model
            )
            best = evaluate(oracle, data, dev, args.split)["overall"]
            variants = [("all", data, [])]
            train_names = {n for n, s in split.items() if s == "train"}
            train_frames = SampleBank([data], "train", read_3d=False).num_samples
            for n in (int(x) for x in args.frames.split(",") if x and not still and int(x) < train_frames):
                kind_files(kind, tmp / f"{kind}_{n}", frames=n, train=train_names, views=args.views)
                variants.append((f"{n} frames", tmp / f"{kind}_{n}.h5", [f"adapt.min_frames={min(n, 200)}"]))
                build_dataset("npz", [tmp / f"{kind}_{n}"], variants[-1][1], views=args.views, seed=3)
            if args.noise:
                noisy = tmp / f"{kind}_noisy.h5"
                noisy.write_bytes(data.read_bytes())
                add_detector_noise(noisy, args.noise)
                variants.append((f"noise {args.noise:g}", noisy, []))
            for label, given, sets in variants:
                sets += ["adapt.bone_lengths=0"] * still + args.set  # no track, no bone to follow over one
                ckpt, frames, seconds = adapt(base, given, tmp / f"adapt_{kind}_{len(rows)}", m, dev, sets)
                print(f"{kind} ({label}): adapted on {frames} frames of 2D in {seconds:.0f} s", file=sys.stderr)
                before, after = evaluate(base, given, dev, args.split), evaluate(ckpt, given, dev, args.split)
                results = [before["overall"], after["overall"], before["baseline"]["overall"], best]
                rows.append(
                    [
                        kind,
                        label,
                        what,
                        str(frames),
                        str(after["overall"]["frames"]),
                        f"{seconds:.0f}",
                        *(fmt(r, "pa-mpjpe%") for r in results),
                        *(fmt(r, "pa-mpjpe") for r in results),
                    ]
                )
                print_table(HEADER, rows[-1:], f"{kind}, {label}")  # as it comes: a long run shows its progress
    print_table(
        HEADER,
        rows,
        f"Adapting to an unseen kind from its 2D alone ({m} steps; the oracle trains as many with the kind's 3D on "
        f"all its training frames), {args.split} split",
    )


HEADER = [
    "kind",
    "2D given",
    "starting model",
    "2D frames",
    "frames scored",
    "adapt s",
    *(f"% {c}" for c in ("before", "adapted", "flat", "oracle 3D")),
    *(f"PA {c}" for c in ("before", "adapted", "flat", "oracle 3D")),
]

if __name__ == "__main__":
    main()
