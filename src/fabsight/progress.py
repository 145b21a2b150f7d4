"""Progress reporting that library code can use and only the CLI turns on.

Library functions wrap long loops in `track(...)`; it is silent unless the
CLI has called `enable()` (people at a terminal get a progress bar; `--json`
runs and library users get nothing on their screen).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_enabled = False
SHOW_AFTER_S = 1.0  # bars appear only for work that has already taken this long


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield `items`, drawing a progress bar on stderr when enabled and the work takes over a second."""
    if not _enabled:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    start = time.monotonic()
    progress: Progress | None = None
    task = None
    try:
        for done, item in enumerate(items, 1):
            yield item
            if progress is None and time.monotonic() - start > SHOW_AFTER_S:
                progress = Progress(*columns, transient=True)
                progress.start()
                task = progress.add_task(description, total=total, completed=done)
            elif progress is not None:
                progress.update(task, completed=done)
    finally:
        if progress is not None:
            progress.stop()


@contextmanager
def spinner(description: str) -> Iterator[None]:
    """A spinner for one long step with no natural count (loading a model, say)."""
    if not _enabled:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(description):
        yield
