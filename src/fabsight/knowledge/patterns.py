"""The pattern taxonomy, read once from `patterns.json` (data, not code)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    name: str  # canonical WM-811K class name
    phrase: str  # how a prompt says it
    synonyms: tuple[str, ...]  # words engineers use, lower case


@cache
def patterns() -> tuple[Pattern, ...]:
    data = json.loads((Path(__file__).parent / "patterns.json").read_text(encoding="utf-8"))
    return tuple(Pattern(p["name"], p["phrase"], tuple(s.lower() for s in p["synonyms"])) for p in data["patterns"])


PATTERN_NAMES: tuple[str, ...] = tuple(p.name for p in patterns())
DEFECT_NAMES: tuple[str, ...] = tuple(n for n in PATTERN_NAMES if n != "none")
UNCERTAIN = "uncertain"  # the answer of `fabsight classify` below its confidence threshold: no label named
MIXTURE = "+"  # joins the patterns of a map that holds several ("Edge-Ring+Scratch"), as generated maps are labelled


def by_name(name: str) -> Pattern | None:
    """The pattern a name or synonym refers to (case-insensitive), or None."""
    key = name.strip().lower()
    return next((p for p in patterns() if key == p.name.lower() or key in p.synonyms), None)


def label_phrase(label: str) -> str:
    """The prompt phrase for a canonical class name; any other label is used as written."""
    pattern = next((p for p in patterns() if p.name == label), None)
    return pattern.phrase if pattern else label
