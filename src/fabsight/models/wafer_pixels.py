"""Wafer maps to model pixels, vectorised (no PIL, no per-die drawing).

The palette and the resampling are part of a trained model's input
contract: changing either breaks every model trained on them, so they live here and not with the
render colours people see (which may change freely).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from fabsight.errors import InputError
from fabsight.wafer.map import WaferMap

# off-wafer white, pass green, fail red: also what a pretrained photo CLIP reads most naturally.
MODEL_PALETTE = np.array([[255, 255, 255], [40, 160, 60], [220, 30, 30]], dtype=np.uint8)  # (3 states, RGB)


def _crop_to_wafer(grid: np.ndarray) -> np.ndarray:
    """Cut the margin of off-wafer cells, so padding (as in WM-811K arrays) does not shrink the wafer."""
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    if rows.size == 0:
        return grid
    return grid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@lru_cache(maxsize=512)
def _area_weights(cells: int, size: int) -> np.ndarray:
    """(size, cells) share of each output pixel's span covered by each source cell; rows sum to 1.

    Output pixel i spans [i, i + 1) * cells / size in cell units; its weight on
    cell j is the overlap of that span with [j, j + 1), over the span's length.
    """
    edges = np.arange(size + 1) * (cells / size)  # (size + 1,) pixel boundaries in cell units
    starts, ends = edges[:-1, None], edges[1:, None]  # (size, 1)
    cell = np.arange(cells)[None, :]  # (1, cells)
    overlap = np.clip(np.minimum(ends, cell + 1) - np.maximum(starts, cell), 0.0, None)  # (size, cells)
    weights = (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)
    weights.flags.writeable = False  # shared through the cache
    return weights


def grid_to_square(grid: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB picture of a die grid, area-weighted: each pixel is the mean colour it covers.

    Nearest-neighbour sampling would drop whole rows of dies when a wafer is
    wider than the picture (a one-die scratch along a dropped row vanishes);
    averaging keeps every die's share of colour, so a thin line stays visible.
    Stretching to a square also undoes non-square die pitch: a round wafer
    whose grid is 30 rows by 40 columns comes out round.
    """
    grid = _crop_to_wafer(np.asarray(grid))
    h, w = grid.shape
    rgb = MODEL_PALETTE[grid].astype(np.float32)  # (h, w, 3)
    rows = (_area_weights(h, size) @ rgb.reshape(h, w * 3)).reshape(size, w, 3)  # (size, w, 3)
    square = np.matmul(_area_weights(w, size)[None], rows)  # (1, size, w) @ (size, w, 3) -> (size, size, 3)
    return np.rint(square).astype(np.uint8)


def wafer_pixels(wafers: Sequence[WaferMap | np.ndarray], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB pictures of the upright wafers."""
    out = np.empty((len(wafers), size, size, 3), dtype=np.uint8)
    for i, wafer in enumerate(wafers):
        out[i] = grid_to_square(wafer.display_grid() if isinstance(wafer, WaferMap) else wafer, size)
    return out


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
