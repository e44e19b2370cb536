"""Files, the ground floor: atomic writes, the run-folder lock, finding input files, and the one text reader (UTF-8)
and JSON reader (each error names the file)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import LfmError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; it becomes ``path`` only if the block finishes."""
    path = Path(path)
    if path.is_dir():
        raise LfmError("is a folder, expected a file name", path)
    if path.exists() and not path.is_file():  # the rename would replace a device or pipe (/dev/null, as root)
        raise LfmError("is not a regular file (a device or a pipe); choose a file name", path)
    if not path.parent.exists():
        raise LfmError(f"folder {str(path.parent)!r} does not exist", path)
    _remove_stale_parts(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
    except OSError as e:  # a file where the folder should be, a read-only or virtual file system (/proc)
        raise LfmError(f"cannot write in folder {str(path.parent)!r} ({e.strerror})", path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes private files; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _remove_stale_parts(path: Path) -> None:
    """Remove the temporary files of earlier writes of ``path`` whose process was killed (its id is in the name)."""
    for part in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        pid = part.name[len(path.name) + 2 :].split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)  # still running: its write may yet finish
        except ProcessLookupError:
            part.unlink(missing_ok=True)
        except PermissionError:
            pass  # another user's live process


def run_lock(run: str | Path):
    """Hold ``run``/.lock while the returned handle is open (at the latest until the process ends): a second
    training in the same run folder is refused, as two would interleave its logs and overwrite its checkpoints."""
    import fcntl

    handle = open(Path(run) / ".lock", "w")  # noqa: SIM115 -- held open on purpose, closed by the caller
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise LfmError("another process is training in this run folder", run) from None
    return handle


def check_not_input(output: str | Path, inputs: Iterable[str | Path], into_folders: bool = False) -> None:
    """Refuse an ``output`` that would replace an input: a file given as input, or an existing file inside a folder
    given as input; with ``into_folders``, any path inside such a folder (where a reader would take it for input)."""
    target = Path(output).resolve()
    for given in map(Path, inputs):
        given = given.resolve()
        inside = given.is_dir() and given in target.parents and (into_folders or target.exists())
        same = target.exists() and given.exists() and target.samefile(given)  # a hard link too
        if target == given or inside or same:
            raise LfmError("would overwrite the input; choose another --output name", output)


def check_writable_folder(folder: str | Path) -> None:
    """Refuse a folder to write in (made if missing) where nothing can be written: a file in its place or above it,
    or a place that takes no writes (/proc, a read-only file system)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise LfmError("is a file, expected a folder", folder)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        tempfile.TemporaryDirectory(dir=existing).cleanup()
    except OSError as e:
        raise LfmError(f"cannot write in folder {str(existing)!r} ({e.strerror})", folder) from None


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


def read_text(path: str | Path) -> str:
    """The text of ``path``, which every text format lfm reads (JSON, YAML, CSV, BVH) holds as UTF-8; a missing or
    unreadable file, or bytes that are not UTF-8, are an LfmError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise LfmError("no such file", path) from None
    except OSError as e:
        raise LfmError(f"cannot read ({e.strerror})", path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:  # Latin-1 too: decoding it anyway would be a guess at the writer's encoding
        raise LfmError(f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})", path) from None


def read_json(path: str | Path, expect: type | None = None):
    """The parsed JSON of ``path`` (of type ``expect`` when given); a missing, empty or malformed file is an
    LfmError naming it."""
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise LfmError("is empty", path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise LfmError(f"malformed JSON ({e})", path) from None
    if expect is not None and not isinstance(doc, expect):
        raise LfmError(f"expected a JSON {'object' if expect is dict else expect.__name__}", path)
    return doc
