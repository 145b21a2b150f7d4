"""The benchmark harness: every table in the README comes out of `BenchmarkTable.report`.

A benchmark script fills one table and reports it with what made it:

    table = BenchmarkTable("Zero-shot pattern classification", ["model", "accuracy", "macro-F1", "maps/s"])
    for name in models:
        table.add_row(model=name, accuracy=..., **{"macro-F1": ..., "maps/s": ...})
    table.add_ratio("maps/s", baseline={"model": "wafer-clip"})   # adds "maps/s x baseline"
    table.report(model="wafer-clip", data="synthetic WM-811K classes, 900 maps", seed=0, json_path=args.json)

`report` prints (and returns) Markdown to paste into the README: a title
line, the exact command (sys.argv by default), model, data, seed, date
and machine, then the table. With `json_path` it also writes the same as
JSON. Numbers are formatted in one way everywhere (see `format_value`),
or per column with `formats={"CIDEr": "{:.3f}"}`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fabsight.errors import FabsightError
from fabsight.files import atomic_write


def format_value(value: Any) -> str:
    """None -> '-'; floats with 4 decimals below 10, 1 decimal below 10 000, none above; the rest as str."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if math.isnan(value):
        return "nan"
    if abs(value) < 10:
        return f"{value:.4f}"
    return f"{value:,.1f}" if abs(value) < 10_000 else f"{value:,.0f}"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """'16 cores, AMD EPYC 7763, Linux x86_64, Python 3.11.9': enough to judge a speed number."""
    return (f"{os.cpu_count()} cores, {cpu_name()}, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}")


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


@dataclass
class _Ratio:
    column: str
    baseline: int | Mapping[str, Any] | Callable[[dict[str, Any]], bool]
    name: str
    inverse: bool


@dataclass
class BenchmarkTable:
    """Rows of named values; `report` renders them with their provenance."""

    title: str
    columns: list[str]
    formats: dict[str, str] = field(default_factory=dict)  # column -> format string, e.g. "{:.3f}"
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _ratios: list[_Ratio] = field(default_factory=list, repr=False)

    def add_row(self, values: Mapping[str, Any] | Sequence[Any] | None = None, /, **named: Any) -> None:
        """Add a row by column name (`add_row(model="a", accuracy=0.9)` or a dict) or as a list in column order."""
        if values is not None and not isinstance(values, Mapping):
            values = list(values)
            if len(values) != len(self.columns):
                raise FabsightError(f"row has {len(values)} values for {len(self.columns)} columns")
            values = dict(zip(self.columns, values))
        row = {**(values or {}), **named}
        unknown = [name for name in row if name not in self.columns]
        if unknown:
            raise FabsightError(f"unknown column(s) {unknown}; the table has {self.columns}")
        self.rows.append(row)

    def add_ratio(self, column: str, baseline: int | Mapping[str, Any] | Callable[[dict[str, Any]], bool] = 0,
                  name: str | None = None, inverse: bool = False) -> None:
        """Add a column `column / baseline's column` ("x baseline"), computed when the table is rendered.

        `baseline` picks the row: its index, a dict of values it has ({"model": "cpu"}), or a predicate.
        `inverse=True` gives baseline / value, for columns where smaller is better (seconds, WER).
        """
        if column not in self.columns:
            raise FabsightError(f"no column {column!r}; the table has {self.columns}")
        self._ratios.append(_Ratio(column, baseline, name or f"{column} x baseline", inverse))

    def note(self, text: str) -> None:
        """A line printed under the table (how a number was measured, a caveat)."""
        self.notes.append(text)

    def _baseline_row(self, ratio: _Ratio) -> dict[str, Any]:
        if isinstance(ratio.baseline, int):
            if not -len(self.rows) <= ratio.baseline < len(self.rows):
                raise FabsightError(f"baseline row {ratio.baseline} does not exist ({len(self.rows)} rows)")
            return self.rows[ratio.baseline]
        test = ratio.baseline if callable(ratio.baseline) else \
            (lambda row: all(row.get(k) == v for k, v in ratio.baseline.items()))  # type: ignore[union-attr]
        matches = [row for row in self.rows if test(row)]
        if len(matches) != 1:
            raise FabsightError(f"the baseline for {ratio.name!r} must match one row, it matches {len(matches)}")
        return matches[0]

    def table(self) -> tuple[list[str], list[dict[str, Any]]]:
        """Columns and rows with the ratio columns filled in."""
        columns, rows = list(self.columns), [dict(row) for row in self.rows]
        for ratio in self._ratios:
            base = self._baseline_row(ratio).get(ratio.column)
            columns.append(ratio.name)
            for row in rows:
                value = row.get(ratio.column)
                top, bottom = (base, value) if ratio.inverse else (value, base)
                row[ratio.name] = top / bottom if isinstance(top, (int, float)) and bottom else None
        return columns, rows

    def _cell(self, column: str, value: Any) -> str:
        if column in self.formats and value is not None:
            return self.formats[column].format(value)
        if any(column == r.name for r in self._ratios) and value is not None:
            return f"{value:.2f}x"
        return format_value(value)

    def markdown(self) -> str:
        columns, rows = self.table()
        numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) and
                   any(isinstance(r.get(c), (int, float)) for r in rows) for c in columns]
        lines = ["| " + " | ".join(_escape(c) for c in columns) + " |",
                 "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
        lines += ["| " + " | ".join(_escape(self._cell(c, row.get(c))) for c in columns) + " |" for row in rows]
        return "\n".join(lines)

    def report(self, *, model: str, data: str, seed: int | str | None, command: str | Sequence[str] | None = None,
               machine: str | None = None, json_path: str | Path | None = None, file=None) -> str:
        """Print the table as Markdown with its provenance, optionally write JSON; return the Markdown.

        `model`, `data` and `seed` are required (say "none" where there is none): a number in the README
        must say what made it. `command` defaults to the command line this process was started with.
        """
        if command is None:  # as typed: "python benchmarks/x.py --n 500", or a console script "fabsight ..."
            command = ["python", *sys.argv] if sys.argv and sys.argv[0].endswith(".py") else sys.argv
        command_text = command if isinstance(command, str) else shlex.join(str(part) for part in command)
        provenance = {"command": command_text, "model": model, "data": data, "seed": seed,
                      "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                      "machine": machine or machine_description()}
        text = "\n".join([
            f"**{self.title}**", "",
            f"Command: `{command_text}`  ",
            f"Model: {model}; data: {data}; seed: {seed if seed is not None else 'none'}  ",
            f"Date: {provenance['date']}; machine: {provenance['machine']}", "",
            self.markdown(),
            *([""] + [f"{note}  " for note in self.notes] if self.notes else []),
        ])
        print(text, file=file or sys.stdout)
        if json_path is not None:
            columns, rows = self.table()
            with atomic_write(json_path, "w") as handle:
                json.dump({"title": self.title, **provenance, "columns": columns, "rows": rows,
                           "notes": self.notes}, handle, indent=2, default=str)
        return text
