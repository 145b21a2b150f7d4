"""Wafer maps to model pixels, vectorised (no PIL, no per-die drawing).

The palette and the resampling are part of a trained model's input
contract: changing either breaks every model trained on them, so they live
here and not with the render colours people see (which may change freely).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from fabsight.errors import InputError
from fabsight.wafer.map import WaferMap

# off-wafer white, pass green, fail red: also what a pretrained photo CLIP reads most naturally.
MODEL_PALETTE = np.array([[255, 255, 255], [40, 160, 60], [220, 30, 30]], dtype=np.uint8)  # (3 states, RGB)
_PALETTE_FLOAT = MODEL_PALETTE.astype(np.float32)
_PALETTE_FLOAT.flags.writeable = False


def crop_to_wafer(grid: np.ndarray) -> np.ndarray:
    """Cut the margin of off-wafer cells, so padding (as in WM-811K arrays) does not shrink the wafer."""
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    if rows.size == 0:
        return grid
    return grid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@lru_cache(maxsize=512)
def _area_taps(cells: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(taps, size) source cells and weights: output pixel i is sum over k of weight[k, i] * cell[index[k, i]].

    Output pixel i spans [i, i + 1) * cells / size in cell units; its weight on
    cell j is the overlap of that span with [j, j + 1), over the span's length,
    so each pixel's weights sum to 1. A span meets at most cells / size + 2
    cells, so a few gathers do it: a dense (size, cells) matrix product would
    be mostly zeros, and for matrices this small BLAS's thread start-up costs
    ten times the arithmetic.
    """
    edges = np.arange(size + 1) * (cells / size)  # (size + 1,) pixel boundaries in cell units
    first = np.minimum(np.floor(edges[:-1]).astype(np.intp), cells - 1)  # (size,) first cell each pixel meets
    taps = int(np.ceil(cells / size)) + 1
    index = np.minimum(first[None, :] + np.arange(taps)[:, None], cells - 1)  # (taps, size)
    overlap = np.minimum(edges[1:], index + 1) - np.maximum(edges[:-1], index)  # (taps, size), <= 0: no overlap
    overlap[1:][index[1:] == index[:-1]] = 0.0  # a tap clamped onto the last cell again counts once
    weight = np.clip(overlap, 0.0, None)
    weight = (weight / weight.sum(axis=0)).astype(np.float32)
    index.flags.writeable = weight.flags.writeable = False  # shared through the cache
    return index, weight


def grid_to_square(grid: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB picture of a die grid, area-weighted: each pixel is the mean colour it covers.

    Nearest-neighbour sampling would drop whole rows of dies when a wafer is
    wider than the picture (a one-die scratch along a dropped row vanishes);
    averaging keeps every die's share of colour, so a thin line stays visible.
    Stretching to a square also undoes non-square die pitch: a round wafer
    whose grid is 30 rows by 40 columns comes out round.
    """
    grid = crop_to_wafer(np.asarray(grid))
    # Rows, then columns of the turned picture: every gather runs along axis 0, numpy's fast path.
    picture = _PALETTE_FLOAT.take(grid, axis=0)  # (h, w, 3)
    for _ in range(2):  # each pass resamples axis 0 and swaps the axes: (h, w) -> (w, size) -> (size, size)
        index, weight = _area_taps(picture.shape[0], size)
        resampled = weight[0, :, None, None] * picture.take(index[0], axis=0)
        for k in range(1, len(index)):
            resampled += weight[k, :, None, None] * picture.take(index[k], axis=0)
        picture = resampled.transpose(1, 0, 2)
    return np.ascontiguousarray(np.rint(picture), dtype=np.uint8)


def wafer_pixels(wafers: Sequence[WaferMap | np.ndarray], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB pictures of the upright wafers."""
    out = np.empty((len(wafers), size, size, 3), dtype=np.uint8)
    for i, wafer in enumerate(wafers):
        out[i] = grid_to_square(wafer.display_grid() if isinstance(wafer, WaferMap) else wafer, size)
    return out


def model_input(wafers: Sequence[WaferMap | np.ndarray], size: int, mean: np.ndarray | float,
                std: np.ndarray | float, views: int = 1) -> np.ndarray:
    """(views * N, size, size, 3) float32 normalised pixels, channels last: what training and inference feed."""
    pictures = symmetric_views(wafer_pixels(wafers, size), views)  # (views * N, S, S, 3) uint8
    return (pictures.astype(np.float32) / np.float32(255) - np.float32(mean)) / np.float32(std)


SYMMETRIES = 8  # a square's quarter turns, each also mirrored


def check_views(views: int) -> int:
    if not 1 <= views <= SYMMETRIES:
        raise InputError(f"views must be 1 to {SYMMETRIES}, not {views}")
    return views


def symmetric_views(pictures: np.ndarray, views: int) -> np.ndarray:
    """(views * N, S, S, ...): the first `views` of the square's 8 symmetries of (N, S, S, ...) pictures.

    Order: no turn, its mirror, a quarter turn, its mirror, ... so 2 views are
    a map and its mirror image and 4 add the quarter turn.
    """
    if check_views(views) == 1:
        return pictures
    out = []
    for k in range(views):
        turned = np.rot90(pictures, k // 2, axes=(1, 2))
        out.append(turned[:, :, ::-1] if k % 2 else turned)
    return np.ascontiguousarray(np.concatenate(out))
