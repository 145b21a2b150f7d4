"""One index entry per wafer: its identity, the metadata filters use, its vector and its die grid.

The grid is stored (zlib-packed, a few hundred bytes) so that a result can
be rendered from the index alone, wherever the index lives.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import numpy as np

from fabsight.wafer.map import WaferMap

# Metadata columns, in the order results list them. Vector and grid columns are added by the store.
TEXT_FIELDS = ("id", "source", "lot", "wafer_id", "product", "tester", "pattern", "label")
NUMBER_FIELDS = ("index", "dies", "fails", "yield", "confidence")
TIME_FIELDS = ("test_time",)


def pack_grid(grid: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(grid, dtype=np.uint8).tobytes(), 6)


def unpack_grid(packed: bytes, rows: int, cols: int) -> np.ndarray:
    return np.frombuffer(zlib.decompress(packed), dtype=np.uint8).reshape(rows, cols)


def make_entry(wafer: WaferMap, row: dict[str, Any], where: str, vector: np.ndarray,
               decision: dict[str, Any]) -> dict[str, Any]:
    """A row for the store from the wafer's identity `row` (`tasks.embed.identity`: id, place in the file, label)
    and its file as `where_from` gives it; `decision` is the zero-shot answer for this wafer (pattern, confidence)."""
    # Stored as the tester's clock reads it (STDF times carry no zone); an offset, where a file has one, is dropped
    # so that --since/--until compare like with like.
    test_time = wafer.test_time.replace(tzinfo=None) if isinstance(wafer.test_time, datetime) else None
    return {
        "id": row["id"], "source": where, "index": row["index"],
        "lot": wafer.lot, "wafer_id": wafer.wafer_id, "product": wafer.product, "tester": wafer.tester,
        "test_time": test_time, "dies": wafer.dies, "fails": wafer.fails, "yield": wafer.yield_,
        "pattern": decision["pattern"], "confidence": float(decision["confidence"]), "label": row["label"],
        "vector": np.asarray(vector, np.float32), "grid": pack_grid(wafer.grid),
        "rows": int(wafer.grid.shape[0]), "cols": int(wafer.grid.shape[1]),
    }
