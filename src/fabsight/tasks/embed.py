"""Embeddings: unit image vectors for every wafer in files or folders, and unit text vectors.

Files are read with `load_many` (every format the readers know; a bad file
is reported, never fatal) and embedded in batches as they come, so only one
batch of maps is in memory at a time. `embedded_batches` is the shared
preprocess + forward step of the file-level tasks (embed, classify, probes).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, FabsightWarning
from fabsight.files import atomic_write
from fabsight.models.dual_encoder import DualEncoder, ModelOptions, load_dual_encoder
from fabsight.options import option
from fabsight.wafer.map import OFF, WaferMap
from fabsight.wafer.naming import known_label, wafer_key, where_from
from fabsight.wafer.readers import Loaded, LoadOptions, load_many

VECTOR_DECIMALS = 6  # JSON only; the .npz keeps full float32


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    batch_size: int = option("maps per forward pass", 256)

    def __post_init__(self) -> None:
        getattr(super(), "__post_init__", lambda: None)()  # options combine by inheritance: let each check
        if self.batch_size < 1:
            raise FabsightError(f"batch-size must be 1 or more, not {self.batch_size}")


@dataclass(frozen=True, kw_only=True)
class EmbedOptions(ModelOptions, BatchOptions):
    # One text per flag (repeat it): a list flag would swallow the file names that follow it.
    text: list[str] = option("a text to embed too; repeat the flag for more", [], nargs=1, metavar="TEXT")


@dataclass
class Batch:
    """Wafers embedded together: identity rows, the maps, their (B, dim) unit vectors, and each map's file as
    `where_from` gives it (resolved once per file, for whoever stores it)."""

    rows: list[dict[str, Any]]
    wafers: list[WaferMap]
    vectors: np.ndarray
    places: list[str]


def error_row(item: Loaded) -> dict[str, str]:
    return {"source": str(item.path), "error": item.error.message if item.error else ""}


def identity(item: Loaded, where: str, index: int, wafer: WaferMap) -> dict[str, Any]:
    """Which wafer a result is about: its id (as a search index keys it), the file as given, its wafer id and lot,
    its place in the file, and the label the data carries, if any (for `fabsight evaluate classify`).
    `where`: the file as `where_from` gives it."""
    return {"id": wafer_key(wafer, where, index), "source": str(item.path), "wafer_id": wafer.wafer_id,
            "lot": wafer.lot, "index": index, "label": known_label(wafer)}


NO_DIES = "has no on-wafer dies (every cell is 0, off-wafer): nothing to read a pattern from"


def warn_of_rectangles(wafers: Sequence[WaferMap], source: str | Path) -> None:
    """Maps with no off-wafer cell at all: the models, trained on round wafers, read the rectangle's sides as
    the wafer's edge (real defect maps drawn so scored 0.626 against 0.855; docs/wafer-clip-notes.md)."""
    count = sum(1 for wafer in wafers if (wafer.grid != OFF).all())
    if count:
        warnings.warn(f"{source}: {count} map(s) have no off-wafer cells (0), so the models take the array's "
                      "sides for the wafer's edge and edge patterns read poorly; mark off-wafer positions 0",
                      FabsightWarning, stacklevel=2)


def _which(item: Loaded, index: int, wafer: WaferMap) -> str:
    name = f"wafer {wafer.wafer_id}" if wafer.wafer_id else "the map"
    return f"{name} (number {index + 1} of {len(item.wafers)} in the file)" if len(item.wafers) > 1 else name


def embedded_batches(encoder: DualEncoder, paths: Iterable[str | Path], load: LoadOptions, batch_size: int,
                     errors: list[dict[str, str]], views: int = 1) -> Iterator[Batch]:
    """Batches of embedded wafers from files or folders, in file order; unreadable files go to `errors`.

    `views` > 1 averages each wafer's symmetric views (`DualEncoder.embed_wafers`).
    """
    return embed_loaded(encoder, load_many(paths, load), batch_size, errors, views)


def embed_loaded(encoder: DualEncoder, items: Iterable[Loaded], batch_size: int,
                 errors: list[dict[str, str]], views: int = 1) -> Iterator[Batch]:
    """`embedded_batches` over files already being read (`load_many` or `load_files`)."""
    rows: list[dict[str, Any]] = []
    wafers: list[WaferMap] = []
    places: list[str] = []
    for item in items:
        if item.error:
            errors.append(error_row(item))
            continue
        warn_of_rectangles(item.wafers, item.path)
        where = where_from(item.path)
        for index, wafer in enumerate(item.wafers):
            if not wafer.dies:  # an all-off grid would still get a vector, and a confident answer, about nothing
                errors.append({"source": str(item.path), "error": f"{_which(item, index, wafer)} {NO_DIES}"})
                continue
            rows.append(identity(item, where, index, wafer))
            wafers.append(wafer)
            places.append(where)
            if len(wafers) == batch_size:
                yield Batch(rows, wafers, encoder.embed_wafers(wafers, batch_size, views), places)
                rows, wafers, places = [], [], []
    if wafers:
        yield Batch(rows, wafers, encoder.embed_wafers(wafers, batch_size, views), places)


@dataclass
class Embeddings:
    model: str
    dim: int
    wafers: list[dict[str, Any]] = field(default_factory=list)  # identity rows, in the order of `vectors`
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (N, dim) unit vectors
    texts: list[str] = field(default_factory=list)
    text_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (T, dim)
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_json(self, vectors: bool = True) -> dict[str, Any]:
        """JSON-ready; `vectors=False` leaves the numbers out (when they were saved to a file)."""
        def rounded(v: np.ndarray) -> dict[str, Any]:
            return {"vector": np.round(v.astype(np.float64), VECTOR_DECIMALS).tolist()} if vectors else {}
        return {
            "model": self.model, "dim": self.dim,
            "wafers": [{**row, **rounded(v)} for row, v in zip(self.wafers, self.vectors)],
            "texts": [{"text": t, **rounded(v)} for t, v in zip(self.texts, self.text_vectors)],
            "errors": self.errors,
        }


def embed_files(paths: Sequence[str | Path], options: EmbedOptions = EmbedOptions(),
                load: LoadOptions | None = None, encoder: DualEncoder | None = None) -> Embeddings:
    """Unit vectors for every wafer in `paths` and for `options.text`, from one model."""
    if not paths and not options.text:
        raise FabsightError("nothing to embed: give wafer-map files or folders, or --text")
    encoder = encoder or load_dual_encoder(options.model, options.runtime)
    result = Embeddings(options.model, encoder.dim, texts=list(options.text))
    result.text_vectors = (encoder.embed_texts(options.text) if options.text
                           else np.zeros((0, encoder.dim), np.float32))
    chunks = []
    for batch in embedded_batches(encoder, paths, load or LoadOptions(), options.batch_size, result.errors):
        result.wafers.extend(batch.rows)
        chunks.append(batch.vectors)
    result.vectors = np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), np.float32)
    return result


def save_embeddings(result: Embeddings, path: str | Path) -> Path:
    """Vectors and ids as a plain .npz (no pickle): `vectors` (N, dim) float32 with `source`, `wafer_id`,
    `lot`, `index` (one per row, '' where unknown), and `texts` with `text_vectors` (T, dim)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise FabsightError("the embeddings file must end in .npz", path)
    arrays = {key: np.array(["" if row[key] is None else str(row[key]) for row in result.wafers], dtype=str)
              for key in ("source", "wafer_id", "lot")}
    with atomic_write(path) as handle:
        np.savez(handle, vectors=result.vectors.astype(np.float32), **arrays,
                 index=np.array([row["index"] for row in result.wafers], dtype=np.int64),
                 texts=np.array(result.texts, dtype=str), text_vectors=result.text_vectors.astype(np.float32),
                 model=np.array(result.model), dim=np.array(result.dim))
    return path
