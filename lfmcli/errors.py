"""The one exception type for user mistakes (bad file, unknown rig, wrong shape).

The CLI prints such an error as a single line and exits with code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


def printable(path: str | Path) -> str:
    """A file name as text that can be printed and stored: bytes of the name that are not UTF-8 (which Python keeps
    as lone surrogates, unencodable) are written as \\xNN."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class LfmError(Exception):
    """A problem with the user's input, explained in one line."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else printable(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
