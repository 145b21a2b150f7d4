"""File names for wafers written to disk: readable, safe on every OS, never colliding."""

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
