"""`index add`: read wafers, embed them in batches, predict their pattern, and upsert them into the index.

Each batch is one commit, so a run killed part way keeps every batch it
finished; running it again re-reads everything and the upserts by id make
the finished part a no-op update, not a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.errors import InputError
from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.models.dual_encoder import DualEncoder, ModelOptions, load_dual_encoder
from fabsight.options import option
from fabsight.search.entries import make_entry
from fabsight.search.filters import SearchFilters, ids_clause, where_clause
from fabsight.search.store import ModelIdentity, WaferIndex
from fabsight.tasks.embed import BatchOptions, embed_loaded
from fabsight.tasks.zero_shot import LabelSet, classify_vectors, encode_labels
from fabsight.wafer.readers import Loaded, LoadOptions

INDEX_HELP = "the index folder (or an object-store URI such as s3://bucket/wafers)"


@dataclass(frozen=True, kw_only=True)
class IndexOptions:
    index: str = option(INDEX_HELP, metavar="DIR")


@dataclass(frozen=True, kw_only=True)
class IndexAddOptions(IndexOptions, ModelOptions, BatchOptions):
    ray: bool = option("read, embed and write in parallel on Ray (a local instance unless --ray-address)", False)
    ray_address: str | None = option("the Ray cluster to run on (e.g. ray://head:10001); implies --ray", None,
                                     metavar="ADDR")
    workers: int = option("Ray workers on a local instance (default: one per core)", 0, metavar="N")

    def __post_init__(self) -> None:
        getattr(super(), "__post_init__", lambda: None)()  # options combine by inheritance: let each check
        if self.workers < 0:
            raise InputError(f"--workers must be 0 (one per core) or more, not {self.workers}")


def model_identity(encoder: DualEncoder) -> ModelIdentity:
    return ModelIdentity(name=encoder.name, fingerprint=encoder.fingerprint(), dim=encoder.dim)


class Indexer:
    """Turns loaded files into index entries with one model; used in-process and inside each Ray worker."""

    def __init__(self, encoder: DualEncoder, batch_size: int) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self.labels: LabelSet = encode_labels(encoder, PATTERN_NAMES)  # once: the text encoder never runs per map

    def entry_batches(self, items: Iterable[Loaded], errors: list[dict[str, str]]) -> Iterable[list[dict[str, Any]]]:
        for batch in embed_loaded(self.encoder, items, self.batch_size, errors):
            decisions = classify_vectors(self.encoder, batch.vectors, self.labels)
            yield [make_entry(wafer, row, where, vector, decision) for row, wafer, vector, decision, where
                   in zip(batch.rows, batch.wafers, batch.vectors, decisions, batch.places)]


def open_for_writing(uri: str, encoder: DualEncoder) -> WaferIndex:
    return WaferIndex.open(uri, create_for=model_identity(encoder))


def add_files(paths: Sequence[str | Path], options: IndexAddOptions, load: LoadOptions | None = None,
              encoder: DualEncoder | None = None) -> dict[str, Any]:
    """Index every wafer in `paths`: {"index", "model", "read", "new", "updated", "count", "errors"}."""
    if not paths:
        raise InputError("nothing to index: give wafer-map files or folders")
    if options.ray or options.ray_address:
        from fabsight.search.ray_indexing import add_files_on_ray

        return add_files_on_ray(paths, options, load or LoadOptions())
    from fabsight.wafer.readers import expand_paths, load_files

    encoder = encoder or load_dual_encoder(options.model, options.runtime)
    index = open_for_writing(options.index, encoder)
    errors: list[dict[str, str]] = []
    written = [index.upsert(entries) for entries in Indexer(encoder, options.batch_size).entry_batches(
        load_files(expand_paths(paths), load or LoadOptions()), errors)]
    return summary(index, written, errors)


def summary(index: WaferIndex, written: list[tuple[int, int]], errors: list[dict[str, str]]) -> dict[str, Any]:
    """Tidy the index after a run and say what changed; `written`: (new, updated) of each commit."""
    index.tidy()
    new, updated = sum(n for n, _ in written), sum(u for _, u in written)
    return {"index": index.uri, "model": index.model.name, "read": new + updated, "new": new,
            "updated": updated, "count": index.count(), "errors": errors}


@dataclass(frozen=True, kw_only=True)
class IndexRemoveOptions(IndexOptions, SearchFilters):
    ids: list[str] = option("entry ids to remove (as search results show them)", [], positional=True, nargs="*",
                            metavar="ID")
    all: bool = option("remove every entry that the filters match, even with no filter given", False)


def remove_entries(options: IndexRemoveOptions) -> dict[str, Any]:
    """Remove entries by id and/or by filter; refuses to empty an index unless asked."""
    index = WaferIndex.open(options.index)
    conditions = [c for c in (ids_clause(options.ids) if options.ids else None, where_clause(options)) if c]
    if not conditions and not options.all:
        raise InputError("say what to remove: entry ids, filters (--lot, --source, ...), or --all")
    where = " AND ".join(f"({c})" for c in conditions) if conditions else "true"
    removed = index.remove(where)
    index.tidy()
    return {"index": index.uri, "removed": removed, "count": index.count()}


def index_info(options: IndexOptions) -> dict[str, Any]:
    index = WaferIndex.open(options.index)
    model = index.model
    return {"index": index.uri, "count": index.count(), "size_bytes": index.size_bytes(),
            "model": {"name": model.name, "fingerprint": model.fingerprint, "dim": model.dim},
            "version": int(index.table.version), "vector_index": index.has_vector_index(),
            "patterns": index.pattern_counts()}
