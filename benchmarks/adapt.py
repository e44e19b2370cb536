"""`lfm adapt` on a kind of object a model never saw: its depth from the kind's own 2D, against the model before,
the flat lift and a model trained with that kind's 3D.

For each kind (a category of ../shared/data), its sequences are built with one random camera each and split by
sequence. The starting model never saw the kind: the packaged model where the kind is not among its categories,
else a model trained with 3D on every other real category (as docs/accuracy.md's unseen-category experiment, with
depth output and the augmentations for unseen objects) for --base-minutes. It is adapted on the training split's 2D
alone for --minutes; the oracle is the same starting model trained for --minutes with the training split's 3D. All
are scored on the test split: pa-mpjpe% (scale-free, lower is better) and pa-mpjpe in the data's units.

Usage: python benchmarks/adapt.py [--kinds horse,dog] [--minutes 5] [--base-minutes 10] [--device auto]
                                 [--set adapt.cycle=1 ...]   (each term alone or together)
A smoke test: python benchmarks/adapt.py --kinds horse --minutes 0.2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _table import print_table  # benchmarks/ is the script folder
from accuracy import ARMS, SHARED, evaluate, fmt, train

from lfmcli.adapt import Adapter, adapt_config
from lfmcli.checkpoint import default_checkpoint, load_checkpoint
from lfmcli.data.dataset import SampleBank
from lfmcli.data.format import DatasetFile
from lfmcli.sources import build_dataset

# the builder's random cameras look down on the object from 0 to 30 degrees (data.build.random_views)
CAMERAS = ["adapt.camera_elevation_deg=15", "adapt.elevation_deg=[-15,15]"]


def kind_folders(kind: str) -> list[Path]:
    """The folders of ../shared/data whose sequences are of category ``kind``."""
    found = []
    for folder in sorted(p for p in SHARED.iterdir() if p.is_dir()):
        first = next(iter(sorted(folder.glob("*.npz"))), None)
        if first is not None and str(np.load(first)["category"]) == kind:
            found.append(folder)
    if not found:
        raise SystemExit(f"no folder of ../shared/data holds {kind!r} sequences")
    return found


def base_model(kind: str, tmp: Path, minutes: float, device: str) -> tuple[Path, str]:
    """A model that never saw ``kind``, and what it is."""
    packaged = default_checkpoint()
    if kind not in load_checkpoint(packaged).info.get("categories", []):
        return packaged, "packaged"
    real = tmp / "real.h5"
    if not real.exists():
        build_dataset("npz", [SHARED], real, views=2, seed=1)
    run = tmp / f"without_{kind}"
    ckpt = train([real], run, minutes, device, "small", data__exclude_categories=f"[{kind}]", **ARMS["depth"])
    return ckpt, f"trained {minutes:g} min without {kind}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="horse,dog")
    ap.add_argument("--minutes", type=float, default=5.0, help="adaptation time, and the oracle's")
    ap.add_argument("--base-minutes", type=float, default=10.0, help="for a kind the packaged model saw")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        help="an adaptation setting, e.g. adapt.bone_lengths=0 (repeatable; CAMERAS describes the views already)",
    )
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is missing: these experiments run on it")
    dev, m = args.device, args.minutes
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in args.kinds.split(","):
            data = tmp / f"{kind}.h5"
            build_dataset("npz", kind_folders(kind), data, views=1, seed=3)  # one random camera per sequence
            with DatasetFile(data) as f:
                splits = set(f.sequences["split"])
            if "test" not in splits:
                raise SystemExit(f"{kind}: too few sequences for a test split ({len(kind_folders(kind))} folder(s))")
            base, what = base_model(kind, tmp, args.base_minutes, dev)
            frames = SampleBank([data], "train", read_3d=False).num_samples
            started = time.perf_counter()
            sets = [
                f"training.max_minutes={m}",
                "training.epochs=100000",
                f"training.device={dev}",
                *CAMERAS,
                *args.set,
            ]
            Adapter(adapt_config(base, overrides=sets, paths=[data]), tmp / f"adapt_{kind}").fit()
            seconds = time.perf_counter() - started
            print(f"{kind}: adapted {base} ({what}) on {frames} frames of 2D in {seconds:.0f} s", file=sys.stderr)
            val = "val" if "val" in splits else "train"
            model = {f"model__{k}": v for k, v in load_checkpoint(base).config.to_dict().items()}
            oracle = train(
                [data], tmp / f"oracle_{kind}", m, dev, "small", training__init=base, data__val_split=val, **model
            )
            before, after, best = (
                evaluate(c, data, dev) for c in (base, tmp / f"adapt_{kind}" / "best.safetensors", oracle)
            )
            results = [before["overall"], after["overall"], before["baseline"]["overall"], best["overall"]]
            rows.append(
                [
                    kind,
                    what,
                    str(frames),
                    str(after["overall"]["frames"]),
                    f"{seconds:.0f}",
                    *(fmt(r, "pa-mpjpe%") for r in results),
                    *(fmt(r, "pa-mpjpe") for r in results),
                ]
            )
    print_table(
        [
            "kind",
            "starting model",
            "2D frames",
            "test frames",
            "adapt s",
            *(f"% {c}" for c in ("before", "adapted", "flat", "oracle 3D")),
            *(f"PA {c}" for c in ("before", "adapted", "flat", "oracle 3D")),
        ],
        rows,
        f"Adapting to an unseen kind from its 2D alone ({m:g} min; the oracle trains as long with the kind's 3D), "
        "test split",
    )


if __name__ == "__main__":
    main()
