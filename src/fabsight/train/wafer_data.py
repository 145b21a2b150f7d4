"""Training sets of synthetic wafers: model-ready square grids, label sets and truths, drawn once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fabsight.models.wafer_pixels import grid_to_square
from fabsight.progress import track
from fabsight.wafer.synth import generate_grids


@dataclass
class WaferSet:
    squares: np.ndarray  # (N, S, S) uint8 states resampled to the model's input size
    truths: list[dict[str, Any]]

    @property
    def label_sets(self) -> list[frozenset[str]]:
        """Pattern classes present; the empty set for "none"."""
        return [frozenset(c for c in t["classes"] if c != "none") for t in self.truths]

    @property
    def labels(self) -> list[str]:
        return [t["label"] for t in self.truths]

    def __len__(self) -> int:
        return len(self.truths)


def draw_wafer_set(n_single: int, n_mixed: int, seed: int, size: int, workers: int | None = None) -> WaferSet:
    """`n_single` maps of a random single class (or none) and `n_mixed` mixtures of two to four."""
    squares, truths = [], []
    for spec, n, offset in (("any", n_single, 0), ("mixed", n_mixed, 1)):
        # Separate seeds per spec: (seed, index) pairs never coincide across the two streams.
        for grid, truth in track(generate_grids(spec, n=n, seed=2 * seed + offset, workers=workers), f"drawing {spec}",
                                 total=n):
            squares.append(grid_to_square(grid, size))
            truths.append(truth)
    return WaferSet(np.stack(squares) if squares else np.zeros((0, size, size), np.uint8), truths)
