"""Varied, human-sounding descriptions of synthetic wafers, written from their ground truth.

Training text for the image-text model: the words engineers use (names,
synonyms, locations, extent, orientation, severity, yield, mixtures,
"no visible pattern"), so free-text queries work and not only the nine
class names. Every number in a description comes from the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fabsight.knowledge.patterns import by_name

Truth = dict[str, Any]


def _pick(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _region(point: dict[str, Any] | None) -> str:
    return (point or {}).get("region", "center").replace("center", "centre") if point else "centre"


def _synonym(name: str, rng: np.random.Generator) -> str:
    pattern = by_name(name)
    return _pick(rng, (pattern.phrase, *pattern.synonyms)) if pattern else name.lower()


def _center(p: Truth, rng: np.random.Generator) -> str:
    size = "small " if p.get("radius", 0.2) < 0.12 else "large " if p.get("radius", 0.2) > 0.25 else ""
    return _pick(rng, [f"a {size}cluster of failing dies at the wafer centre", f"{size}centre cluster",
                       "bullseye pattern in the middle of the wafer", "failures concentrated in the centre",
                       f"a {size}center defect", "central blob of fails"])


def _donut(p: Truth, rng: np.random.Generator) -> str:
    partial = p.get("coverage_deg", 360) < 300
    shape = _pick(rng, ["partial donut", "arc of a donut", "broken ring"]) if partial else \
        _pick(rng, ["donut", "doughnut", "ring"])
    return _pick(rng, [f"a {shape} of failing dies around the middle of the wafer", f"{shape} pattern",
                       f"annular band of fails between centre and edge ({shape})",
                       f"{shape} shaped failure zone, hollow centre"])


def _edge_loc(p: Truth, rng: np.random.Generator) -> str:
    where = _region(p.get("center"))
    return _pick(rng, [f"a cluster of fails at the {where} edge", f"edge-loc pattern on the {where} side",
                       f"failing dies bunched at the wafer edge, {where}", f"edge cluster near the {where} rim",
                       f"localized edge failure at the {where}"])


def _edge_ring(p: Truth, rng: np.random.Generator) -> str:
    partial = p.get("coverage_deg", 360) < 300
    ring = _pick(rng, ["partial edge ring", "broken ring along the edge"]) if partial else \
        _pick(rng, ["edge ring", "ring of failing dies along the wafer edge", "perimeter ring of fails"])
    return _pick(rng, [ring, f"a {ring}", f"{ring}, the outermost dies fail", f"failures all around the rim ({ring})"])


def _loc(p: Truth, rng: np.random.Generator) -> str:
    where = _region(p.get("center"))
    many = p.get("count", 1) > 1
    cluster = "clusters" if many else "cluster"
    return _pick(rng, [f"{'several local clusters' if many else 'a local cluster'} of failing dies in the {where}",
                       f"localized {cluster} of fails, {where}",
                       f"{'blobs' if many else 'a blob'} of fails inside the wafer ({where})",
                       f"loc pattern in the {where}"])


def _near_full(p: Truth, rng: np.random.Generator) -> str:
    return _pick(rng, ["nearly every die fails", "near-full failure", "almost all dies failing",
                       "wafer wipeout, only a few good dies left", "near full wafer fail"])


def _random(p: Truth, rng: np.random.Generator) -> str:
    return _pick(rng, ["randomly scattered failing dies across the wafer", "random fails everywhere",
                       "salt and pepper pattern of fails", "dense scattered failures with no shape",
                       "random pattern"])


def _scratch(p: Truth, rng: np.random.Generator) -> str:
    first = (p.get("scratches") or [{}])[0]
    start, end = _region(first.get("start")), _region(first.get("end"))
    curved = first.get("shape") == "curved"
    line = _pick(rng, ["scratch", "thin line of failing dies", "linear streak of fails"])
    line = f"curved {line}" if curved and rng.random() < 0.5 else line
    options = [f"a {line}", f"{line} running from the {start} to the {end}",
               f"a {line}, {p.get('direction', 'diagonal')}", f"{line} across the wafer"]
    if p.get("count", 1) > 1:
        options.append("several scratches")
    return _pick(rng, options)


PHRASES: dict[str, Callable[[Truth, np.random.Generator], str]] = {
    "Center": _center, "Donut": _donut, "Edge-Loc": _edge_loc, "Edge-Ring": _edge_ring, "Loc": _loc,
    "Near-full": _near_full, "Random": _random, "Scratch": _scratch,
}
NO_PATTERN = ("no visible pattern", "clean wafer, no pattern", "only scattered background fails, no pattern",
              "no defect pattern", "normal wafer without any failure signature", "none")
JOINERS = (" and ", " with ", " plus ", ", together with ", "; also ")


def _severity(truth: Truth, rng: np.random.Generator) -> str:
    lost = round(100 * truth["fail_share"])
    yield_pct = round(100 * truth["yield"])
    return _pick(rng, [f", about {lost}% of dies lost", f", yield {yield_pct}%", f", {lost}% fail",
                       f" ({truth['fails']} failing dies)", ""])


def describe(truth: Truth, rng: np.random.Generator) -> str:
    """One description of a synthetic wafer, drawn at random from many phrasings."""
    patterns = truth.get("patterns", [])
    if not patterns:
        text = _pick(rng, NO_PATTERN)
    elif rng.random() < 0.15:  # the bare names engineers type, e.g. "edge ring and scratch"
        text = _pick(rng, JOINERS).join(_synonym(p["name"], rng) for p in patterns)
    else:
        order = rng.permutation(len(patterns))
        text = _pick(rng, JOINERS).join(PHRASES[patterns[i]["name"]](patterns[i], rng) for i in order)
    if rng.random() < 0.4:
        text += _severity(truth, rng)
    if rng.random() < 0.2:
        text = _pick(rng, ["wafer map: ", "wafer showing ", "a wafer map with ", "map with "]) + text
    return text
