"""fabsight's own wafer file: one `WaferMap` per `.npz`, read back exactly by `fabsight.load`.

Layout (plain arrays, nothing pickled, so `np.load(..., allow_pickle=False)` reads it):

| key              | content |
|------------------|---------|
| `fabsight_format`| the string `"fabsight.wafer/1"` (format name / version) |
| `grid`           | uint8 (rows, cols): 0 off-wafer, 1 pass, 2 fail |
| `hard_bins`      | int32 (rows, cols), -1 where unknown; only when the wafer has hard bins |
| `soft_bins`      | int32 (rows, cols), likewise |
| `metadata`       | a JSON string: x_origin, y_origin, orientation, lot, wafer_id, product, tester, |
|                  | test_time (ISO 8601), source, complete, extra |

`extra` must be JSON-serialisable; NumPy scalars and arrays in it are saved
as plain numbers and lists (so they come back as Python values), tuples come
back as lists, and anything else (an object, a set) is refused with an error
naming the key. Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import InputError
from fabsight.files import atomic_write
from fabsight.wafer.map import Orientation, WaferMap

FORMAT_KEY = "fabsight_format"
FORMAT_NAME, FORMAT_VERSION = "fabsight.wafer", 1


def _plain(value: Any) -> Any:
    """json.dumps hook: NumPy values to Python ones; anything else is refused."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value.tolist()
    raise TypeError(type(value).__name__)


def _unsaveable(value: Any, where: str) -> str | None:
    """Where in `value` the first thing JSON cannot hold sits, e.g. "extra['truth']['box']" (a set)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{where} (a key of type {type(key).__name__})"
            found = _unsaveable(item, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _unsaveable(item, f"{where}[{i}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    try:
        _plain(value)
    except TypeError:
        return f"{where} (a {type(value).__name__})"
    return None


def metadata_json(wafer: WaferMap) -> str:
    """Everything but the arrays, as one JSON document."""
    document = {
        "x_origin": int(wafer.x_origin), "y_origin": int(wafer.y_origin),
        "orientation": {"x_increases": wafer.orientation.x_increases,
                        "y_increases": wafer.orientation.y_increases, "flat": wafer.orientation.flat},
        **wafer.metadata(),
        "extra": wafer.extra,
    }
    try:
        return json.dumps(document, default=_plain, ensure_ascii=False)
    except (TypeError, ValueError):
        where = _unsaveable(wafer.extra, "extra") or "extra"
        raise InputError(f"cannot save {where} as JSON; extra may hold only numbers, strings, "
                         "booleans, None, lists and dicts", wafer.source) from None


def save_npz(wafer: WaferMap, path: str | Path) -> Path:
    """Write `wafer` to `path` (compressed .npz, atomically); returns the path."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        FORMAT_KEY: np.array(f"{FORMAT_NAME}/{FORMAT_VERSION}"),
        "grid": np.ascontiguousarray(wafer.grid, dtype=np.uint8),
        "metadata": np.array(metadata_json(wafer)),
    }
    if wafer.hard_bins is not None:
        arrays["hard_bins"] = np.ascontiguousarray(wafer.hard_bins, dtype=np.int32)
    if wafer.soft_bins is not None:
        arrays["soft_bins"] = np.ascontiguousarray(wafer.soft_bins, dtype=np.int32)
    with atomic_write(path) as handle:
        np.savez_compressed(handle, **arrays)
    return path


def is_fabsight(archive: Mapping[str, Any]) -> bool:
    return FORMAT_KEY in archive


def _version(archive: Mapping[str, np.ndarray], path: Path) -> int:
    marker = str(archive[FORMAT_KEY][()]) if np.ndim(archive[FORMAT_KEY]) == 0 else ""
    name, _, version = marker.partition("/")
    if name != FORMAT_NAME or not version.isdigit():
        raise InputError(f"{FORMAT_KEY} is {marker!r}, not {FORMAT_NAME}/<version>", path)
    if int(version) > FORMAT_VERSION:
        raise InputError(f"written by a newer fabsight (wafer format version {version}; this one reads up to "
                         f"{FORMAT_VERSION}); upgrade fabsight", path)
    return int(version)


def read_fabsight(archive: Mapping[str, np.ndarray], path: Path) -> WaferMap:
    """The `WaferMap` in an opened fabsight .npz (a mapping of its arrays)."""
    _version(archive, path)
    missing = [k for k in ("grid", "metadata") if k not in archive]
    if missing:
        raise InputError(f"fabsight wafer file lacks {', '.join(missing)}", path)
    try:
        meta = json.loads(str(archive["metadata"][()]))
    except (json.JSONDecodeError, IndexError, ValueError) as exc:
        raise InputError(f"fabsight wafer file has damaged metadata ({exc})", path) from None
    if not isinstance(meta, dict):
        raise InputError("fabsight wafer file has damaged metadata (not a JSON object)", path)
    try:
        test_time = datetime.fromisoformat(meta["test_time"]) if meta.get("test_time") else None
        orientation = Orientation(**meta.get("orientation") or {})
    except (TypeError, ValueError) as exc:
        raise InputError(f"fabsight wafer file has damaged metadata ({exc})", path) from None
    return WaferMap(
        grid=archive["grid"],
        hard_bins=archive.get("hard_bins"),
        soft_bins=archive.get("soft_bins"),
        x_origin=int(meta.get("x_origin", 0)), y_origin=int(meta.get("y_origin", 0)),
        orientation=orientation,
        lot=meta.get("lot"), wafer_id=meta.get("wafer_id"), product=meta.get("product"),
        tester=meta.get("tester"), test_time=test_time,
        source=meta.get("source") or str(path),  # the original file where known, else this one
        complete=bool(meta.get("complete", True)),
        extra=meta.get("extra") or {},
    )
