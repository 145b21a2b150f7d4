"""Metadata filters for search and removal, turned into the SQL `where` clause LanceDB runs.

Values are quoted here, never pasted: a lot called "x' OR '1'='1" is a lot name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta
from typing import Any

from fabsight.errors import InputError
from fabsight.knowledge.patterns import PATTERN_NAMES, UNCERTAIN
from fabsight.options import option
from fabsight.wafer.naming import where_from


@dataclass(frozen=True, kw_only=True)
class SearchFilters:
    product: str | None = option("only wafers of this product", None)
    lot: str | None = option("only wafers of this lot", None)
    wafer_id: str | None = option("only the wafer with this id", None, metavar="WAFER")
    since: str | None = option("only wafers tested on or after this date or time (ISO, e.g. 2024-03-01)", None,
                               metavar="DATE")
    until: str | None = option("only wafers tested before the end of this date, or before this time", None,
                               metavar="DATE")
    pattern: str | None = option("only wafers whose predicted pattern is this", None)
    min_yield: float | None = option("only wafers with at least this yield (0 to 1)", None, metavar="Y")
    max_yield: float | None = option("only wafers with at most this yield (0 to 1)", None, metavar="Y")
    source: str | None = option("only wafers read from this file (as it was given to `index add`)", None,
                                metavar="FILE")

    def __post_init__(self) -> None:
        getattr(super(), "__post_init__", lambda: None)()  # options combine by inheritance: let each check
        for name in ("min_yield", "max_yield"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise InputError(f"{name.replace('_', '-')} must be between 0 and 1, not {value}")
        if self.pattern is not None:
            _pattern_name(self.pattern)
        for name in ("since", "until"):
            if getattr(self, name) is not None:
                _parse_time(getattr(self, name), name)

    @property
    def follows_the_vectors(self) -> bool:
        """Whether the rows kept cluster in vector space, so an approximate search must look in every partition.

        The stored pattern is predicted from the wafer's own vector: wafers of one pattern sit together, and
        the partitions nearest a query of another pattern hold few of them (recall@10 0.46 at 1M rows when
        only the usual partitions were searched; benchmarks/search_speed.py).
        """
        return self.pattern is not None


FILTER_FIELDS = tuple(f.name for f in fields(SearchFilters))


def filters_from(values: Mapping[str, Any]) -> SearchFilters:
    """`SearchFilters` from a plain mapping (the Python API); an unknown field is an error that lists the known."""
    unknown = sorted(set(values) - set(FILTER_FIELDS))
    if unknown:
        raise InputError(f"unknown filter field(s) {', '.join(map(repr, unknown))}; known: {', '.join(FILTER_FIELDS)}")
    return SearchFilters(**values)


def _pattern_name(value: str) -> str:
    known = {name.lower(): name for name in (*PATTERN_NAMES, UNCERTAIN)}
    if value.lower() not in known:
        raise InputError(f"unknown pattern {value!r}; known: {', '.join(known.values())}")
    return known[value.lower()]


def _parse_time(value: str, name: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--{name} {value!r} is not an ISO date or time (e.g. 2024-03-01 or 2024-03-01T08:00)") \
            from None


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _time_literal(moment: datetime) -> str:
    return f"timestamp '{moment.replace(tzinfo=None).isoformat(sep=' ')}'"


def where_clause(filters: SearchFilters) -> str | None:
    """The SQL condition for `filters`, or None when nothing is filtered."""
    source = None if filters.source is None else where_from(filters.source)
    parts = [f"{column} = {_quote(value)}" for column, value in
             (("product", filters.product), ("lot", filters.lot), ("wafer_id", filters.wafer_id),
              ("source", source)) if value is not None]
    if filters.pattern is not None:
        parts.append(f"pattern = {_quote(_pattern_name(filters.pattern))}")
    if filters.since is not None:
        parts.append(f"test_time >= {_time_literal(_parse_time(filters.since, 'since'))}")
    if filters.until is not None:
        until = _parse_time(filters.until, "until")
        is_date = len(filters.until.strip()) <= len("2024-03-01")
        parts.append(f"test_time {'<' if is_date else '<='} {_time_literal(_day_after(until) if is_date else until)}")
    if filters.min_yield is not None:
        parts.append(f"`yield` >= {float(filters.min_yield)!r}")
    if filters.max_yield is not None:
        parts.append(f"`yield` <= {float(filters.max_yield)!r}")
    return " AND ".join(parts) or None


def _day_after(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time.min) + timedelta(days=1)


def ids_clause(ids: list[str]) -> str:
    return f"id IN ({', '.join(_quote(i) for i in ids)})"

