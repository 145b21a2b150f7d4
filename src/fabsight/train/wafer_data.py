"""Training sets of synthetic wafers: die grids, label sets and truths, drawn once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from fabsight.progress import track
from fabsight.wafer.synth import generate_grids


@dataclass
class WaferSet:
    grids: list[np.ndarray]  # (rows, cols) uint8 die states, as drawn; the model resamples them
    truths: list[dict[str, Any]]

    # Cached: derived from `truths`, which never change, and read per map in loops.
    @cached_property
    def label_sets(self) -> list[frozenset[str]]:
        """Pattern classes present; the empty set for "none"."""
        return [frozenset(c for c in t["classes"] if c != "none") for t in self.truths]

    @cached_property
    def labels(self) -> list[str]:
        return [t["label"] for t in self.truths]

    def __len__(self) -> int:
        return len(self.truths)


def draw_wafer_set(n_single: int, n_mixed: int, seed: int, workers: int | None = None) -> WaferSet:
    """`n_single` maps of a random single class (or none) and `n_mixed` mixtures of two to four."""
    grids, truths = [], []
    for spec, n, offset in (("any", n_single, 0), ("mixed", n_mixed, 1)):
        # Separate seeds per spec: (seed, index) pairs never coincide across the two streams.
        for grid, truth in track(generate_grids(spec, n=n, seed=2 * seed + offset, workers=workers), f"drawing {spec}",
                                 total=n):
            grids.append(grid)
            truths.append(truth)
    return WaferSet(grids, truths)
