"""`search`: wafers from the index by text, by example, or an example shifted by text, with metadata filters.

A composed query ("like this wafer, but with a scratch") is the example's
unit vector plus `text_weight` times the text's, renormalised: the simple
late fusion that works with any CLIP-style model; benchmarks/search_quality.py
measures what it finds.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, FabsightWarning, InputError
from fabsight.models.dual_encoder import MODEL_HELP, DualEncoder, load_dual_encoder
from fabsight.models.probes import warn_if_tuned
from fabsight.options import option
from fabsight.search.entries import unpack_grid
from fabsight.search.filters import SearchFilters, ids_clause, where_clause
from fabsight.search.indexing import IndexOptions, model_identity
from fabsight.search.store import WaferIndex, is_remote
from fabsight.tasks.embed import NO_DIES, warn_of_rectangles
from fabsight.wafer.map import WaferMap
from fabsight.wafer.naming import wafer_key, where_from

RESULT_FIELDS = ("id", "score", "source", "index", "lot", "wafer_id", "product", "tester", "test_time", "pattern",
                 "confidence", "yield", "dies", "fails", "label")


@dataclass(frozen=True, kw_only=True)
class SearchOptions(IndexOptions, SearchFilters):
    query: str | None = option("what to look for, in words (e.g. \"edge ring with a scratch\")", None,
                               positional=True, nargs="?", metavar="TEXT")
    like: str | None = option("find wafers like the one in this file (with TEXT: like it, shifted by the text)", None,
                              metavar="FILE")
    like_wafer: str | None = option("which wafer of the --like file, by wafer id (default: the first)", None,
                                    metavar="WAFER")
    like_id: str | None = option("find wafers like this indexed entry (an id from results, or a unique wafer id)",
                                 None, metavar="ID")
    top: int = option("how many results", 10, short="-k")
    text_weight: float = option("how far TEXT shifts an example in a composed query", 1.0, metavar="W")
    model: str | None = option(MODEL_HELP + "; default: the model that made the index", None, metavar="NAME|PATH")
    no_maps: bool = option("do not render result maps to PNG", False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.query is not None and not self.query.strip():
            raise InputError("the query is empty: say what to look for, or use --like / --like-id")
        if self.query is None and self.like is None and self.like_id is None:
            raise InputError("say what to look for: TEXT, --like FILE or --like-id ID")
        if self.like is not None and self.like_id is not None:
            raise InputError("--like and --like-id do not go together: give one example")
        if self.like_wafer is not None and self.like is None:
            raise InputError("--like-wafer picks a wafer of the --like file; give --like too")
        if self.top < 1:
            raise InputError(f"--top must be 1 or more, not {self.top}")


def search(options: SearchOptions, encoder: DualEncoder | None = None) -> dict[str, Any]:
    """{"index", "model", "query", "results": [{"id", "score", "source", "lot", "wafer_id", "pattern", ...}]}."""
    index = WaferIndex.open(options.index)
    if encoder is None and (options.query is not None or options.like is not None):
        encoder = _encoder_for(index, options.model)
    example, exclude = _example_vector(index, encoder, options)
    vector = _query_vector(encoder, options.query, example, options.text_weight)
    where = where_clause(options)
    conditions = [c for c in (where, f"NOT ({ids_clause([exclude])})" if exclude else None) if c]
    rows = index.nearest(vector, options.top, " AND ".join(conditions) or None,
                         every_partition=options.follows_the_vectors)
    maps = None if options.no_maps else maps_folder(index.uri)
    return {"index": index.uri, "model": index.model.name,
            "query": {"text": options.query, "like": options.like, "like_id": options.like_id, "excluded": exclude,
                      "where": where},
            "results": [_result(row, maps) for row in rows]}


def _encoder_for(index: WaferIndex, model: str | None) -> DualEncoder:
    made_by = index.model
    try:
        encoder = load_dual_encoder(model or made_by.name)
    except FabsightError as exc:
        if model:
            raise
        raise InputError(f"the index was made with model {made_by.name!r}, which cannot be loaded here ({exc}); "
                         "give --model with the same model's location", index.uri) from None
    index.check_model(model_identity(encoder))
    return encoder


def _example_vector(index: WaferIndex, encoder: DualEncoder | None, options: SearchOptions
                    ) -> tuple[np.ndarray | None, str | None]:
    """The example's unit vector and the entry id to leave out of its results (itself)."""
    if options.like_id is not None:
        row = find_entry(index, options.like_id)
        return np.asarray(row["vector"], np.float32), row["id"]
    if options.like is None:
        return None, None
    import fabsight

    wafers = fabsight.load(options.like)
    chosen = [i for i, w in enumerate(wafers) if options.like_wafer in (None, w.wafer_id)]
    if not chosen:
        raise InputError(f"no wafer {options.like_wafer!r} in this file (it has: "
                         f"{', '.join(str(w.wafer_id) for w in wafers[:10])})", options.like)
    if options.like_wafer is None and len(wafers) > 1:
        warnings.warn(f"{options.like} holds {len(wafers)} wafers; using the first (choose with --like-wafer)",
                      FabsightWarning, stacklevel=2)
    wafer = wafers[chosen[0]]
    if not wafer.dies:
        raise InputError(f"the example wafer {NO_DIES}", options.like)
    warn_of_rectangles([wafer], options.like)
    return encoder.embed_wafers([wafer])[0], wafer_key(wafer, where_from(options.like), chosen[0])


def find_entry(index: WaferIndex, key: str) -> dict[str, Any]:
    """An entry by its id, or by wafer id when exactly one entry has it."""
    rows = index.rows(ids_clause([key]), limit=1)
    if rows:
        return rows[0]
    rows = index.rows(where_clause(SearchFilters(wafer_id=key)), limit=11)
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise InputError(f"no entry with id or wafer id {key!r} in this index", index.uri)
    raise InputError(f"{len(rows) if len(rows) <= 10 else 'more than 10'} entries have wafer id {key!r}; give one "
                     f"of their ids: {', '.join(r['id'] for r in rows[:10])}", index.uri)


def _query_vector(encoder: DualEncoder | None, text: str | None, example: np.ndarray | None,
                  text_weight: float) -> np.ndarray:
    if text is None:
        return example
    warn_if_tuned(encoder, "text queries may miss; search by example (--like) instead")
    text_vector = encoder.embed_texts([text])[0]
    if example is None:
        return text_vector
    combined = example + text_weight * text_vector
    return combined / max(float(np.linalg.norm(combined)), 1e-12)


def maps_folder(uri: str) -> Path:
    """Where result maps are rendered: inside a local index, or a local cache for an index on object storage."""
    if not is_remote(uri):
        return Path(uri) / "maps"
    import os

    home = Path(os.environ.get("FABSIGHT_HOME", Path.home() / ".fabsight"))
    return home / "maps" / hashlib.sha1(uri.encode()).hexdigest()[:12]


def render_entry(row: dict[str, Any], folder: Path) -> Path:
    """The entry's map as PNG; the name hashes id and grid, so an updated entry never shows a stale picture."""
    from fabsight.wafer.render import save_png

    grid_bytes = row["grid"]
    name = hashlib.sha1(row["id"].encode() + b"\0" + grid_bytes).hexdigest()[:20]
    path = folder / f"{name}.png"
    if not path.exists():
        wafer = WaferMap(unpack_grid(grid_bytes, row["rows"], row["cols"]), lot=row["lot"], wafer_id=row["wafer_id"],
                         product=row["product"])
        save_png(wafer, path)
    return path


def _result(row: dict[str, Any], maps: Path | None) -> dict[str, Any]:
    result = {name: row.get(name) for name in RESULT_FIELDS}
    result["score"] = round(float(row["score"]), 6)
    if isinstance(result["test_time"], datetime):
        result["test_time"] = result["test_time"].isoformat()
    result["map"] = str(render_entry(row, maps)) if maps is not None else None
    return result
