"""Wafer maps to model pixels, vectorised (no PIL, no per-die drawing).

The palette, the resampling and the pixel encodings are part of a trained
model's input contract: changing any of them breaks every model trained on
them, so they live here and not with the render colours people see (which
may change freely). A model folder names its encoding in `wafer_pixels.json`;
a folder without one (any Hugging Face CLIP or SigLIP) gets "rgb".

Encodings:
- "rgb": the wafer drawn in `MODEL_PALETTE` colours, what a photo model reads.
- "fail-wafer-line": three channels, each pixel's share of failing dies, its
  share of wafer (not off-wafer margin), and `line_contrast`. A small vision
  transformer reads a short thin scratch poorly from the colours alone (its
  patch embedding is linear); a convolutional net gets it from its first
  layers, and this channel hands the transformer the same local evidence.
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


def _area_resample(picture: np.ndarray, size: int) -> np.ndarray:
    """(h, w, C) float32 -> (size, size, C) float32: each output pixel the mean of the cells it covers."""
    # Rows, then columns of the turned picture: every gather runs along axis 0, numpy's fast path.
    for _ in range(2):  # each pass resamples axis 0 and swaps the axes: (h, w) -> (w, size) -> (size, size)
        index, weight = _area_taps(picture.shape[0], size)
        resampled = weight[0, :, None, None] * picture.take(index[0], axis=0)
        for k in range(1, len(index)):
            resampled += weight[k, :, None, None] * picture.take(index[k], axis=0)
        picture = resampled.transpose(1, 0, 2)
    return picture


def grid_to_square(grid: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB picture of a die grid, area-weighted: each pixel is the mean colour it covers.

    Nearest-neighbour sampling would drop whole rows of dies when a wafer is
    wider than the picture (a one-die scratch along a dropped row vanishes);
    averaging keeps every die's share of colour, so a thin line stays visible.
    Stretching to a square also undoes non-square die pitch: a round wafer
    whose grid is 30 rows by 40 columns comes out round.
    """
    picture = _area_resample(_PALETTE_FLOAT.take(crop_to_wafer(np.asarray(grid)), axis=0), size)  # (S, S, 3)
    return np.ascontiguousarray(np.rint(picture), dtype=np.uint8)


_SHARES = np.array([[0, 0], [0, 1], [1, 1]], dtype=np.float32)  # (3 states, fail / on-wafer): off, pass, fail
_SHARES.flags.writeable = False


def grid_shares(grid: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 2) float32: each pixel's share of failing dies and of wafer (dies of any state), area-weighted."""
    return _area_resample(_SHARES.take(crop_to_wafer(np.asarray(grid)), axis=0), size)


LINE_TAPS = 7  # dies a line must run to stand out; also the side of the square it is compared with
LINE_GAIN = 3.0  # scales the line channel to about the others' spread (a full one-pixel line: 6/7 * 3 = 2.6)


def line_contrast(fail: np.ndarray) -> np.ndarray:
    """(N, S, S) fail shares -> (N, S, S): how much denser fails run along a line through each pixel than around it.

    The mean of the 7 pixels along the densest of four directions (row,
    column, both diagonals), less the mean of the 7 x 7 square around the
    pixel (over the pixels inside the picture), floored at 0. A scratch
    scores high along its length, a round cluster or a uniform spread of
    fails about 0; the four directions are closed under the square's
    turns and mirrors, so the channel turns with the map.
    """
    reach = LINE_TAPS // 2
    size = fail.shape[1]
    padded = np.pad(fail, ((0, 0), (reach, reach), (reach, reach)))

    def line_sums(dy: int, dx: int) -> np.ndarray:
        """(N, S, S) sums of the LINE_TAPS pixels centred on each pixel, stepping (dy, dx); in place, no temporaries."""
        total = np.zeros_like(fail)
        for d in range(-reach, reach + 1):
            total += padded[:, reach + d * dy:reach + d * dy + size, reach + d * dx:reach + d * dx + size]
        return total

    rows = line_sums(0, 1)
    along = rows.copy()
    for direction in ((1, 0), (1, 1), (1, -1)):
        np.maximum(along, line_sums(*direction), out=along)
    along /= np.float32(LINE_TAPS)
    rows_padded = np.pad(rows, ((0, 0), (reach, reach), (0, 0)))
    square = np.zeros_like(fail)  # (N, S, S) sums over the 7 x 7 square: column sums of the row sums
    for d in range(-reach, reach + 1):
        square += rows_padded[:, reach + d:reach + d + size]
    inside = np.minimum(np.arange(size) + reach, size - 1) - np.maximum(np.arange(size) - reach, 0) + 1  # (S,)
    along -= square / (inside[:, None] * inside[None, :]).astype(np.float32)
    return np.maximum(along, np.float32(0), out=along)


def _grid(wafer: WaferMap | np.ndarray) -> np.ndarray:
    return wafer.display_grid() if isinstance(wafer, WaferMap) else wafer


def wafer_pixels(wafers: Sequence[WaferMap | np.ndarray], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB pictures of the upright wafers."""
    out = np.empty((len(wafers), size, size, 3), dtype=np.uint8)
    for i, wafer in enumerate(wafers):
        out[i] = grid_to_square(_grid(wafer), size)
    return out


def line_pictures(wafers: Sequence[WaferMap | np.ndarray], size: int) -> np.ndarray:
    """(N, size, size, 3) float32 "fail-wafer-line" pictures: fail share, wafer share, 0.5 + gain * line contrast.

    The line channel sits at 0.5 where there is no line so that, like the
    other two channels at their midpoints, it normalises to 0 with the
    models' mean and spread of 0.5.
    """
    shares = np.empty((2, len(wafers), size, size), dtype=np.float32)  # planes, so each channel is contiguous
    for i, wafer in enumerate(wafers):
        shares[:, i] = grid_shares(_grid(wafer), size).transpose(2, 0, 1)
    fail, wafer_share = shares
    line = line_contrast(fail)  # then gain, wafer share and offset in place, in the order training used
    line *= np.float32(LINE_GAIN)
    line *= wafer_share
    line += np.float32(0.5)
    return np.stack([fail, wafer_share, line], axis=-1)


# name -> what a model card says of it; the names are also the `--pixels` choices
PIXEL_ENCODINGS = {"rgb": "the map drawn in colour (white off-wafer, green pass, red fail)",
                   "fail-wafer-line": "three channels per pixel, the share of failing dies, the share of wafer, and "
                                      "how much denser fails run along a short line through it than around it"}
PIXEL_ENCODING_FILE = "wafer_pixels.json"  # {"encoding": ...} in a model folder; absent: "rgb"


def check_encoding(encoding: str) -> str:
    if encoding not in PIXEL_ENCODINGS:
        raise InputError(f"pixel encoding must be one of {', '.join(PIXEL_ENCODINGS)}, not {encoding!r}")
    return encoding


def model_input(wafers: Sequence[WaferMap | np.ndarray], size: int, mean: np.ndarray | float,
                std: np.ndarray | float, views: int = 1, encoding: str = "rgb") -> np.ndarray:
    """(views * N, size, size, 3) float32 normalised pixels, channels last: what training and inference feed."""
    if check_encoding(encoding) == "rgb":  # views of the uint8 pictures: a quarter of the bytes to copy
        pictures = symmetric_views(wafer_pixels(wafers, size), views).astype(np.float32) / np.float32(255)
    else:
        pictures = symmetric_views(line_pictures(wafers, size), views)  # the channels turn with the map
    pictures -= np.float32(mean)  # in place: both branches made a fresh array
    pictures /= np.float32(std)
    return pictures


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
    return np.ascontiguousarray(np.concatenate([symmetric_view(pictures, k) for k in range(views)]))


def symmetric_view(pictures: np.ndarray, k: int, axes: tuple[int, int] = (1, 2)) -> np.ndarray:
    """View `k` (0 to 7, in `symmetric_views`' order) of pictures whose rows and columns are `axes`; no copy."""
    turned = np.rot90(pictures, k // 2, axes=axes)
    return np.flip(turned, axis=axes[1]) if k % 2 else turned
