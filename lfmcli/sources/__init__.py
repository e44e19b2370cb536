"""Dataset sources: one module per kind of 3D data, each registering itself in `SOURCES` (see data/build.py), and
`build_dataset`, which turns any of them into one lfm dataset file."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from ..data.build import SOURCES, Progress, write_dataset
from ..errors import LfmError
from ..files import check_not_input
from . import animalsyn3d, bvh, h36m, npz, pascal3d, synthetic, tracks  # noqa: F401  (each registers its sources)

__all__ = ["SOURCES", "build_dataset"]


def build_dataset(
    source: str,
    paths: Iterable[str | Path],
    output: str | Path,
    options: dict | None = None,
    *,
    views: int = 1,
    seed: int = 0,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    skip_bad: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Build the dataset file ``output`` from ``paths`` through the source ``source`` with its ``options`` (the
    fields of its options dataclass). Sources that generate data draw from ``seed`` as the random cameras do.
    Returns the file's summary (`DatasetFile.info`) with "skipped" inputs, the source's "notes" (what it assumed)
    and, for mesh sources, "refinement"."""
    if source not in SOURCES:
        raise LfmError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    if seed < 0:
        raise LfmError(f"--seed {seed}: a seed is a non-negative integer")
    src, paths, output = SOURCES[source], [Path(p) for p in paths], Path(output)
    check_not_input(output, paths)
    options = dict(options or {})
    names = {f.name for f in dataclasses.fields(src.options)}
    for key, value in (("seed", seed), ("skip_bad", skip_bad)):
        if key in names:
            options.setdefault(key, value)
    plan = src.plan(paths, src.options(**options), progress)
    total = len(plan.sequences)
    summary = write_dataset(
        output,
        plan.sequences,
        views=views,
        seed=seed,
        ratios=ratios,
        camera=plan.camera,
        skip_bad=skip_bad,
        attrs={"builder": source, **plan.attrs},
        advance=progress and (lambda seq: progress("writing", seq.name if seq else "skipped", total)),
    )
    summary["skipped"] = plan.skipped + summary["skipped"]
    summary["refinement"] = plan.refinement
    summary["notes"] = plan.notes + summary["notes"]
    return summary
