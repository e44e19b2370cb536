"""File handling shared by the sources: finding input files and reading JSON with one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..errors import LfmError


def find_files(paths: Iterable[str | Path], suffix: str) -> list[tuple[Path, Path]]:
    """(file, root) pairs: files given directly, and files with ``suffix`` found recursively in folders."""
    paths = list(paths)
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += [(f, p) for f in sorted(p.rglob(f"*{suffix}"))]
        elif p.is_file():
            found.append((p, p.parent))
        else:
            raise LfmError("no such file or folder", p)
    if not found:
        raise LfmError(f"no {suffix} files found in {', '.join(map(str, paths))}")
    return found


def read_json(path: Path):
    """The parsed JSON of ``path``; a missing or malformed file is an LfmError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LfmError("no such file", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LfmError(f"malformed JSON ({e})", path) from None
