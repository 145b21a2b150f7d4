"""Wafer outlines and die grids: where the dies are, and where each die sits on the round wafer.

A wafer is a disc of radius 1 (physical units). Dies sit on a rectangular
pitch (`pitch_x` wide, `pitch_y` high, in wafer radii), so a grid with
non-square dies has rows != cols while the wafer stays round. A die is on
the wafer when a point between its centre and its outer corner lies inside
the disc (edge exclusion: partly clipped edge dies are dropped), and the
grid is cropped to the dies, as in WM-811K maps.

Grid convention (that of `WaferMap` and `wafer.stats`): row 0 is the top of
the picture, x grows rightwards, y upwards, angles are degrees
counter-clockwise from 3 o'clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabsight.errors import InputError

MIN_DIES_ACROSS = 8
MAX_DIES_ACROSS = 400
SIZE_WORDS = {"tiny": (12, 20), "small": (20, 30), "medium": (30, 50), "large": (50, 100), "huge": (100, 160)}


@dataclass(frozen=True)
class Geometry:
    """One wafer's die grid with physical coordinates of every die centre."""

    on: np.ndarray  # (rows, cols) bool: die on the wafer
    x: np.ndarray  # (rows, cols) float32, wafer radii, rightwards
    y: np.ndarray  # (rows, cols) float32, wafer radii, upwards
    rho: np.ndarray  # (rows, cols) float32, distance from the wafer centre (1 = wafer edge)
    theta: np.ndarray  # (rows, cols) float32, degrees in [0, 360) counter-clockwise from 3 o'clock
    depth: np.ndarray  # (rows, cols) int16, die steps to the nearest off-wafer cell (0 = outermost ring); -1 off
    pitch_x: float  # die width in wafer radii
    pitch_y: float  # die height in wafer radii
    center_row: float  # grid row of the wafer centre (fractional)
    center_col: float  # grid column of the wafer centre (fractional)

    @property
    def shape(self) -> tuple[int, int]:
        return self.on.shape  # type: ignore[return-value]

    @property
    def dies(self) -> int:
        return int(np.count_nonzero(self.on))

    @property
    def die_aspect(self) -> float:
        """Die height over die width (1.0 for square dies)."""
        return self.pitch_y / self.pitch_x

    def to_grid(self, x: float, y: float) -> tuple[float, float]:
        """(row, col) of the physical point (x, y), fractional."""
        return self.center_row - y / self.pitch_y, self.center_col + x / self.pitch_x

    def to_physical(self, row: float, col: float) -> tuple[float, float]:
        return (col - self.center_col) * self.pitch_x, (self.center_row - row) * self.pitch_y

    def edge_distance(self) -> np.ndarray:
        """(rows, cols) die pitches inwards from the outermost die centres (0 at the rim, radially)."""
        inward = (1.0 - self.rho) * self.dies_per_radius()
        return inward - float(inward[self.on].min())

    def dies_per_radius(self) -> float:
        """Mean number of die pitches in one wafer radius (for sizes quoted in dies)."""
        return float(2.0 / (self.pitch_x + self.pitch_y))


def _on_wafer(pitch_x: float, pitch_y: float, clip: float, offset: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """Uncropped on-wafer mask and the die-centre coordinates of its columns and rows."""
    half_cols = int(np.ceil(1.0 / pitch_x)) + 2
    half_rows = int(np.ceil(1.0 / pitch_y)) + 2
    xs = (np.arange(-half_cols, half_cols + 1) + offset[0]) * pitch_x  # (C,)
    ys = (np.arange(half_rows, -half_rows - 1, -1) + offset[1]) * pitch_y  # (R,) top row first
    # a die counts when the point `clip` of the way from its centre to its outer corner is on the disc
    px = np.abs(xs) + clip * pitch_x / 2
    py = np.abs(ys) + clip * pitch_y / 2
    on = py[:, None] ** 2 + px[None, :] ** 2 <= 1.0  # (R, C)
    return on, xs, ys


def _pitch(count: int, offset: float, clip: float, reach: float) -> float:
    """The pitch that puts exactly `count` dies across a chord of half-length `reach` (mid-way in its range)."""
    # die centres sit at |k + offset| pitches from the middle; sorted, the n-th is n//2 + (o or 1 - o), o = |offset|
    o = abs(offset)

    def spot(n: int) -> float:
        return n // 2 + (o if n % 2 == 0 else 1.0 - o)

    half = (spot(count - 1) + spot(count)) / 2  # `count` dies fit while the half-chord is in [spot n-1, spot n)
    return reach / (half + clip / 2)


def _crop(on: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(on.any(axis=1))
    cols = np.flatnonzero(on.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def edge_depth(on: np.ndarray) -> np.ndarray:
    """Die steps (4-neighbour) from each on-wafer die to the nearest off-wafer cell; 0 = outermost ring, -1 off."""
    from scipy import ndimage  # imported here: 0.5 s, which commands that never get here should not pay

    padded = np.pad(on, 1)
    depth = ndimage.distance_transform_cdt(padded, metric="taxicab")[1:-1, 1:-1] - 1  # (rows, cols)
    return depth.astype(np.int16)


def make_geometry(rows: int, cols: int, rng: np.random.Generator) -> Geometry:
    """A round wafer whose cropped die grid is `rows` x `cols` (dies per column x dies per row).

    The pitch is adjusted until the cropped grid has exactly that shape (a
    sub-die offset and an edge-exclusion depth are drawn from `rng`).
    """
    for value, name in ((rows, "rows"), (cols, "cols")):
        if not MIN_DIES_ACROSS <= value <= MAX_DIES_ACROSS:
            raise InputError(f"a wafer needs {MIN_DIES_ACROSS} to {MAX_DIES_ACROSS} {name} of dies, not {value}")
    clip = float(rng.uniform(0.3, 1.5))  # edge exclusion; WM-811K grids fill ~77% of their box
    offset = (float(rng.uniform(-0.45, 0.45)), float(rng.uniform(-0.45, 0.45)))  # not 0: every count is reachable
    pitch_x, pitch_y = 2.0 / cols, 2.0 / rows
    for _ in range(4):  # the row through the centre sets the width, the column through it the height
        reach_x = np.sqrt(max(1.0 - ((abs(offset[1]) + clip / 2) * pitch_y) ** 2, 0.25))
        reach_y = np.sqrt(max(1.0 - ((abs(offset[0]) + clip / 2) * pitch_x) ** 2, 0.25))
        pitch_x = _pitch(cols, offset[0], clip, reach_x)
        pitch_y = _pitch(rows, offset[1], clip, reach_y)
    on, xs, ys = _on_wafer(pitch_x, pitch_y, clip, offset)
    r, c = _crop(on)
    on, xs, ys = on[r, c], xs[c], ys[r]
    x = np.broadcast_to(xs[None, :], on.shape).astype(np.float32)
    y = np.broadcast_to(ys[:, None], on.shape).astype(np.float32)
    rho = np.hypot(x, y)
    theta = np.degrees(np.arctan2(y, x)) % 360.0
    return Geometry(on=on, x=x, y=y, rho=rho, theta=theta.astype(np.float32), depth=edge_depth(on),
                    pitch_x=float(pitch_x), pitch_y=float(pitch_y),
                    center_row=float(ys[0] / pitch_y), center_col=float(-xs[0] / pitch_x))


def sample_size(rng: np.random.Generator, size: tuple[int | None, int | None] | str | None = None) -> tuple[int, int]:
    """(rows, cols) of a wafer: WM-811K-like by default (median about 38 across, 20 to 120), or as asked.

    `size` is None (random), a size word from SIZE_WORDS, or (rows, cols)
    where either may be None (then it follows from the other and a random
    die aspect).
    """
    aspect = float(np.exp(rng.normal(0.02, 0.09 if rng.random() < 0.92 else 0.3)))  # rows per col, ~1
    aspect = float(np.clip(aspect, 0.45, 2.2))
    if isinstance(size, str):
        low, high = SIZE_WORDS[size]
        cols = round(float(np.exp(rng.uniform(np.log(low), np.log(high)))))
        return _clamp(cols * aspect), _clamp(cols)
    rows, cols = size if size is not None else (None, None)
    if rows is not None and cols is not None:
        return int(rows), int(cols)
    if cols is None and rows is not None:
        return int(rows), _clamp(rows / aspect)
    if cols is None:
        if rng.random() < 0.03:  # the occasional big die count (small dies on a big wafer)
            cols = round(float(rng.uniform(60, 115)))
        else:
            cols = round(float(np.clip(np.exp(rng.normal(np.log(37.0), 0.23)), 20, 120)))
    return _clamp(cols * aspect), int(cols)


def _clamp(value: float) -> int:
    return int(np.clip(round(value), max(MIN_DIES_ACROSS, 12), MAX_DIES_ACROSS))


# --- location words ------------------------------------------------------------
SECTORS = ("right", "upper right", "top", "upper left", "left", "lower left", "bottom", "lower right")
CENTER_RADIUS = 0.25  # points nearer the centre than this (wafer radii) are "center"


def region_name(x: float, y: float) -> str:
    """'center', or one of SECTORS by the angle of (x, y): how an engineer names a place on a wafer."""
    if np.hypot(x, y) < CENTER_RADIUS:
        return "center"
    angle = np.degrees(np.arctan2(y, x)) % 360.0
    return SECTORS[int(((angle + 22.5) % 360.0) // 45.0)]


def zone_name(radius: float) -> str:
    """'center' / 'middle' / 'edge' with the boundaries `wafer.stats` uses (0.4 and 0.8 of the radius)."""
    return "center" if radius < 0.4 else "middle" if radius < 0.8 else "edge"


def location(geo: Geometry, x: float, y: float) -> dict:
    """JSON-ready description of a physical point: grid row/col, x/y, radius, angle, region and zone."""
    row, col = geo.to_grid(x, y)
    radius = float(np.hypot(x, y))
    return {"row": round(float(row), 1), "col": round(float(col), 1), "x": round(float(x), 3), "y": round(float(y), 3),
            "radius": round(radius, 3), "angle_deg": round(float(np.degrees(np.arctan2(y, x)) % 360.0), 1),
            "region": region_name(x, y), "zone": zone_name(radius)}


def direction_name(angle_deg: float) -> str:
    """Compass-like name of a line's direction (0-180 degrees): 'horizontal', 'vertical', 'diagonal /' ..."""
    a = angle_deg % 180.0
    if a < 22.5 or a >= 157.5:
        return "horizontal"
    if a < 67.5:
        return "diagonal (lower left to upper right)"
    if a < 112.5:
        return "vertical"
    return "diagonal (upper left to lower right)"
