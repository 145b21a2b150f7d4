"""Python pickles of wafer maps, such as the original WM-811K file `LSWMD.pkl`, loaded only on trust.

Loading a pickle runs code chosen by whoever wrote the file, so `read`
refuses unless `options.trust_pickle` is True (`--trust-pickle` on the
command line), and says so. Pickles are recognised by their protocol
header (b"\\x80" and protocol 2..5), also inside gzip, xz and bz2.

With trust, what the pickle may hold:

- a pandas DataFrame (or a dict of columns) with a `waferMap` column, as in
  WM-811K: one map per row; `lotName` → lot, `waferIndex` → wafer_id,
  `failureType` → `extra["label"]`, `trianTestLabel` → `extra["split"]`,
  `dieSize` → `extra["die_size"]`. WM-811K stores labels as nested arrays
  (`[['Center']]`, or `[]` for an unlabelled wafer): they are unwrapped, and
  an unlabelled wafer gets no `label`. Other columns are ignored. pandas is
  needed to unpickle a DataFrame (`pip install pandas`); `pandas.read_pickle`
  is used when pandas is there, as it also reads pickles made by old pandas.
- a dict of arrays: as an `.npz` (see `readers.arrays`);
- an array, or a list of 2-D arrays: as a `.npy`.

Map values follow the array rules (0 off-wafer, 1 pass, 2 fail).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from fabsight.errors import InputError
from fabsight.wafer.map import WaferMap
from fabsight.wafer.readers.arrays import maps_from_array, maps_from_arrays, maps_from_stack, plain

if TYPE_CHECKING:
    from fabsight.wafer.readers import LoadOptions

XZ_MAGIC, BZ2_MAGIC, GZIP_MAGIC = b"\xfd7zXZ\x00", b"BZh", b"\x1f\x8b"
REFUSED = ("is a Python pickle, and loading a pickle runs code from the file, so fabsight does not load it "
           "unless asked; if you trust where the file came from, pass --trust-pickle (trust_pickle=True)")
COLUMNS = {"lotname": "lot", "lot_name": "lot", "lot": "lot",
           "waferindex": "wafer_id", "wafer_index": "wafer_id", "wafer_id": "wafer_id",
           "failuretype": "label", "failure_type": "label", "label": "label",
           "triantestlabel": "split", "traintestlabel": "split", "diesize": "die_size"}


def _is_pickle(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def sniff(head: bytes) -> bool:
    """A pickle (protocol 2..5), plain or gzip (already unzipped in `head`), xz or bz2."""
    if _is_pickle(head):
        return True
    if head.startswith(XZ_MAGIC):
        try:
            return _is_pickle(lzma.LZMADecompressor().decompress(head, max_length=2))
        except lzma.LZMAError:
            return False
    return head.startswith(BZ2_MAGIC) and head[3:4].isdigit() and head[4:10] == b"1AY&SY"  # checked in `read`


def _compression(path: Path) -> str | None:
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic.startswith(GZIP_MAGIC):
        return "gzip"
    if magic.startswith(XZ_MAGIC):
        return "xz"
    if magic.startswith(BZ2_MAGIC):
        return "bz2"
    return None


def _open(path: Path, compression: str | None) -> BinaryIO:
    opener = {"gzip": gzip.open, "xz": lzma.open, "bz2": bz2.open, None: open}[compression]
    return opener(path, "rb")


def _unpickle(path: Path, compression: str | None) -> Any:
    with _open(path, compression) as handle:
        if not _is_pickle(handle.read(2)):
            raise InputError(f"{compression} file does not hold a pickle (fabsight reads {compression} only for "
                             "pickles, gzip also for STDF, arrays and CSV)", path)
    try:
        import pandas
    except ImportError:
        pandas = None
    try:
        if pandas is not None:
            return pandas.read_pickle(path, compression=compression)
        with _open(path, compression) as handle:
            return pickle.load(handle)  # the user said they trust this file
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "pandas":
            raise InputError("this pickle holds pandas objects (a DataFrame, as WM-811K's LSWMD.pkl): "
                             "install pandas to read it (pip install pandas)", path) from None
        raise InputError(f"this pickle needs the Python module {exc.name!r}, which is not installed", path) from None
    except Exception as exc:  # a trusted pickle can fail in any way; none of them is the user's bug
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot unpickle this file ({type(exc).__name__}: {exc})", path) from None


def unwrap(value: Any) -> Any:
    """WM-811K's nested labels: [['Center']] → 'Center', [] → None; plain values unchanged."""
    while isinstance(value, (np.ndarray, list, tuple)):
        if len(value) == 0:
            return None
        if len(value) > 1:
            return plain(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray) else plain(value)
        value = value[0]
    value = plain(value)
    return value.strip() if isinstance(value, str) else value


def _columns(table: Any) -> dict[str, Any] | None:
    """Column name → sequence, for a DataFrame or a dict of equal-length columns holding a waferMap column."""
    names = list(table.columns) if hasattr(table, "columns") else list(table) if isinstance(table, Mapping) else []
    lowered = {str(n).lower(): n for n in names}
    if "wafermap" not in lowered:
        return None
    return {str(n).lower(): (table[n].tolist() if hasattr(table[n], "tolist") else list(table[n])) for n in names}


def maps_from_table(columns: dict[str, list], path: Path) -> list[WaferMap]:
    """WM-811K style rows: a waferMap column and optional lot / wafer / label columns."""
    wafers = []
    for i, item in enumerate(columns["wafermap"]):
        array = np.asarray(item)
        if array.dtype == object:
            raise InputError(f"waferMap[{i}] is not an array of numbers", path)
        if array.ndim != 2:
            raise InputError(f"waferMap[{i}] has shape {array.shape}; each map must be 2-D (rows, cols)", path)
        (wafer,) = maps_from_stack(array, path, where=f"waferMap[{i}]")
        wafer.extra["index"] = i
        for column, field in COLUMNS.items():
            if column not in columns:
                continue
            value = unwrap(columns[column][i])
            if value is None or value == "":
                continue
            if field == "lot":
                wafer.lot = str(value)
            elif field == "wafer_id":
                wafer.wafer_id = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            else:
                wafer.extra[field] = value
        wafers.append(wafer)
    return wafers


def _array(value: Any) -> np.ndarray:
    """An array; a list of maps of different shapes becomes a 1-D object array of them."""
    try:
        return np.asarray(value)
    except ValueError:  # ragged
        items = np.empty(len(value), dtype=object)
        for i, item in enumerate(value):
            items[i] = item
        return items


def read(path: Path, options: LoadOptions) -> list[WaferMap]:
    if not getattr(options, "trust_pickle", False):
        raise InputError(REFUSED, path)
    obj = _unpickle(path, _compression(path))
    columns = _columns(obj)
    if columns is not None:
        return maps_from_table(columns, path)
    if isinstance(obj, Mapping):
        arrays = {str(k): _array(v) for k, v in obj.items() if isinstance(v, (np.ndarray, list, tuple, int,
                                                                              float, str))}
        if arrays:
            return maps_from_arrays(arrays, path)
    if isinstance(obj, (np.ndarray, list, tuple)) and len(obj):
        return maps_from_array(_array(obj), path, where="the pickled array")
    raise InputError(f"this pickle holds an object of type {type(obj).__name__}; expected a WM-811K style table with "
                     "a waferMap column, a dict of arrays, an array or a list of 2-D maps", path)
