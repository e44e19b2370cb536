"""The one exception type for user mistakes (bad file, unknown rig, wrong shape).

The CLI prints such an error as a single line and exits with code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class LfmError(Exception):
    """A problem with the user's input, explained in one line."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
