"""The wafer index on disk: one LanceDB table of vectors, metadata and die grids.

Why LanceDB: it is embedded (no server; a folder is the whole index), stores
vectors and metadata together in an open columnar format, filters on metadata
before the vector search, has approximate indexes (IVF-SQ here) that keep
1M-vector queries fast on two cores, and every write is a versioned commit: a process
killed mid-write leaves the last committed version readable. The same code
opens an index on object storage (`s3://bucket/wafers`, `gs://...`, `az://...`),
which is how a Ray cluster's workers and its driver share one index.

The model that made the vectors is recorded in the table's schema metadata,
so an index carries its own identity wherever it is copied, and vectors from
two models are never mixed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import InputError
from fabsight.search.entries import NUMBER_FIELDS, TEXT_FIELDS, TIME_FIELDS

TABLE = "wafers"
MODEL_KEY = b"fabsight.model"
NO_INDEX_HINT = "make one with `fabsight index add --index DIR FILES...`"
# Below this many rows an exact scan is fast enough and always exact; from it on, tidy() builds the vector index
# and the indexes on the filter columns. benchmarks/search_speed.py measured every setting below (p50 latency and
# recall@10 against exact search, 10k to 1M entries, 2 cores); its docstring has the log.
ANN_MIN_ROWS = 25_000
INDEX_TYPE = "IVF_SQ"  # LanceDB vector index type: IVF partitions of 8-bit scalar-quantized vectors
ROWS_PER_PARTITION = 4_096  # IVF partition size target (optimize() splits partitions as the table grows)
NUM_SUB_VECTORS = 16  # PQ codes per vector (IVF_PQ, IVF_HNSW_PQ only)
NPROBES = 25  # partitions searched per query
FILTER_BOOST_BELOW = 0.1  # a filter keeping less than this share of rows searches proportionally more partitions
EXACT_MAX_KEPT = 500  # a filter keeping at most this many rows is searched exactly: faster than the index then
EVERY_PARTITION = 1 << 20  # nprobes above the partition count: Lance searches every partition
REFINE_FACTOR = 10  # top * this candidates are re-ranked with their full vectors (quantized indexes)
HNSW_EF = 100  # candidates an HNSW graph keeps while searching (IVF_HNSW_* only)
# Scalar indexes on the columns `fabsight search` filters on: without them every filtered query scans the
# column (30 to 60 ms at 1M rows); with them the filter costs a few ms.
FILTER_INDEXES = {"product": "BITMAP", "pattern": "BITMAP", "lot": "BTREE", "wafer_id": "BTREE", "source": "BTREE",
                  "yield": "BTREE", "test_time": "BTREE"}


def _lancedb():
    os.environ.setdefault("LANCE_LOG", "error")  # Lance logs "creating a new dataset" as a warning on stderr
    try:
        import lancedb
    except ImportError:
        raise InputError("search needs LanceDB: pip install 'fabsight[search]'") from None
    return lancedb


def is_remote(uri: str) -> bool:
    return "://" in uri


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made an index's vectors: the name it was loaded by, a hash of its weights, the width."""

    name: str
    fingerprint: str
    dim: int

    def same_as(self, other: ModelIdentity) -> bool:
        return self.fingerprint == other.fingerprint and self.dim == other.dim


def vector_index_config(dim: int):
    """LanceDB's configuration for the vector index of `dim`-d unit vectors (cosine distance).

    Partitions are sized by rows, not counted, so that `optimize()` splits them as the table grows.
    """
    from lancedb import index

    options = {"distance_type": "cosine", "target_partition_size": ROWS_PER_PARTITION}
    sub_vectors = NUM_SUB_VECTORS if dim % NUM_SUB_VECTORS == 0 else 1
    configs = {"IVF_PQ": lambda: index.IvfPq(num_sub_vectors=sub_vectors, **options),
               "IVF_HNSW_PQ": lambda: index.HnswPq(num_sub_vectors=sub_vectors, **options),
               "IVF_HNSW_SQ": lambda: index.HnswSq(**options), "IVF_SQ": lambda: index.IvfSq(**options),
               "IVF_RQ": lambda: index.IvfRq(**options), "IVF_FLAT": lambda: index.IvfFlat(**options)}
    if INDEX_TYPE not in configs:
        raise ValueError(f"unknown vector index type {INDEX_TYPE!r}; known: {', '.join(configs)}")
    return configs[INDEX_TYPE]()


def schema(model: ModelIdentity):
    import pyarrow as pa

    fields = [pa.field("id", pa.string(), nullable=False)]
    fields += [pa.field(name, pa.string()) for name in TEXT_FIELDS if name != "id"]
    fields += [pa.field(name, pa.float64() if name in ("yield", "confidence") else pa.int64())
               for name in NUMBER_FIELDS]
    fields += [pa.field(name, pa.timestamp("us")) for name in TIME_FIELDS]
    fields += [pa.field("vector", pa.list_(pa.float32(), model.dim)), pa.field("grid", pa.binary()),
               pa.field("rows", pa.int32()), pa.field("cols", pa.int32())]
    return pa.schema(fields, metadata={MODEL_KEY: json.dumps(asdict(model)).encode()})


class WaferIndex:
    """An open index. Create one with `WaferIndex.open(uri, create_for=model)`."""

    def __init__(self, uri: str, table: Any) -> None:
        self.uri = uri
        self.table = table

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, uri: str | Path, create_for: ModelIdentity | None = None) -> WaferIndex:
        """Open the index at `uri`; with `create_for`, make it if it is not there (and check it matches)."""
        uri = str(uri)
        if not is_remote(uri):
            path = Path(uri)
            if path.exists() and not path.is_dir():
                raise InputError("is a file, not an index folder", path)
            if create_for is None and not (path / f"{TABLE}.lance").is_dir():
                what = "no wafer index here" if path.is_dir() else "no such index folder"
                raise InputError(f"{what} ({NO_INDEX_HINT})", path)
        db = _lancedb().connect(uri)
        if TABLE in db.list_tables().tables:
            index = cls(uri, db.open_table(TABLE))
            if create_for is not None:
                index.check_model(create_for)
            return index
        if create_for is None:
            raise InputError(f"no wafer index here ({NO_INDEX_HINT})", uri)
        return cls(uri, db.create_table(TABLE, schema=schema(create_for), exist_ok=True))

    @property
    def model(self) -> ModelIdentity:
        raw = (self.table.schema.metadata or {}).get(MODEL_KEY)
        if raw is None:
            raise InputError("this table was not made by fabsight (no model recorded)", self.uri)
        return ModelIdentity(**json.loads(raw))

    def check_model(self, model: ModelIdentity) -> None:
        made_by = self.model
        if not made_by.same_as(model):
            raise InputError(f"this index holds vectors from model {made_by.name!r} ({made_by.dim}-d, weights "
                             f"{made_by.fingerprint}); {model.name!r} ({model.dim}-d, weights {model.fingerprint}) "
                             "makes different vectors: use that model, or another --index folder", self.uri)

    # --- writing ------------------------------------------------------------------------
    def upsert(self, entries: list[dict[str, Any]]) -> tuple[int, int]:
        """Insert or replace entries by id, as one commit; returns (new, updated) rows, counted by the commit
        itself, so another process writing to the index at the same time does not skew them."""
        import pyarrow as pa

        if not entries:
            return 0, 0
        latest = {entry["id"]: entry for entry in entries}  # one wafer twice in a batch: the later reading wins
        rows = list(latest.values())
        columns = {field.name: [row.get(field.name) for row in rows] for field in self.table.schema}
        dim = self.model.dim
        vectors = np.stack(columns.pop("vector")).astype(np.float32).reshape(-1)
        data = pa.table({**columns, "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors), dim)},
                        schema=self.table.schema)
        result = self.table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)
        return result.num_inserted_rows, result.num_updated_rows

    def remove(self, where: str) -> int:
        """Delete the rows matching a filter; returns how many went."""
        before = self.count()
        self.table.delete(where)
        return before - self.count()

    def tidy(self) -> None:
        """Merge the small files of many commits, bring indexes up to date, and build the vector index when due."""
        from lancedb.index import Bitmap, BTree

        count = self.count()
        indexed = self._index_columns()
        if count and ["id"] not in indexed:
            self.table.create_index("id", config=BTree())  # makes updates by id fast on large indexes
        if count >= ANN_MIN_ROWS:
            if ["vector"] not in indexed:
                self.table.create_index("vector", config=vector_index_config(self.model.dim))
            for column, kind in FILTER_INDEXES.items():
                if [column] not in indexed:
                    self.table.create_index(column, config=Bitmap() if kind == "BITMAP" else BTree())
        self.table.optimize()

    def _index_columns(self) -> list[list[str]]:
        return [list(getattr(i, "columns", [])) for i in self.table.list_indices()]

    def has_vector_index(self) -> bool:
        return ["vector"] in self._index_columns()

    # --- reading ------------------------------------------------------------------------
    def count(self, where: str | None = None) -> int:
        return int(self.table.count_rows(where) if where else self.table.count_rows())

    def size_bytes(self) -> int | None:
        if is_remote(self.uri):
            return None
        return sum(f.stat().st_size for f in Path(self.uri).rglob("*") if f.is_file())

    def nearest(self, vector: np.ndarray, top: int, where: str | None = None,
                every_partition: bool = False) -> list[dict[str, Any]]:
        """The `top` entries closest to a unit `vector`, best first, each with "score" (cosine similarity).

        `every_partition`: the filter keeps rows that cluster in vector space (a pattern predicted from the
        vectors themselves), so the partitions nearest the query may hold none of its nearest kept rows.
        """
        query = self.table.search(np.asarray(vector, np.float32), vector_column_name="vector").metric("cosine")
        indexed = self.has_vector_index()
        kept = self.count(where) if where and indexed else None
        if kept == 0:
            return []
        if kept is not None and kept <= EXACT_MAX_KEPT:
            query = query.bypass_vector_index()
        elif indexed:
            query = query.nprobes(EVERY_PARTITION if where and every_partition else self._probes(kept))
            if INDEX_TYPE.startswith("IVF_HNSW"):
                query = query.ef(max(HNSW_EF, top))
            if REFINE_FACTOR and INDEX_TYPE != "IVF_FLAT":
                query = query.refine_factor(REFINE_FACTOR)
        if where:
            query = query.where(where, prefilter=True)
        rows = query.limit(top).to_arrow().to_pylist()
        for row in rows:
            row["score"] = 1.0 - float(row.pop("_distance"))
        return rows

    def _probes(self, kept: int | None) -> int:
        """Partitions to search: a filter keeping few rows leaves few of them in the nearest partitions."""
        if not kept:
            return NPROBES
        return math.ceil(NPROBES * max(1.0, FILTER_BOOST_BELOW * self.count() / kept))

    def pattern_counts(self) -> dict[str, int]:
        """How many entries have each predicted pattern, most common first."""
        column = self.table.search().select(["pattern"]).limit(None).to_arrow().column("pattern")
        counts = column.value_counts().to_pylist() if len(column) else []
        return dict(sorted(((c["values"], c["counts"]) for c in counts), key=lambda item: -item[1]))

    def rows(self, where: str, limit: int = 10) -> list[dict[str, Any]]:
        """Entries matching a filter (no vector search), e.g. to find one by id."""
        return self.table.search().where(where).limit(limit).to_arrow().to_pylist()
