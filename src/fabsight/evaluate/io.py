"""Reading evaluation inputs (JSON, JSON Lines, CSV/TSV, TREC) with errors that say where.

Every problem is an `InputError` carrying the file path: a missing or empty
file, text that is not UTF-8 (with the byte offset), malformed JSON (with
line and column), a wrong structure, and ids that do not line up between
predictions and references (named, first few and a count).

Ids are compared as strings: the integer 391895 of a COCO file and the key
"391895" of a JSON object are the same id.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from fabsight.errors import FabsightWarning, InputError

BOM = b"\xef\xbb\xbf"
BINARY_SNIFF = 8192  # bytes looked at for a NUL, which text files do not hold
PREVIEW = 5  # ids named in a message before "and N more"


def preview(items: Iterable[Any], limit: int = PREVIEW) -> str:
    """'a', 'b', 'c' and 4 more: a short, unambiguous list for an error message."""
    items = list(items)
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def read_text(path: str | Path) -> str:
    """The whole file as text: UTF-8 (a BOM is allowed), not binary, not empty."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a folder, expected a file", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path) from None
    if b"\x00" in data[:BINARY_SNIFF]:  # "save it as UTF-8" would be no help for an .npz given by mistake
        raise InputError("is a binary file, not text: this takes a UTF-8 text file", path)
    skipped = len(BOM) if data.startswith(BOM) else 0
    try:
        text = data[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skipped
        raise InputError(f"not UTF-8 text: byte 0x{data[offset]:02x} at byte offset {offset} "
                         f"cannot be decoded (save the file as UTF-8)", path) from None
    if not text.strip():
        raise InputError("is empty", path)
    return text


def _json_error(exc: json.JSONDecodeError, path: Path, line_offset: int = 0) -> InputError:
    return InputError(f"not valid JSON: {exc.msg} at line {exc.lineno + line_offset}, column {exc.colno}", path)


def read_json(path: str | Path) -> Any:
    """One JSON document."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(exc, Path(path)) from None


def read_json_lines(path: str | Path, text: str | None = None) -> list[Any]:
    """One JSON value per non-blank line."""
    text = read_text(path) if text is None else text
    values = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise _json_error(exc, Path(path), line_offset=number - 1) from None
    return values


def read_json_or_lines(path: str | Path) -> Any:
    """A JSON document, or JSON Lines (detected when a document is followed by more data on the next lines)."""
    path = Path(path)
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return read_json_lines(path, text)
        raise _json_error(exc, path) from None


def normalize_id(value: Any, path: str | Path, where: str) -> str:
    """An id as a string; ints become their decimal form so 7 and "7" match."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(f"{where}: id must be a string or an integer, not {json.dumps(value)[:40]}", path)
    text = str(value)
    if not text.strip():
        raise InputError(f"{where}: empty id", path)
    return text


def check_text(value: Any, path: str | Path, where: str) -> str:
    """A caption or transcript: a string that can be written as UTF-8 (JSON may hold lone surrogates)."""
    if not isinstance(value, str):
        raise InputError(f"{where}: expected text, not {json.dumps(value)[:40]}", path)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: text is not valid Unicode (a lone surrogate escape)", path) from None
    return value


# --- records: the common shape of classification and speech files ------------------------------
def csv_table(text: str, path: str | Path, delimiter: str = ",") -> tuple[list[str], list[dict[str, Any]]]:
    """The header's names and the rows (names and cells stripped; a missing cell is None) of a CSV with a header.

    A row with more cells than the header names is an error naming its line.
    """
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows = []
    try:
        for row in reader:
            if None in row:  # more cells than header names
                raise InputError(f"line {reader.line_num}: more cells than the header has columns", path)
            rows.append({k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()})
    except csv.Error as exc:
        raise InputError(f"not a readable CSV (line {reader.line_num}: {exc})", path) from None
    return [name.strip() for name in reader.fieldnames or []], rows


def _csv_records(text: str, path: Path, delimiter: str) -> list[dict[str, Any]]:
    header, rows = csv_table(text, path, delimiter)
    if "id" not in header:
        raise InputError(f"the first row must be a header naming the columns, with an 'id' column "
                         f"(found {preview(header)})", path)
    return rows


def read_records(path: str | Path, value_field: str) -> list[dict[str, Any]]:
    """Rows with an "id" from CSV/TSV (header row), JSON Lines, or JSON.

    JSON may be a list of objects, or an object mapping id to either a plain
    value (stored under `value_field`) or an object of fields.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _csv_records(read_text(path), path, "\t" if suffix == ".tsv" else ",")
    return records_from_json(read_json_data(path), path, value_field)


def read_json_data(path: str | Path) -> Any:
    """A JSON document, or a list of JSON Lines records (by suffix, or detected)."""
    path = Path(path)
    return read_json_lines(path) if path.suffix.lower() in (".jsonl", ".ndjson") else read_json_or_lines(path)


def records_from_json(data: Any, path: str | Path, value_field: str) -> list[dict[str, Any]]:
    """`read_records` for JSON already parsed."""
    if isinstance(data, dict):
        return [{"id": key, **(value if isinstance(value, dict) else {value_field: value})}
                for key, value in data.items()]
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return data
    raise InputError("expected CSV with a header, JSON Lines of objects, a JSON list of objects, "
                     "or a JSON object mapping id to value", path)


def records_by_id(records: list[dict[str, Any]], path: str | Path, role: str) -> dict[str, dict[str, Any]]:
    """Index records by id; an id given twice is an error naming the duplicates."""
    out: dict[str, dict[str, Any]] = {}
    duplicates = []
    for number, record in enumerate(records, 1):
        if "id" not in record:
            raise InputError(f"{role} record {number} has no 'id'", path)
        key = normalize_id(record["id"], path, f"{role} record {number}")
        if key in out:
            duplicates.append(key)
        out[key] = record
    if duplicates:
        raise InputError(f"{len(duplicates)} id(s) appear more than once: {preview(duplicates)}", path)
    return out


# --- aligning predictions with references ------------------------------------------------------
def align_ids(predicted: Iterable[str], reference: Collection[str], pred_path: str | Path | None,
              what: str = "prediction") -> list[str]:
    """The ids to score: every predicted id, which must have a reference.

    Predicted ids missing from the references are an error naming them.
    References without a prediction are not scored (a benchmark may cover a
    subset, as with the COCO Karpathy split); a warning says how many.
    """
    predicted = list(predicted)
    missing = [key for key in predicted if key not in reference]
    if missing:
        raise InputError(f"{len(missing)} {what} id(s) are not in the references: {preview(missing)}", pred_path)
    if not predicted:
        raise InputError(f"no {what}s", pred_path)
    chosen = set(predicted)
    unscored = [key for key in reference if key not in chosen]
    if unscored:
        warnings.warn(f"{len(unscored)} reference id(s) have no {what} and were not scored: {preview(unscored)}",
                      FabsightWarning, stacklevel=2)
    return predicted
