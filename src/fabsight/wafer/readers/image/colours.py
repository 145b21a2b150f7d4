"""Step 1 of reading a picture: group its colours, find the background, and tell area colours (dies)
from thin ones (text, axes, grid lines). See the package docstring for the whole method."""

from __future__ import annotations

import numpy as np

UNKNOWN = 255  # label of pixels far from every grouped colour
MAX_COLOURS = 40
JOIN_RADIUS, ASSIGN_RADIUS = 48.0, 72.0  # RGB distances: grouping colours, assigning pixels to groups
BLOB_SHARE = 0.3  # share of a colour's pixels in same-colour 2 x 2 blocks for it to count as area


def colour_groups(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel group labels (H, W) uint8 (UNKNOWN = none), group colours (K, 3) and pixel counts (K,)."""
    key = ((pixels[..., 0] >> 4).astype(np.int32) << 8) | ((pixels[..., 1] >> 4).astype(np.int32) << 4) \
        | (pixels[..., 2] >> 4)  # (H, W) 4-bit-per-channel bin
    flat = key.ravel()
    counts = np.bincount(flat, minlength=4096).astype(np.float64)  # (4096,)
    filled = counts > 0
    means = np.zeros((4096, 3))
    for c in range(3):
        means[filled, c] = np.bincount(flat, weights=pixels[..., c].ravel(), minlength=4096)[filled] / counts[filled]
    free = filled.copy()
    centres: list[np.ndarray] = []
    for b in np.argsort(-counts, kind="stable"):
        if len(centres) == MAX_COLOURS or counts[b] == 0:
            break
        if not free[b]:
            continue
        near = free & (np.linalg.norm(means - means[b], axis=1) <= JOIN_RADIUS)
        centres.append(np.average(means[near], axis=0, weights=counts[near]))
        free &= ~near
    palette = np.array(centres)  # (K, 3)
    distance = np.linalg.norm(means[:, None, :] - palette[None, :, :], axis=2)  # (4096, K)
    lut = np.where(distance.min(axis=1) <= ASSIGN_RADIUS, distance.argmin(axis=1), UNKNOWN).astype(np.uint8)
    labels = lut[key]
    group_counts = np.bincount(labels.ravel(), minlength=256)[:len(palette)]
    return labels, palette, group_counts


def background_colour(labels: np.ndarray, thin: np.ndarray) -> int | None:
    """The colour of at least three of the picture's corners, else the commonest on its border
    (corners first: a wafer drawn edge to edge, as `imsave` does, covers most of the border).
    Colours in `thin` (lines: a frame, or die grid lines that run to the picture's edges) are passed over
    while any other colour is on the border."""
    corners = [int(labels[y, x]) for y in (0, -1) for x in (0, -1) if labels[y, x] != UNKNOWN]
    ring = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    ring = ring[ring != UNKNOWN]
    not_thin = np.isin(ring, thin, invert=True)
    if not_thin.any():
        corners = [colour for colour in corners if colour not in thin]
        ring = ring[not_thin]
    for colour in set(corners):
        if corners.count(colour) >= 3:
            return colour
    return int(np.bincount(ring).argmax()) if ring.size else None


def in_blocks(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels inside some 2 x 2 block of one colour (not thin lines, text or tick marks)."""
    corner = labels[:-1, :-1]
    block = (corner == labels[1:, :-1]) & (corner == labels[:-1, 1:]) & (corner == labels[1:, 1:])
    inside = np.zeros(labels.shape, dtype=bool)
    for dy in (0, 1):
        for dx in (0, 1):
            inside[dy:dy + block.shape[0], dx:dx + block.shape[1]] |= block
    return inside


def block_share(labels: np.ndarray, solid: np.ndarray, k: int) -> np.ndarray:
    """(k,) share of each group's pixels that sit in 2 x 2 blocks of their own colour."""
    in_blocks = np.bincount(labels[solid].ravel(), minlength=256)[:k]
    totals = np.bincount(labels.ravel(), minlength=256)[:k]
    return in_blocks / np.maximum(totals, 1)


def area_groups(share: np.ndarray, background: int | None) -> np.ndarray:
    """Groups (ids) most of whose pixels sit in 2 x 2 blocks of their own colour."""
    ids = np.flatnonzero(share >= BLOB_SHARE)
    return ids[ids != background]
