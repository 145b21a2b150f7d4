"""The wafer map: a die grid (off-wafer / pass / fail), bins and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from fabsight.errors import InputError

OFF, PASS, FAIL = 0, 1, 2
NO_BIN = -1  # bin value where a die has no bin (off-wafer or unknown)


@dataclass(frozen=True)
class Orientation:
    """How the file's die coordinates map onto a picture of the wafer.

    `x_increases` is "R" or "L" (direction of increasing X on screen),
    `y_increases` is "D" or "U". `flat` is where the flat or notch sits
    ("U", "D", "L", "R") when the file says so. The defaults are the
    array convention: column index grows rightwards, row index downwards.
    """

    x_increases: str = "R"
    y_increases: str = "D"
    flat: str | None = None

    def __post_init__(self) -> None:
        if self.x_increases not in ("L", "R"):
            raise InputError(f"x direction must be 'L' or 'R', not {self.x_increases!r}")
        if self.y_increases not in ("U", "D"):
            raise InputError(f"y direction must be 'U' or 'D', not {self.y_increases!r}")
        if self.flat not in (None, "U", "D", "L", "R"):
            raise InputError(f"flat must be one of U, D, L, R, not {self.flat!r}")


@dataclass
class WaferMap:
    """One wafer. `grid[row, col]` holds OFF, PASS or FAIL.

    Rows follow the file's Y coordinate and columns its X coordinate:
    die (x, y) sits at `grid[y - y_origin, x - x_origin]`. `orientation`
    says how to turn that into an upright picture (see `display_grid`).
    """

    grid: np.ndarray  # (rows, cols) uint8 in {OFF, PASS, FAIL}
    hard_bins: np.ndarray | None = None  # (rows, cols) int32, NO_BIN where unknown
    soft_bins: np.ndarray | None = None  # (rows, cols) int32, NO_BIN where unknown
    x_origin: int = 0
    y_origin: int = 0
    orientation: Orientation = field(default_factory=Orientation)
    lot: str | None = None
    wafer_id: str | None = None
    product: str | None = None
    tester: str | None = None
    test_time: datetime | None = None
    source: str | None = None
    complete: bool = True  # False when the file ended before this wafer did
    extra: dict[str, Any] = field(default_factory=dict)  # reader-specific facts (labels, truth...)

    def __post_init__(self) -> None:
        grid = np.asarray(self.grid)
        if grid.ndim != 2 or 0 in grid.shape:
            raise InputError(f"a wafer grid must be a non-empty 2-D array, got shape {grid.shape}", self.source)
        if not np.issubdtype(grid.dtype, np.integer) and grid.dtype != bool:
            raise InputError(f"a wafer grid must hold integers 0/1/2, got dtype {grid.dtype}", self.source)
        bad = (grid < OFF) | (grid > FAIL)
        if bad.any():
            values = sorted(set(np.unique(grid[bad]).tolist()))[:5]
            raise InputError(f"a wafer grid holds 0 (off), 1 (pass), 2 (fail); found {values}", self.source)
        self.grid = grid.astype(np.uint8, copy=False)
        self.hard_bins = self._checked_bins(self.hard_bins, "hard_bins")
        self.soft_bins = self._checked_bins(self.soft_bins, "soft_bins")

    def _checked_bins(self, bins: np.ndarray | None, name: str) -> np.ndarray | None:
        if bins is None:
            return None
        bins = np.asarray(bins)
        if bins.shape != self.grid.shape:
            raise InputError(f"{name} shape {bins.shape} differs from grid shape {self.grid.shape}", self.source)
        return bins.astype(np.int32, copy=False)

    # --- counts -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape  # type: ignore[return-value]

    @property
    def dies(self) -> int:
        return int(np.count_nonzero(self.grid != OFF))

    @property
    def fails(self) -> int:
        return int(np.count_nonzero(self.grid == FAIL))

    @property
    def passes(self) -> int:
        return int(np.count_nonzero(self.grid == PASS))

    @property
    def yield_(self) -> float | None:
        """Passing dies over tested dies, 0..1; None for a wafer with no dies (0% would say every die failed)."""
        return self.passes / self.dies if self.dies else None

    @property
    def name(self) -> str:
        """A short label for people: lot/wafer where known, else the source file."""
        parts = [p for p in (self.lot, self.wafer_id) if p]
        return "/".join(parts) if parts else (self.source or "wafer")

    # --- orientation ---------------------------------------------------------
    def display(self, array: np.ndarray) -> np.ndarray:
        """Turn an array laid out like `grid` so that row 0 is the top of the wafer picture."""
        if self.orientation.y_increases == "U":
            array = array[::-1, :]
        if self.orientation.x_increases == "L":
            array = array[:, ::-1]
        return array

    def display_grid(self) -> np.ndarray:
        return self.display(self.grid)

    def with_grid(self, grid: np.ndarray) -> "WaferMap":
        """A copy with another grid of the same shape (bins dropped if shape changes)."""
        same = np.shape(grid) == self.grid.shape
        return replace(self, grid=grid, hard_bins=self.hard_bins if same else None,
                       soft_bins=self.soft_bins if same else None)

    def metadata(self) -> dict[str, Any]:
        """JSON-ready identity of the wafer."""
        return {
            "source": self.source,
            "lot": self.lot,
            "wafer_id": self.wafer_id,
            "product": self.product,
            "tester": self.tester,
            "test_time": self.test_time.isoformat() if self.test_time else None,
            "complete": self.complete,
        }

    @classmethod
    def from_array(cls, array: Any, **metadata: Any) -> "WaferMap":
        """A map from a WM-811K style array (0 off-wafer, 1 pass, 2 fail)."""
        return cls(grid=np.asarray(array), **metadata)
