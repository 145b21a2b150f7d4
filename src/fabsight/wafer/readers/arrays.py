"""NumPy `.npy` / `.npz` files (plain or gzip) → wafer maps.

Recognised layouts:

- fabsight's own `.npz` (`fabsight.wafer.npz`, written by `save_npz`): one map, exactly as saved.
- a 2-D array: one map; a 3-D array (N, rows, cols): N maps (a trailing
  channel of 1, (N, rows, cols, 1), is dropped).
- an `.npz` of arrays: the maps are the key `maps`, else the only 2-D / 3-D
  numeric array, else the first of `wafer_maps`, `waferMap`, `arr_0`, `x`,
  `data`, `images`, `grids`, `grid`. With a `shapes` array (N, 2) each map is
  cropped to its (rows, cols) (WM-811K arrays padded to one size, as in
  `wm811k-real/public.npz`). Every other array with one entry per map is
  attached to its map: `labels` / `label` / `failureType` → `extra["label"]`,
  `lot_name` / `lotName` / `lot` → `lot`, `wafer_index` / `waferIndex` /
  `wafer_id` → `wafer_id` (`''`, -1 and NaN mean unknown), anything else →
  `extra[key]`. Single values (0-d arrays) go to every map the same way.
  Each map of a stack gets `extra["index"]`, its position in the file.

Values (the WM-811K convention): 0 off-wafer, 1 pass, 2 fail, as integers
or as floats that are exactly 0.0 / 1.0 / 2.0. Two other encodings are
accepted, each with a `FabsightWarning` naming the rule applied, and the
rule recorded in `extra["encoding"]`:

- boolean arrays are fail masks: True = fail, False = pass inside the
  ellipse that fills the map and off-wafer outside it (a bool array cannot
  mark off-wafer dies, and wafers are round: read as all on-wafer, the
  rectangle's corners would be taken for the wafer's edge);
- 8-bit grey scaling of 0/1/2 (values in {0, 127 or 128, 255}, with 127 or
  128 present): 0 off-wafer, 127/128 pass, 255 fail.

Anything else (3, negative numbers, 0.5, NaN, a 1-D or 4-D array) is an
`InputError` that names the problem. Arrays are loaded with
`allow_pickle=False`: an array of Python objects (e.g. a ragged list of maps
saved with `np.save`) only loads by unpickling, so it needs
`trust_pickle=True` (`--trust-pickle`); it is then read as a list of maps.
"""

from __future__ import annotations

import gzip
import math
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from fabsight.errors import FabsightWarning, InputError
from fabsight.wafer.map import FAIL, OFF, PASS, WaferMap

if TYPE_CHECKING:
    from fabsight.wafer.readers import LoadOptions

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
MAPS_KEYS = ("maps", "wafer_maps", "wafermaps", "wafermap", "arr_0", "x", "data", "images", "grids", "grid")
LABEL_KEYS = ("labels", "label", "failuretype", "failure_type")
LOT_KEYS = ("lot_name", "lotname", "lot", "lots", "lot_id")
WAFER_KEYS = ("wafer_index", "waferindex", "wafer_id", "waferid", "wafer")
BOOL_MASK = ("bool fail mask (True = fail; False = pass inside the ellipse that fills the map, off-wafer outside "
             "it, since a mask cannot mark off-wafer dies)")
TRUST_HINT = ("it holds Python objects, which load only by unpickling (that can run code from the file); "
              "if you trust the file, pass --trust-pickle (trust_pickle=True)")


# --- recognising the file ----------------------------------------------------------------
def sniff(head: bytes) -> bool:
    """A .npy (magic string) or a zip whose first member is a .npy (an .npz)."""
    if head.startswith(NPY_MAGIC):
        return True
    if head.startswith(ZIP_MAGIC) and len(head) >= 30:
        name_len = struct.unpack_from("<H", head, 26)[0]
        return head[30:30 + name_len].endswith(b".npy")
    return False


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # closed by the caller


def _is_object_error(exc: ValueError) -> bool:
    return "allow_pickle" in str(exc) or "Object arrays" in str(exc)


# --- values ------------------------------------------------------------------------------------
def _value_list(values: np.ndarray) -> str:
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:6].tolist())
    return shown + (", ..." if len(values) > 6 else "")


def _distinct(array: np.ndarray) -> np.ndarray:
    """Sorted distinct values; when all lie in 0..2 (the usual case) just that range, found fast."""
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if 0 <= low and high <= FAIL:
            return np.arange(low, high + 1)
        if array.dtype == np.uint8:
            present = np.zeros(256, dtype=bool)
            present[array] = True
            return np.flatnonzero(present)
    return np.unique(array)


def to_states(array: np.ndarray, where: str, path: Path) -> tuple[np.ndarray, str | None]:
    """`array` as uint8 OFF / PASS / FAIL, and the name of the alternative encoding used (or None)."""
    if array.dtype == bool:
        return np.where(array, FAIL, PASS).astype(np.uint8), BOOL_MASK
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"{where} has dtype {array.dtype}; wafer maps are numbers 0 (off-wafer), 1 (pass), "
                         "2 (fail)", path)
    values = _distinct(array)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(values).all():
        raise InputError(f"{where} holds NaN or infinite values; wafer maps are 0 (off-wafer), 1 (pass), "
                         "2 (fail)", path)
    if np.isin(values, (OFF, PASS, FAIL)).all():
        return array.astype(np.uint8), None
    if np.isin(values, (0, 127, 128, 255)).all() and np.isin(values, (127, 128)).any():
        states = np.zeros(array.shape, np.uint8)
        states[(array == 127) | (array == 128)] = PASS
        states[array == 255] = FAIL
        return states, "8-bit grey (0 off-wafer, 127/128 pass, 255 fail)"
    bad = values[~np.isin(values, (OFF, PASS, FAIL))]
    hint = ""
    if np.issubdtype(array.dtype, np.floating) and np.any(bad != np.round(bad)):
        hint = " (fractions: is this a resized or normalised picture rather than a die map?)"
    elif (bad < 0).any():
        hint = " (negative values)"
    raise InputError(f"{where} holds {_value_list(bad)}{hint}; wafer maps hold only 0 (off-wafer), 1 (pass) "
                     "and 2 (fail)", path)


def outside_ellipse_off(grid: np.ndarray) -> np.ndarray:
    """`grid` with its passing dies outside the ellipse inscribed in it made off-wafer (failing ones stay:
    a die that failed was tested, so it is on the wafer). On the real WM-811K maps this outline agrees with
    the true one on 98% of cells (median; tests/wafer/readers/test_arrays.py)."""
    rows, cols = grid.shape
    y, x = np.ogrid[:rows, :cols]
    inside = ((y + 0.5 - rows / 2) / (rows / 2)) ** 2 + ((x + 0.5 - cols / 2) / (cols / 2)) ** 2 <= 1.0
    return np.where((grid == PASS) & ~inside, OFF, grid).astype(np.uint8)


def _as_stack(array: np.ndarray, where: str, path: Path) -> np.ndarray:
    """(N, rows, cols) view of a map or a stack of maps, or an error naming the shape problem."""
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        extra = " (colour pictures? pass the image file instead)" if array.ndim == 4 and array.shape[-1] in (3, 4) \
            else ""
        raise InputError(f"{where} has shape {array.shape}; expected one map (rows, cols) or a stack of maps "
                         f"(N, rows, cols){extra}", path)
    if 0 in array.shape:
        raise InputError(f"{where} is empty (shape {array.shape})", path)
    return array


def _note_encoding(encoding: str | None, path: Path) -> None:
    if encoding:
        warnings.warn(f"{path}: read as {encoding}", FabsightWarning, stacklevel=3)


# --- metadata per map ------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """A NumPy value as a JSON-ready Python one (nested arrays to lists, bytes to text)."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _unknown(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (int, float)) and value < 0)


def _wafer_text(value: Any) -> str | None:
    if _unknown(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def apply_field(fields: dict[str, Any], key: str, value: Any) -> None:
    """Put one named value where it belongs: lot, wafer_id, extra["label"] or extra[key]."""
    value = plain(value)
    lowered = key.lower()
    if lowered in LOT_KEYS:
        fields["lot"] = None if _unknown(value) else str(value).strip() or None
    elif lowered in WAFER_KEYS:
        fields["wafer_id"] = _wafer_text(value)
    elif lowered in LABEL_KEYS:
        if not _unknown(value):
            fields["extra"]["label"] = value
    else:
        fields["extra"][key] = value


# --- building maps -----------------------------------------------------------------------------
def maps_from_stack(array: np.ndarray, path: Path, *, where: str = "the array",
                    shapes: np.ndarray | None = None,
                    per_map: Mapping[str, np.ndarray] | None = None,
                    common: Mapping[str, Any] | None = None) -> list[WaferMap]:
    """One `WaferMap` per map of a 2-D or 3-D array (cropped by `shapes`), with per-map metadata."""
    stack = _as_stack(np.asarray(array), where, path)
    states, encoding = to_states(stack, where, path)
    _note_encoding(encoding, path)
    n, rows, cols = states.shape
    if shapes is not None:
        shapes = np.asarray(shapes)
        if shapes.shape != (n, 2) or not np.issubdtype(shapes.dtype, np.integer):
            raise InputError(f"shapes has shape {shapes.shape} and dtype {shapes.dtype}; expected integers ({n}, 2)",
                             path)
        bad = np.flatnonzero((shapes[:, 0] < 1) | (shapes[:, 1] < 1) | (shapes[:, 0] > rows) | (shapes[:, 1] > cols))
        if bad.size:
            raise InputError(f"shapes[{bad[0]}] = {shapes[bad[0]].tolist()} does not fit the {rows}x{cols} maps", path)
    single = np.ndim(array) == 2
    wafers = []
    for i in range(n):
        grid = states[i] if shapes is None else states[i, :shapes[i, 0], :shapes[i, 1]]
        if encoding == BOOL_MASK:
            grid = outside_ellipse_off(grid)
        fields: dict[str, Any] = {"extra": {} if single else {"index": i}}
        for key, value in (common or {}).items():
            apply_field(fields, key, value)
        for key, values in (per_map or {}).items():
            apply_field(fields, key, values[i])
        if encoding:
            fields["extra"]["encoding"] = encoding
        wafers.append(WaferMap(grid=np.ascontiguousarray(grid), source=str(path), **fields))
    return wafers


def maps_from_objects(items: Any, path: Path, where: str = "the list") -> list[WaferMap]:
    """Maps from a sequence of 2-D arrays (a ragged list, as in an object array or a pickle)."""
    wafers = []
    for i, item in enumerate(items):
        try:
            array = np.asarray(item)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{where}[{i}] is not an array of numbers ({exc})", path) from None
        if array.ndim != 2:
            raise InputError(f"{where}[{i}] has shape {array.shape}; each map must be 2-D (rows, cols)", path)
        if array.dtype == object:
            try:
                array = array.astype(np.float64)
            except (ValueError, TypeError):
                raise InputError(f"{where}[{i}] holds values that are not numbers", path) from None
        (wafer,) = maps_from_stack(array, path, where=f"{where}[{i}]")
        wafer.extra["index"] = i
        wafers.append(wafer)
    if not wafers:
        raise InputError(f"{where} is empty", path)
    return wafers


def maps_from_array(array: np.ndarray, path: Path, where: str = "the array") -> list[WaferMap]:
    """Maps from one array: numeric 2-D / 3-D, or (loaded with trust) an object array of 2-D maps."""
    if array.dtype == object:
        if array.ndim == 1:
            return maps_from_objects(array, path, where)
        if array.ndim == 2:
            try:
                return maps_from_stack(array.astype(np.float64), path, where=where)
            except (ValueError, TypeError):
                pass
        raise InputError(f"{where} is an object array of shape {array.shape}; expected a list of 2-D maps", path)
    return maps_from_stack(array, path, where=where)


def _pick_maps_key(arrays: Mapping[str, np.ndarray], path: Path) -> str:
    numeric = [k for k, a in arrays.items()
               if a.ndim >= 2 and k != "shapes" and (a.dtype == bool or np.issubdtype(a.dtype, np.number))]
    lowered = {k.lower(): k for k in arrays}
    if "maps" in lowered:
        return lowered["maps"]
    if len(numeric) == 1:
        return numeric[0]
    for name in MAPS_KEYS:
        if name in lowered and lowered[name] in numeric:
            return lowered[name]
    listing = ", ".join(f"{k} {tuple(a.shape)}" for k, a in arrays.items()) or "nothing"
    raise InputError(f"cannot tell which array holds the wafer maps (found {listing}); name it 'maps'", path)


def maps_from_arrays(arrays: Mapping[str, np.ndarray], path: Path) -> list[WaferMap]:
    """Maps from named arrays (an .npz, or a dict in a trusted pickle)."""
    key = _pick_maps_key(arrays, path)
    maps = arrays[key]
    if maps.dtype == object:
        return maps_from_array(maps, path, where=key)
    n = _as_stack(maps, key, path).shape[0] if maps.ndim != 2 else 1
    shapes = arrays.get("shapes")
    per_map, common = {}, {}
    for name, values in arrays.items():
        if name in (key, "shapes"):
            continue
        if values.ndim == 0:
            common[name] = values[()]
        elif maps.ndim != 2 and values.shape[0] == n:
            per_map[name] = values
    return maps_from_stack(maps, path, where=key, shapes=shapes if maps.ndim != 2 else None,
                           per_map=per_map, common=common)


# --- reading files -----------------------------------------------------------------------------
def _load_npz(handle: BinaryIO, path: Path, trust: bool) -> list[WaferMap]:
    from fabsight.wafer.npz import is_fabsight, read_fabsight

    with np.load(handle, allow_pickle=trust) as archive:
        arrays: dict[str, np.ndarray] = {}
        skipped = []
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as exc:
                if not _is_object_error(exc):
                    raise InputError(f"array {name!r} is damaged ({exc})", path) from None
                skipped.append(name)
    if is_fabsight(arrays):
        return [read_fabsight(arrays, path)]
    if not arrays:
        raise InputError(f"array {skipped[0]!r}: {TRUST_HINT}" if skipped else "the .npz holds no arrays", path)
    if skipped:
        try:
            _pick_maps_key(arrays, path)
        except InputError:
            raise InputError(f"array {skipped[0]!r}: {TRUST_HINT}", path) from None
        warnings.warn(f"{path}: skipped {', '.join(map(repr, skipped))} (Python objects; pass --trust-pickle to "
                      "read them)", FabsightWarning, stacklevel=2)
    return maps_from_arrays(arrays, path)


def read(path: Path, options: LoadOptions) -> list[WaferMap]:
    trust = bool(getattr(options, "trust_pickle", False))
    with _open(path) as handle:
        head = handle.read(len(NPY_MAGIC))
        handle.seek(0)
        try:
            if head.startswith(NPY_MAGIC):
                array = np.load(handle, allow_pickle=trust)
                return maps_from_array(array, path)
            return _load_npz(handle, path, trust)
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            if _is_object_error(exc):
                raise InputError(f"cannot read this array without unpickling: {TRUST_HINT}", path) from None
            raise InputError(f"damaged NumPy file ({exc})", path) from None
        except (EOFError, OSError, struct.error) as exc:
            raise InputError(f"damaged or truncated NumPy file ({exc})", path) from None
        except Exception as exc:  # zipfile.BadZipFile, pickle errors in trusted files
            if exc.__class__.__name__ in ("BadZipFile", "UnpicklingError", "LargeZipFile"):
                raise InputError(f"damaged NumPy file ({exc})", path) from None
            raise
