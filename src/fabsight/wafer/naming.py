"""Names for wafers: the key that identifies one across commands, and file names for writing them to disk."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from fabsight.wafer.map import WaferMap

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "wafer"


def wafer_stem(wafer: WaferMap, index: int) -> str:
    """lot_wafer where known, else the source file's stem and the wafer's index in it."""
    if wafer.lot or wafer.wafer_id:
        return _slug("_".join(p for p in (wafer.lot, wafer.wafer_id) if p))
    stem = Path(wafer.source).name.split(".")[0] if wafer.source else "wafer"
    return _slug(f"{stem}_{index:04d}")


def unique_stems(wafers: Sequence[WaferMap], taken: set[str] | None = None) -> list[str]:
    """One stem per wafer; repeats get a numeric suffix. `taken` is updated in place."""
    taken = set() if taken is None else taken
    stems = []
    for index, wafer in enumerate(wafers):
        stem, n = wafer_stem(wafer, index), 1
        candidate = stem
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        stems.append(candidate)
    return stems


def wafer_key(wafer: WaferMap, where: str, index: int) -> str:
    """The id of a wafer in every command's results and in a search index (adding it again is an update).

    A wafer that names its lot and wafer id is that wafer wherever its file
    lies (re-probed or copied data replaces the old entry); one that names
    neither is the map at its place in its file. `where` is the file as
    `where_from` gives it, resolved once per file by the caller, not per map.
    """
    if wafer.lot and wafer.wafer_id:
        return "/".join(part for part in (wafer.product, wafer.lot, wafer.wafer_id) if part)
    return f"{where}#{index}"


def where_from(source: str | Path) -> str:
    """The source as stored: an absolute path for local files (results are opened from anywhere), URIs as given."""
    return str(source) if "://" in str(source) else str(Path(source).resolve())


def known_label(wafer: WaferMap) -> str | None:
    """A label the data itself carries (WM-811K labels, generator truth), kept for evaluation, never predicted."""
    label = wafer.extra.get("label") or (wafer.extra.get("truth") or {}).get("label")
    return str(label) if label else None
