"""Steps 4 and 5 of reading a picture: each cell's colour by a vote of its middle pixels, then which
colour means off-wafer, pass and fail (rules in the package docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fabsight.errors import InputError
from fabsight.wafer.map import FAIL, OFF, PASS
from fabsight.wafer.readers.image.colours import UNKNOWN
from fabsight.wafer.readers.image.pitch import Axis

SAMPLES = 9  # at most this many pixels a side vote for a cell
RED_ENOUGH = 0.35
MAX_DIE_COLOURS = 12  # a bin map may colour each bin; more colours than this are not a wafer map


def vote(labels: np.ndarray, k: int, rows: Axis, cols: Axis,
         box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """Winning colour group (ny, nx) and its share of the votes, per cell whose centre is in the box.

    The middle half of each cell votes (at most SAMPLES x SAMPLES pixels;
    the one pixel at the centre when the pitch is under 4 pixels), so grid
    lines and blurred edges do not.
    """
    ky, kx = rows.cells(box[0].start, box[0].stop), cols.cells(box[1].start, box[1].stop)
    if ky.size == 0 or kx.size == 0:
        return np.zeros((0, 0), np.uint8), np.zeros((0, 0))
    halves = [0.25 * a.pitch if a.pitch >= 4 else 0.5 for a in (rows, cols)]
    ys, vy = rows.samples(ky, halves[0], SAMPLES)
    xs, vx = cols.samples(kx, halves[1], SAMPLES)
    ys, xs = np.clip(ys, 0, labels.shape[0] - 1), np.clip(xs, 0, labels.shape[1] - 1)
    groups = k + 1  # colour groups and one slot for "no group"
    picked = labels[ys[:, :, None, None], xs[None, None, :, :]]  # (ny, Sy, nx, Sx) group per sample
    picked = np.where(picked == UNKNOWN, groups - 1, picked).astype(np.int64)  # last slot: no group
    valid = vy[:, :, None, None] & vx[None, None, :, :]
    cell = np.arange(ky.size)[:, None, None, None] * kx.size + np.arange(kx.size)[None, None, :, None]
    cell = np.broadcast_to(cell, picked.shape)
    counts = np.bincount((cell[valid] * groups + picked[valid]), minlength=ky.size * kx.size * groups)
    counts = counts.reshape(ky.size, kx.size, groups)
    counts[..., groups - 1] = 0  # pixels of no group do not vote
    winners = counts.argmax(axis=2).astype(np.uint8)
    best = np.take_along_axis(counts, winners[..., None].astype(np.int64), axis=2)[..., 0]
    totals = np.count_nonzero(valid, axis=(1, 3))  # (ny, nx)
    share = best / np.maximum(totals, 1)
    winners[best == 0] = UNKNOWN
    return winners, share


# --- which colour is what ----------------------------------------------------------------------------
def lightness(rgb: np.ndarray) -> float:
    """CIE L* (0..100) of an sRGB colour."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = float(linear @ [0.2126, 0.7152, 0.0722])
    return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y


def _hue_score(rgb: np.ndarray, towards: float) -> float:
    """HSV saturation x cos(hue - towards degrees): 1 for a pure colour of that hue, 0 for grey."""
    r, g, b = np.asarray(rgb, dtype=np.float64) / 255
    high, low = max(r, g, b), min(r, g, b)
    if high == 0 or high == low:
        return 0.0
    saturation = (high - low) / high
    if high == r:
        hue = 60 * (((g - b) / (high - low)) % 6)
    elif high == g:
        hue = 60 * ((b - r) / (high - low) + 2)
    else:
        hue = 60 * ((r - g) / (high - low) + 4)
    return saturation * math.cos(math.radians(hue - towards))


def redness(rgb: np.ndarray) -> float:
    return _hue_score(rgb, 0.0)


def _fail_of_two(a: int, b: int, palette: np.ndarray, off: int | None, background: int | None) -> int:
    ra, rb = redness(palette[a]), redness(palette[b])
    redder = a if ra >= rb else b
    if off is not None and off != background:  # colour-mapped array
        greener = b if redder == a else a
        if redness(palette[redder]) >= 0.3 and _hue_score(palette[greener], 120.0) >= 0.3:
            return redder  # a red and a green (jet, rainbow): red is fail
        la, lb = (abs(lightness(palette[c]) - lightness(palette[off])) for c in (a, b))
        return redder if abs(la - lb) < 8 else (a if la > lb else b)  # sequential maps: 2 is furthest from 0
    if abs(ra - rb) >= 0.15:
        return redder
    reference = lightness(palette[background]) if background is not None else 100.0
    la, lb = (abs(lightness(palette[c]) - reference) for c in (a, b))
    return a if la >= lb else b


@dataclass
class Reading:
    grid: np.ndarray
    colours: dict[str, Any]  # JSON-ready: the colours read as off / pass / fail
    die_plot: bool  # off-wafer is the background colour


def _outside(mask: np.ndarray) -> bool:
    """Whether the marked cells lie round the outside, as off-wafer cells do: in every row and column
    they only continue a run that starts at the border (a few strays allowed)."""
    strays = 0
    for m in (mask, mask.T):
        inside = ~m
        has = inside.any(axis=1)
        first = np.argmax(inside, axis=1)
        last = m.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)
        cols = np.arange(m.shape[1])[None, :]
        between = (cols >= first[:, None]) & (cols <= last[:, None]) & has[:, None]
        strays += np.count_nonzero(m & between)
    return strays <= 0.02 * max(np.count_nonzero(mask), 1)


def _may_be_off(rgb: np.ndarray) -> bool:
    """Off-wafer is never green or a bright red: those round the outside are pass or fail dies."""
    return _hue_score(rgb, 120.0) < 0.25 and not (redness(rgb) >= RED_ENOUGH and lightness(rgb) >= 25)


def states(winners: np.ndarray, share: np.ndarray, palette: np.ndarray, background: int | None,
           source: str) -> Reading:
    """OFF / PASS / FAIL per cell from the winning colour groups (rules in the package docstring)."""
    won = [int(g) for g in np.unique(winners) if g != UNKNOWN and share[winners == g].mean() >= 0.5]
    if not won:
        raise InputError("found no dies in the picture", source)
    ring = np.concatenate([winners[0], winners[-1], winners[:, 0], winners[:, -1]])
    corners = {int(winners[0, 0]), int(winners[0, -1]), int(winners[-1, 0]), int(winners[-1, -1])}
    around = next(iter(corners)) if len(corners) == 1 else None  # the colour of all four corners
    off: int | None = None
    if background in won and _outside(winners == background):
        off = background  # a die plot
    elif around in won and around != background and len(won) >= 2 and _may_be_off(palette[around]) \
            and _outside(winners == around):
        off = around  # a colour-mapped array
    elif background in won:
        off = background
    elif len(won) >= 3:
        off = max(won, key=lambda g: np.count_nonzero(ring == g))
    cells = {g: int(np.count_nonzero(winners == g)) for g in won}
    dies = sorted((g for g in won if g != off), key=lambda g: -cells[g])
    # a third colour and beyond must hold its cells clearly (JPEG noise can win a stray cell)
    dies = dies[:2] + [g for g in dies[2:] if cells[g] >= 3 and share[winners == g].mean() >= 0.8]
    if not dies:
        raise InputError("found no dies in the picture (only off-wafer colour)", source)
    fails: list[int]
    if len(dies) == 1:
        fails = dies if redness(palette[dies[0]]) >= RED_ENOUGH else []
        passes = [g for g in dies if g not in fails]
    elif len(dies) == 2:
        fails = [_fail_of_two(dies[0], dies[1], palette, off, background)]
        passes = [g for g in dies if g not in fails]
    elif len(dies) > MAX_DIE_COLOURS:
        raise InputError(f"the picture has {len(dies)} colours in a grid: not a wafer map picture", source)
    else:
        passes = [max(dies, key=lambda g: _hue_score(palette[g], 120.0))]
        fails = [g for g in dies if g not in passes]
    classes = {g: OFF for g in ([off] if off is not None else [])} | {g: PASS for g in passes} | \
        {g: FAIL for g in fails}
    ids = np.array(list(classes), dtype=np.int64)
    lut = np.full(256, OFF, np.uint8)
    for group in range(len(palette)):  # groups that won no die go to the nearest class colour
        lut[group] = classes[int(ids[np.linalg.norm(palette[ids] - palette[group], axis=1).argmin()])]
    lut[list(classes)] = list(classes.values())
    colours = {"off": _hex(palette[off]) if off is not None else None,
               "pass": [_hex(palette[g]) for g in passes], "fail": [_hex(palette[g]) for g in fails]}
    return Reading(lut[winners], colours, off is not None and off == background)


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{round(float(v)):02x}" for v in rgb)
