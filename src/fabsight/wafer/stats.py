"""Statistics computed from the die grid. Every number here is counted, never estimated.

Geometry is measured on the upright picture of the wafer (`display_grid`):
row 0 at the top, angles in degrees counter-clockwise from 3 o'clock.
Radii are normalised per axis (0 at the wafer centre, 1 at the outermost
die) so a grid with non-square die pitch still has round zones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fabsight.options import option
from fabsight.wafer.map import FAIL, NO_BIN, OFF, WaferMap

ZONE_EDGES = (0.0, 0.4, 0.8, np.inf)  # centre / middle / edge by normalised radius (16% / 48% / 36% of a round wafer)
ZONE_NAMES = ("center", "middle", "edge")
QUADRANTS = ("upper_right", "upper_left", "lower_left", "lower_right")  # 0-90, 90-180, ... degrees
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # diagonal fails belong to the same cluster


@dataclass(frozen=True, kw_only=True)
class StatsOptions:
    rings: int = option("rings in the radial fail profile", 5)
    sectors: int = option("sectors in the angular fail profile", 8)
    max_clusters: int = option("largest fail clusters to list (all are counted)", 10)


@dataclass(frozen=True)
class Polar:
    """Normalised radius and angle of every cell of the display grid."""

    radius: np.ndarray  # (rows, cols) 0 at centre, 1 at outermost die
    angle: np.ndarray  # (rows, cols) degrees in [0, 360), counter-clockwise from 3 o'clock
    center: tuple[float, float]  # (row, col) of the wafer centre


def polar_coordinates(on_wafer: np.ndarray) -> Polar:
    rows, cols = np.nonzero(on_wafer)
    cy = (rows.min() + rows.max()) / 2
    cx = (cols.min() + cols.max()) / 2
    ry = (rows.max() - rows.min()) / 2 + 0.5  # +0.5: out to the die's outer edge
    rx = (cols.max() - cols.min()) / 2 + 0.5
    yy, xx = np.indices(on_wafer.shape, dtype=np.float64)
    dy = (yy - cy) / ry
    dx = (xx - cx) / rx
    radius = np.hypot(dx, dy)
    angle = np.degrees(np.arctan2(-dy, dx)) % 360.0  # minus: rows grow downwards on screen
    return Polar(radius=radius, angle=angle, center=(float(cy), float(cx)))


def _count(on_wafer: np.ndarray, failing: np.ndarray, where: np.ndarray) -> dict[str, Any]:
    dies = int(np.count_nonzero(on_wafer & where))
    fails = int(np.count_nonzero(failing & where))
    return {"dies": dies, "fails": fails, "yield": (dies - fails) / dies if dies else None}


def zone_yields(on_wafer: np.ndarray, failing: np.ndarray, polar: Polar) -> dict[str, dict]:
    zones = {}
    for name, lo, hi in zip(ZONE_NAMES, ZONE_EDGES[:-1], ZONE_EDGES[1:]):
        zones[name] = _count(on_wafer, failing, (polar.radius >= lo) & (polar.radius < hi))
    for i, name in enumerate(QUADRANTS):
        zones[name] = _count(on_wafer, failing, (polar.angle >= 90 * i) & (polar.angle < 90 * (i + 1)))
    return zones


def _profile(on_wafer: np.ndarray, failing: np.ndarray, values: np.ndarray, edges: np.ndarray,
             key: str) -> list[dict]:
    profile = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        counts = _count(on_wafer, failing, (values >= lo) & (values < hi))
        profile.append({f"{key}_from": round(float(lo), 4), f"{key}_to": round(float(hi), 4),
                        "dies": counts["dies"], "fails": counts["fails"],
                        "fail_rate": counts["fails"] / counts["dies"] if counts["dies"] else None})
    return profile


def radial_profile(on_wafer: np.ndarray, failing: np.ndarray, polar: Polar, rings: int) -> list[dict]:
    # Corner dies of a full rectangular array can sit past radius 1: count them in the outer ring.
    radius = np.minimum(polar.radius, np.nextafter(1.0, 0.0))
    return _profile(on_wafer, failing, radius, np.linspace(0.0, 1.0, rings + 1), "radius")


def angular_profile(on_wafer: np.ndarray, failing: np.ndarray, polar: Polar, sectors: int) -> list[dict]:
    return _profile(on_wafer, failing, polar.angle, np.linspace(0.0, 360.0, sectors + 1), "angle")


def _display_to_die(wafer: WaferMap, row: float, col: float) -> tuple[float, float]:
    """Display (row, col) back to the file's own die coordinates (x, y)."""
    rows, cols = wafer.shape
    file_row = rows - 1 - row if wafer.orientation.y_increases == "U" else row
    file_col = cols - 1 - col if wafer.orientation.x_increases == "L" else col
    return wafer.x_origin + file_col, wafer.y_origin + file_row


def fail_clusters(wafer: WaferMap, failing: np.ndarray, polar: Polar, max_clusters: int) -> dict[str, Any]:
    """Connected groups of failing dies (8-neighbour), largest first."""
    from scipy import ndimage  # imported here: 0.5 s, which commands that never get here should not pay

    labels, count = ndimage.label(failing, structure=EIGHT_NEIGHBOURS)
    if count == 0:
        return {"count": 0, "singletons": 0, "largest": []}
    sizes = np.bincount(labels.ravel())[1:]  # (count,)
    order = np.argsort(-sizes, kind="stable")[:max_clusters]
    boxes = ndimage.find_objects(labels)
    centroids = ndimage.center_of_mass(failing, labels, order + 1)
    largest = []
    for index, (row, col) in zip(order, centroids):
        box = boxes[index]
        x, y = _display_to_die(wafer, row, col)
        r, c = int(round(row)), int(round(col))
        largest.append({
            "size": int(sizes[index]),
            "centroid_rc": [round(float(row), 2), round(float(col), 2)],
            "centroid_xy": [round(float(x), 2), round(float(y), 2)],
            "bbox_rc": [box[0].start, box[1].start, box[0].stop - 1, box[1].stop - 1],
            "radius": round(float(polar.radius[r, c]), 3),
            "angle": round(float(polar.angle[r, c]), 1),
        })
    return {"count": int(count), "singletons": int(np.count_nonzero(sizes == 1)), "largest": largest}


def bin_pareto(bins: np.ndarray | None, on_wafer: np.ndarray) -> list[dict] | None:
    """Bins by die count, most frequent first, with their share of tested dies."""
    if bins is None:
        return None
    values = bins[on_wafer & (bins != NO_BIN)]
    if values.size == 0:
        return []
    numbers, counts = np.unique(values, return_counts=True)
    total = int(np.count_nonzero(on_wafer))
    order = np.lexsort((numbers, -counts))
    return [{"bin": int(numbers[i]), "count": int(counts[i]), "share": counts[i] / total} for i in order]


def wafer_stats(wafer: WaferMap, options: StatsOptions = StatsOptions()) -> dict[str, Any]:
    """All statistics of one wafer as JSON-ready data."""
    grid = wafer.display_grid()
    on_wafer = grid != OFF
    failing = grid == FAIL
    result: dict[str, Any] = {
        **wafer.metadata(),
        "rows": wafer.shape[0], "cols": wafer.shape[1],
        "dies": wafer.dies, "fails": wafer.fails, "passes": wafer.passes, "yield": wafer.yield_,
    }
    if wafer.dies == 0:
        return result
    polar = polar_coordinates(on_wafer)
    result.update({
        "center_rc": [round(polar.center[0], 2), round(polar.center[1], 2)],
        "zones": zone_yields(on_wafer, failing, polar),
        "radial_profile": radial_profile(on_wafer, failing, polar, options.rings),
        "angular_profile": angular_profile(on_wafer, failing, polar, options.sectors),
        "clusters": fail_clusters(wafer, failing, polar, options.max_clusters),
        "hard_bins": bin_pareto(wafer.display(wafer.hard_bins) if wafer.hard_bins is not None else None, on_wafer),
        "soft_bins": bin_pareto(wafer.display(wafer.soft_bins) if wafer.soft_bins is not None else None, on_wafer),
    })
    return result
