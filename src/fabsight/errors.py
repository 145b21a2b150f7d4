"""Errors and warnings that reach the user as one clear line."""

from __future__ import annotations

from pathlib import Path


class FabsightError(Exception):
    """A problem with the user's input or setup; the CLI prints it without a traceback."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(FabsightError, ValueError):
    """A file or value that cannot be read as what it claims to be."""


class FabsightWarning(UserWarning):
    """Something was skipped or repaired, but the result is still usable."""
