"""Options are declared once, as dataclass fields; the CLI derives its flags from them.

Library code declares its options with `option(...)`; `fabsight.cli.options`
turns those fields into argparse flags, so a flag cannot drift from the
function it drives. Options dataclasses use `kw_only=True` so they combine
by inheritance in any order.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def option(help: str, default: Any = dataclasses.MISSING, *, positional: bool = False,
           nargs: str | int | None = None, choices: tuple[str, ...] | None = None,
           short: str | None = None, metavar: str | None = None) -> Any:
    """A dataclass field that also describes its command-line flag."""
    meta = {"help": help, "positional": positional, "nargs": nargs, "choices": choices,
            "short": short, "metavar": metavar}
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)
