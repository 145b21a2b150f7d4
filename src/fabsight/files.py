"""Small file-system helpers that turn OS errors into clear user errors and never leave half files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabsight.errors import InputError


def ensure_folder(path: str | Path) -> Path:
    """Create `path` (and parents) if needed; a clear error if it cannot be a folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError("exists and is not a folder", path) from None
    except OSError as exc:
        raise InputError(f"cannot create folder ({exc.strerror})", path) from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def follow_umask(path: str | Path) -> None:
    """Give a written file the permissions the user's umask gives new files (mkstemp and safetensors make 0600,
    which would keep a model folder shared by a team from the rest of it)."""
    os.chmod(path, 0o666 & ~_umask())


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator:
    """Write to a temporary file beside `path`, then rename: a crash leaves the old file or none, never half."""
    path = Path(path)
    ensure_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    follow_umask(tmp)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
