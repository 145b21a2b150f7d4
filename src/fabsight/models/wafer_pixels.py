"""Wafer maps to model pixels, vectorised (no PIL, no per-die drawing).

The palette is part of a trained model's input contract: changing it
breaks every model trained on it, so it lives here and not with the
render colours people see (which may change freely).
"""

from __future__ import annotations

from collections.abc import Sequence

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


def grid_to_square(grid: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resample of a die grid to (size, size) states.

    Stretching to a square also undoes non-square die pitch: a round wafer
    whose grid is 30 rows by 40 columns comes out round.
    """
    grid = _crop_to_wafer(grid)
    h, w = grid.shape
    rows = ((np.arange(size) + 0.5) * h / size).astype(np.intp)  # (size,) source row per output row
    cols = ((np.arange(size) + 0.5) * w / size).astype(np.intp)
    return grid[rows[:, None], cols[None, :]]  # (size, size)


def wafer_states(wafers: Sequence[WaferMap | np.ndarray], size: int) -> np.ndarray:
    """(N, size, size) uint8 die states (off / pass / fail) of the upright wafers, resampled to a square."""
    out = np.empty((len(wafers), size, size), dtype=np.uint8)
    for i, wafer in enumerate(wafers):
        grid = wafer.display_grid() if isinstance(wafer, WaferMap) else np.asarray(wafer)
        out[i] = grid_to_square(grid, size)
    return out


SYMMETRIES = 8  # a square's quarter turns, each also mirrored


def check_views(views: int) -> int:
    if not 1 <= views <= SYMMETRIES:
        raise InputError(f"views must be 1 to {SYMMETRIES}, not {views}")
    return views


def symmetric_views(states: np.ndarray, views: int) -> np.ndarray:
    """(views * N, S, S): the first `views` of the square's 8 symmetries of (N, S, S) states, view by view.

    Order: no turn, its mirror, a quarter turn, its mirror, ... so 2 views are
    a map and its mirror image and 4 add the quarter turn.
    """
    if check_views(views) == 1:
        return states
    out = []
    for k in range(views):
        turned = np.rot90(states, k // 2, axes=(1, 2))
        out.append(turned[:, :, ::-1] if k % 2 else turned)
    return np.ascontiguousarray(np.concatenate(out))


def wafer_pixels(wafers: Sequence[WaferMap | np.ndarray], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB pictures of the upright wafers."""
    return MODEL_PALETTE[wafer_states(wafers, size)]
