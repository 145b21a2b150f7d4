"""Die-list CSV (plain or gzip): one row per tested die → one wafer map per wafer.

The header row names the columns; names are matched case-insensitively,
ignoring spaces, dashes and dots (so "Die X", "die-x" and "DIE_X" are the
same), and the delimiter may be , ; tab or | (or spaces, when the header has
none of those). Lines before the header
(a title, `# comments`) are skipped; the header must come within the first
`HEADER_LINES` lines.

| meaning | accepted names |
|---|---|
| X (column) | x, die_x, x_coord, xcoord, x_pos, col, column |
| Y (row) | y, die_y, y_coord, ycoord, y_pos, row |
| hard bin | bin, hard_bin, hardbin, hbin, hb |
| soft bin | soft_bin, softbin, sbin, sb |
| pass / fail | pass, pass_fail, passfail, pf, result, status, fail, failed |
| wafer | wafer, wafer_id, waferid, wafer_no, wafer_number, slot |
| lot | lot, lot_id, lotid, lot_name, lotname |
| product | product, part, part_type, device |

Pass / fail of a die:

- from the pass / fail column when there is one: P, PASS, GOOD, OK, Y, YES,
  TRUE, T, 1 mean pass and F, FAIL, BAD, NG, REJECT, N, NO, FALSE, 0 mean fail;
  in a column named `fail` or `failed` the truth values are turned round
  (1 / TRUE / YES = fail) while P / PASS / F / FAIL keep their meaning;
- else from the hard bin (else the soft bin): bin 1 = pass, any other bin =
  fail (the common binning convention);
- a file with neither is refused.

Die (x, y) sits at `grid[y - y_origin, x - x_origin]` with the smallest X and Y
as origin; the file says nothing about orientation, so the default (X to
the right, Y downwards) is used. A die listed twice keeps its last row (as
a retest replaces the first test). Rows that cannot be read (missing or
non-integer X / Y, an unknown pass / fail word, a non-integer bin) are
skipped with one `FabsightWarning` giving their count and first line
numbers; if no row is usable the file is refused. With a wafer column, one
map per wafer, in order of first appearance; lot and product come from each
wafer's first row that has them.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from fabsight.errors import FabsightWarning, InputError
from fabsight.wafer.map import FAIL, NO_BIN, OFF, PASS, WaferMap

if TYPE_CHECKING:
    from fabsight.wafer.readers import LoadOptions

HEADER_LINES = 20
MAX_SIDE = 4096  # dies per grid side; a wider spread means a broken coordinate
SHOW_LINES = 5  # line numbers quoted in the junk-row warning

NAMES: dict[str, tuple[str, ...]] = {
    "x": ("x", "die_x", "diex", "x_coord", "xcoord", "x_coordinate", "x_pos", "xpos", "col", "column"),
    "y": ("y", "die_y", "diey", "y_coord", "ycoord", "y_coordinate", "y_pos", "ypos", "row"),
    "bin": ("bin", "hard_bin", "hardbin", "hbin", "hb", "h_bin"),
    "soft_bin": ("soft_bin", "softbin", "sbin", "sb", "s_bin"),
    "pass": ("pass", "pass_fail", "passfail", "pf", "p_f", "result", "status"),
    "fail": ("fail", "failed", "is_fail"),
    "wafer": ("wafer", "wafer_id", "waferid", "wafer_no", "wafer_number", "wafer_num", "slot"),
    "lot": ("lot", "lot_id", "lotid", "lot_name", "lotname", "lot_no"),
    "product": ("product", "part", "part_type", "parttype", "device", "product_id"),
}
PASS_WORDS = {"p", "pass", "passed", "good", "ok", "y", "yes", "true", "t", "1"}
FAIL_WORDS = {"f", "fail", "failed", "bad", "ng", "reject", "n", "no", "false", "0"}
TRUTH_WORDS = {"y", "yes", "true", "t", "1", "n", "no", "false", "0"}  # turned round in a `fail` column
DELIMITERS = ",;\t|"
_SEPARATORS = re.compile(r"[\s\-.]+")


def _norm(name: str) -> str:
    return _SEPARATORS.sub("_", name.strip().strip('"\'').lower()).strip("_")


def _roles(header: list[str]) -> dict[str, int]:
    """Meaning → column index, for the header's recognised names (first match wins)."""
    lookup = {alias: role for role, aliases in NAMES.items() for alias in aliases}
    roles: dict[str, int] = {}
    for index, name in enumerate(header):
        role = lookup.get(_norm(name))
        if role and role not in roles:
            roles[role] = index
    if "fail" in roles and "pass" in roles:
        del roles["fail"]
    return roles


def _delimiter(header: str) -> str:
    """The commonest of , ; tab | in the header line, else a space (columns lined up with spaces)."""
    best = max(DELIMITERS, key=header.count)
    return best if header.count(best) else " "


def _reader(lines: list[str], delimiter: str):
    return csv.reader(lines, delimiter=delimiter, skipinitialspace=delimiter == " ")


def _split(line: str) -> list[str]:
    return next(_reader([line.strip() if _delimiter(line) == " " else line], _delimiter(line)))


def _header_index(lines: list[str]) -> int | None:
    """Which of the first lines is a header with X and Y columns."""
    for index, line in enumerate(lines[:HEADER_LINES]):
        if line.strip() and not line.lstrip().startswith("#"):
            roles = _roles(_split(line))
            if "x" in roles and "y" in roles:
                return index
    return None


def _decode(data: bytes) -> str | None:
    """Text of a file head (a cut-off last character allowed), or None for binary data."""
    if b"\x00" in data:
        return None
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        return decoder.decode(data, final=False)
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        printable = sum(c.isprintable() or c in "\r\n\t" for c in text)
        return text if printable >= 0.98 * len(text) else None


def sniff(head: bytes) -> bool:
    """Text whose first lines include a header naming X and Y columns."""
    text = _decode(head)
    if text is None:
        return False
    lines = text.splitlines()
    if len(head) >= 4096 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    return _header_index(lines) is not None


# --- reading -------------------------------------------------------------------------------------
@dataclass
class _Wafer:
    key: str | None
    lot: str | None = None
    product: str | None = None
    dies: dict[tuple[int, int], tuple[int, int, int]] = field(default_factory=dict)  # (x, y) -> state, hard, soft


def _int(text: str) -> int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        value = float(text)  # "12.0" is fine, "12.5" and "abc" are not
        if not value.is_integer():
            raise ValueError(text) from None
        return int(value)


def _bin(text: str | None) -> int:
    """A bin number (0 or more), NO_BIN when the cell is empty."""
    if not text:
        return NO_BIN
    value = _int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _bin_state(bin_number: int) -> int:
    """Bin 1 = pass, any other bin = fail; no bin = an unreadable row."""
    if bin_number == NO_BIN:
        raise ValueError("no bin")
    return PASS if bin_number == 1 else FAIL


def _state(text: str, fail_column: bool) -> int:
    word = text.strip().lower()
    if fail_column and word in TRUTH_WORDS:
        return PASS if word in FAIL_WORDS else FAIL
    if word in PASS_WORDS:
        return PASS
    if word in FAIL_WORDS:
        return FAIL
    raise ValueError(text)


def _open_text(path: Path) -> TextIO:
    with open(path, "rb") as handle:
        raw = handle.read(2)
    binary = gzip.open(path, "rb") if raw == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115
    data = binary.read()
    binary.close()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return io.StringIO(text, newline="")


def _grid(wafer: _Wafer, path: Path, has_bins: tuple[bool, bool]) -> WaferMap:
    coords = np.array(list(wafer.dies), dtype=np.int64)  # (n, 2) x, y
    values = np.array(list(wafer.dies.values()), dtype=np.int64)  # (n, 3) state, hard, soft
    x0, y0 = coords.min(axis=0)
    width, height = coords.max(axis=0) - (x0, y0) + 1
    if max(width, height) > MAX_SIDE:
        name = f"wafer {wafer.key}" if wafer.key else "the wafer"
        raise InputError(f"{name} spans {width} x {height} dies (more than {MAX_SIDE} per side): are the X / Y "
                         "columns die coordinates?", path)
    rows, cols = coords[:, 1] - y0, coords[:, 0] - x0
    grid = np.full((height, width), OFF, np.uint8)
    grid[rows, cols] = values[:, 0]
    bins = []
    for present, column in zip(has_bins, (1, 2)):
        if present:
            layer = np.full((height, width), NO_BIN, np.int32)
            layer[rows, cols] = values[:, column]
            bins.append(layer)
        else:
            bins.append(None)
    return WaferMap(grid=grid, hard_bins=bins[0], soft_bins=bins[1], x_origin=int(x0), y_origin=int(y0),
                    lot=wafer.lot, wafer_id=wafer.key, product=wafer.product, source=str(path))


def read(path: Path, options: LoadOptions) -> list[WaferMap]:
    with _open_text(path) as handle:
        lines = handle.read().splitlines()
    start = _header_index(lines)
    if start is None:
        raise InputError("no header row naming X and Y columns (e.g. x,y,bin) in the first "
                         f"{HEADER_LINES} lines", path)
    delimiter = _delimiter(lines[start])
    reader = _reader([line.strip() for line in lines[start:]] if delimiter == " " else lines[start:], delimiter)
    header = next(reader)
    roles = _roles(header)
    if not {"bin", "soft_bin", "pass", "fail"} & roles.keys():
        raise InputError("no bin or pass/fail column (accepted names: "
                         f"{', '.join(NAMES['bin'] + NAMES['pass'] + NAMES['fail'])})", path)
    result_col = roles.get("pass", roles.get("fail"))
    fail_column = "fail" in roles
    wafers: dict[str | None, _Wafer] = {}
    junk: list[int] = []
    for offset, fields in enumerate(reader, start=start + 2):  # 1-based line numbers (one record per line)
        if not fields or all(not f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
            continue
        try:
            cell = {role: fields[index].strip() for role, index in roles.items() if index < len(fields)}
            x, y = _int(cell["x"]), _int(cell["y"])
            hard, soft = _bin(cell.get("bin")), _bin(cell.get("soft_bin"))
            if result_col is not None:
                state = _state(fields[result_col], fail_column)
            else:
                state = _bin_state(hard if "bin" in roles else soft)
        except (KeyError, ValueError, IndexError, OverflowError):
            junk.append(offset)
            continue
        key = cell.get("wafer") or None
        wafer = wafers.get(key)
        if wafer is None:
            wafer = wafers[key] = _Wafer(key)
        wafer.lot = wafer.lot or cell.get("lot") or None
        wafer.product = wafer.product or cell.get("product") or None
        wafer.dies.pop((x, y), None)  # last wins, and keeps file order of the survivor
        wafer.dies[(x, y)] = (state, hard, soft)
    if not wafers:
        where = f" ({len(junk)} rows could not be read, first at line(s) {', '.join(map(str, junk[:SHOW_LINES]))})" \
            if junk else ""
        raise InputError(f"no usable die rows{where}", path)
    if junk:
        warnings.warn(f"{path}: skipped {len(junk)} row(s) that could not be read (line(s) "
                      f"{', '.join(map(str, junk[:SHOW_LINES]))}{', ...' if len(junk) > SHOW_LINES else ''})",
                      FabsightWarning, stacklevel=2)
    has_bins = ("bin" in roles, "soft_bin" in roles)
    return [_grid(w, path, has_bins) for w in wafers.values()]
