"""Printing results for a person: tables and colour on stdout (JSON mode never comes here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Rich would exit with status 1 here; `app.main` ends every command the same way on a closed pipe."""
        self.quiet = True
        raise BrokenPipeError


console = _Console(highlight=False)
if not console.is_terminal:  # piped or captured: rich would assume 80 columns and squash the tables
    console.width = max(console.width, 160)


def percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def yield_text(value: float | None) -> str:
    """Yield with a colour cue: the thresholds are only for the eye, not for any decision."""
    if value is None:
        return "-"
    colour = "green" if value >= 0.9 else "yellow" if value >= 0.7 else "red"
    return f"[{colour}]{percent(value)}[/{colour}]"


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          right: Sequence[str] = ()) -> None:
    """Print a simple table; columns named in `right` are right-aligned (numbers)."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        out.add_column(name, justify="right" if name in right else "left")
    for row in rows:
        out.add_row(*("-" if cell is None else str(cell) for cell in row))
    console.print(out)


def message(text: str) -> None:
    console.print(text)
