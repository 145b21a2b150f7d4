"""Vector search speed: build time, disk size, query latency and recall@10 of the wafer index, 10k to 1M entries.

    python benchmarks/search_speed.py --sizes 10000 100000 1000000 --queries 200
    python benchmarks/search_speed.py --sizes 100000 --index-type IVF_PQ --partition-rows 500 --nprobes 40
    python benchmarks/search_speed.py --sizes 20000 50000 --exact-only      # where exact search stops being fast

Each size is a fresh index under --dir (default /tmp), written the way
`fabsight index add` writes one: `WaferIndex.upsert` in chunks of --chunk
entries, then `WaferIndex.tidy()` (which builds the vector index from
ANN_MIN_ROWS entries on). Queries go through `WaferIndex.nearest` (top 10),
timed one at a time after a warm-up, with no filter and with the filters
`fabsight search` writes (`where_clause`): one product of 10, a yield range,
one predicted pattern of 9 (for 8 queries in 9 not the query's own: the hard
case for an IVF index), one lot of 25 wafers.

Data: synthetic 128-d unit vectors that cluster like image embeddings (a few
hundred cluster centres grouped around a few dozen themes, uneven cluster
sizes and spreads, fixed seed), with entry metadata like real wafers
(product per lot, 25 wafers per lot, test times, yield and pattern that depend
on the cluster) and real packed die grids (a set of synthetic maps, reused).
Queries are held-out vectors from the same distribution, never stored ones.
Recall@10 is measured against exact neighbours computed with numpy over the
same vectors (over the filtered rows for a filtered query). "exact p50 ms" is
LanceDB's exact (flat) search on the same table in the same run, with the same
filter and the same columns returned; "x exact" is exact p50 / p50.

Tuning log (2-core AMD EPYC VM, lancedb 0.40, this data, 100 queries, p50 ms / recall@10; runs vary by
+-3 ms; timings taken while a training job shared the machine are left out unless said):
- Exact (flat) search, no filter: 10k 6, 20k 8, 25k 11, 30k 14, 50k 13-17, 70k 47, 100k 53-60, 1M 160-195.
  IVF_SQ answers in 7-9 from 20k up with recall 1.0 below 100k: ANN_MIN_ROWS = 25k.
- 1M, the first settings (IVF_PQ, 16 sub-vectors, 1000 partitions, nprobes 20, refine 10): 8.8 / 0.95;
  filtered 35-63 ms (each filtered query scanned the filter column), and a 25-wafer lot filter found 5%
  of its top 10 (the probed partitions hold none of the lot's rows).
- Scalar indexes on the filter columns (BITMAP product, pattern; BTREE lot, yield, test_time, ...):
  filtered 35-63 -> 4-11 ms; 0.2 s each to build at 1M.
- maximum_nprobes above minimum_nprobes: Lance then searched ~500 of 1000 partitions even unfiltered
  (7 -> 13 ms). So nprobes is fixed, and a filter keeping a share s < 10% of rows gets nprobes x 0.1 / s
  (lot: 0.05 -> 1.0, but 15-20 ms for all partitions); a filter keeping <= 500 rows is searched exactly
  (flat scan of those rows through the scalar index: 5-13 ms).
- 1M, unfiltered / product / yield 0.6-0.8 recall: IVF_PQ 16 nprobes 50 refine 20: 10 ms, 0.99 / 0.998 /
  0.97, 62 s build; IVF_FLAT nprobes 50: 8-13 ms, 1.0 / 0.996 / 0.99, index +512 MB; IVF_SQ (1000-row
  partitions) nprobes 50: 8-13 ms, 1.0 / 0.997 / 0.986, 15-35 s build; IVF_HNSW_SQ (65k-row partitions,
  nprobes 5, ef 100): 11 ms, 1.0, but 25-30 ms filtered and a 400 s build (these two partly while a
  training job ran, so too slow by some margin; still far behind on build time).
- IVF_SQ partition size, unfiltered / product / yield / lot p50 ms: 1000 rows nprobes 50: 13 / 17 / 25 / 19;
  4096 rows nprobes 25: 11 / 14 / 19 / 14, recall >= 0.993 (chosen; 7 s build); 8192 rows nprobes 12:
  10 / 14 / 23 / 14, recall >= 0.993; 2048 rows nprobes 20: 11 ms, recall 0.996 / 0.976 / 0.963.
  Refine factor 20 instead of 10: same recall, +1-2 ms.
- A pattern filter unlike the query (8 of the 9 "pattern" queries here) keeps 11% of rows, all far from the
  query: recall 0.40-0.52 at any nprobes short of every partition. Tried at 1M (50 queries, p50 ms / recall):
  25 probes 13 / 0.46; every partition 36 / 1.0; exact (flat) search of the kept rows 265 / 1.0; the unfiltered
  top 200 filtered afterwards 32 / 0.07; that, falling back to every partition when fewer than 10 pass,
  90 / 1.0. Chosen: every partition whenever the filter names a pattern (SearchFilters.follows_the_vectors).
- Yield range at 1M: counting the kept rows (to choose probes) takes ~6 ms through the BTREE index (0.7 ms
  for a BITMAP column), the search ~15 ms; returning fewer columns saves under 1 ms.
- Partitions sized by rows (target_partition_size) are split by optimize() as the table grows: 50k -> 300k
  rows with tidy() after each 50k went from 50 to 177 partitions (a count fixed at build time stays 50).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.search import store
from fabsight.search.entries import pack_grid
from fabsight.search.filters import SearchFilters, where_clause
from fabsight.search.store import ModelIdentity, WaferIndex

DIM = 128
PRODUCTS = [f"P{k:02d}" for k in range(10)]
WAFERS_PER_LOT = 25
TOP = 10


# --- data -------------------------------------------------------------------------------------------
class Embeddings:
    """Clustered unit vectors of low local dimension, like image embeddings.

    `themes` directions, `clusters` centres around them (uneven sizes), and each point its centre plus noise
    in a 24-d subspace of its own cluster (decaying scales) plus a little isotropic noise. Isotropic noise
    alone gives a local intrinsic dimension near 50, far harder than real embeddings; this gives about 20.
    """

    def __init__(self, seed: int, clusters: int = 400, themes: int = 40, dim: int = DIM, rank: int = 24) -> None:
        rng = np.random.default_rng(seed)
        theme = _unit(rng.normal(size=(themes, dim)))
        parent = rng.integers(themes, size=clusters)
        centres = theme[parent] + rng.normal(scale=0.09, size=(clusters, dim))  # cos ~0.7 to the theme
        self.centres = _unit(centres).astype(np.float32)
        weights = rng.pareto(1.2, size=clusters) + 0.05  # a few big clusters, many small ones
        self.weights = weights / weights.sum()
        self.basis = np.linalg.qr(rng.normal(size=(clusters, dim, rank)))[0].transpose(0, 2, 1).astype(np.float32)
        self.scale = (rng.uniform(0.6, 1.4, size=(clusters, 1)) * 0.25 * 0.9 ** np.arange(rank)).astype(np.float32)
        self.dim, self.rank = dim, rank

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(n unit vectors as float32, their cluster numbers); the first m of n are the same for any n."""
        vectors, cluster = np.empty((n, self.dim), np.float32), np.empty(n, np.int64)
        for start in range(0, n, 50_000):
            streams = [np.random.default_rng([seed, start, k]) for k in range(3)]
            size = min(50_000, n - start)
            c = cluster[start:start + size] = streams[0].choice(len(self.centres), size=size, p=self.weights)
            z = streams[1].standard_normal((size, self.rank), dtype=np.float32) * self.scale[c]
            x = streams[2].standard_normal((size, self.dim), dtype=np.float32) * np.float32(0.02)
            x += self.centres[c]
            for k in np.unique(c):
                rows = np.flatnonzero(c == k)
                x[rows] += z[rows] @ self.basis[k]
            vectors[start:start + size] = _unit(x)
        return vectors, cluster


def local_dimension(vectors: np.ndarray, queries: np.ndarray, k: int = 20) -> float:
    """Median over queries of the maximum-likelihood local intrinsic dimension of their k nearest neighbours."""
    estimates = []
    for start in range(0, len(queries), 20):
        distances = np.sqrt(np.maximum(2 - 2 * (queries[start:start + 20] @ vectors.T), 1e-12))
        nearest = np.sort(np.partition(distances, k, axis=1)[:, :k], axis=1)
        estimates += list(-1 / np.mean(np.log(nearest[:, :-1] / nearest[:, -1:]), axis=1))
    return float(np.median(estimates))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class Metadata:
    """Entry fields for row numbers, like `make_entry` writes them (`fabsight.search.entries`)."""

    def __init__(self, n: int, cluster: np.ndarray, seed: int) -> None:
        from fabsight.wafer.synth import generate_grids

        rng = [np.random.default_rng([seed, 100 + k]) for k in range(4)]  # a stream each: same first rows for any n
        lots = (n + WAFERS_PER_LOT - 1) // WAFERS_PER_LOT
        self.lot_product = rng[0].integers(len(PRODUCTS), size=lots)
        self.cluster = cluster
        self.pattern = np.array(PATTERN_NAMES)[cluster % len(PATTERN_NAMES)]
        # Yield depends on the pattern (cluster) plus wafer-to-wafer scatter.
        centre_yield = np.random.default_rng([seed, 99]).uniform(0.35, 0.98, size=1000)
        self.yield_ = np.clip(centre_yield[cluster] + rng[1].normal(scale=0.06, size=n), 0.01, 1.0)
        self.dies = rng[2].integers(1200, 2600, size=n)
        self.confidence = rng[3].uniform(0.3, 0.99, size=n)
        self.grids = [(pack_grid(grid), *grid.shape) for grid, _ in generate_grids("any", n=256, seed=seed)]
        self.start = datetime(2024, 1, 1)

    def product(self, i: int) -> str:
        return PRODUCTS[self.lot_product[i // WAFERS_PER_LOT]]

    @staticmethod
    def lot(i: int) -> str:
        return f"L{i // WAFERS_PER_LOT:06d}"

    @staticmethod
    def row_of(entry_id: str) -> int:
        _, lot, wafer = entry_id.split("/")
        return int(lot[1:]) * WAFERS_PER_LOT + int(wafer) - 1

    def entry(self, i: int, vector: np.ndarray) -> dict[str, Any]:
        lot, wafer, product = self.lot(i), f"{i % WAFERS_PER_LOT + 1:02d}", self.product(i)
        dies = int(self.dies[i])
        fails = round(dies * (1 - float(self.yield_[i])))
        grid, rows, cols = self.grids[i % len(self.grids)]
        return {"id": f"{product}/{lot}/{wafer}", "source": f"/data/stdf/{product}/{lot}.stdf",
                "index": i % WAFERS_PER_LOT, "lot": lot, "wafer_id": wafer, "product": product,
                "tester": f"T{i // 5000 % 8}", "test_time": self.start + timedelta(seconds=40 * i),
                "dies": dies, "fails": fails, "yield": (dies - fails) / dies, "pattern": str(self.pattern[i]),
                "confidence": float(self.confidence[i]), "label": None, "vector": vector, "grid": grid,
                "rows": rows, "cols": cols}

    def mask(self, filters: SearchFilters, n: int) -> np.ndarray:
        """The rows a filter keeps, computed here (for exact neighbours), the same as LanceDB's `where`."""
        rows = np.arange(n)
        keep = np.ones(n, bool)
        if filters.product is not None:
            keep &= np.array(PRODUCTS)[self.lot_product[rows // WAFERS_PER_LOT]] == filters.product
        if filters.lot is not None:
            keep &= rows // WAFERS_PER_LOT == int(filters.lot[1:])
        if filters.pattern is not None:
            keep &= self.pattern[:n] == filters.pattern
        yields = (self.dies[:n] - np.round(self.dies[:n] * (1 - self.yield_[:n]))) / self.dies[:n]
        if filters.min_yield is not None:
            keep &= yields >= filters.min_yield
        if filters.max_yield is not None:
            keep &= yields <= filters.max_yield
        return keep


def query_filters(kind: str, q: int, n: int, rng: np.random.Generator) -> SearchFilters | None:
    if kind == "none":
        return None
    if kind == "product":
        return SearchFilters(product=PRODUCTS[q % len(PRODUCTS)])
    if kind == "yield":
        return SearchFilters(min_yield=0.6, max_yield=0.8)
    if kind == "lot":
        return SearchFilters(lot=Metadata.lot(int(rng.integers(n))))
    if kind == "pattern":
        return SearchFilters(pattern=PATTERN_NAMES[q % len(PATTERN_NAMES)])
    raise ValueError(kind)


FILTER_NAMES = {"none": "none", "product": "product (1 of 10)", "yield": "yield 0.6-0.8", "pattern": "pattern (1 of 9)",
                "lot": "lot (25 wafers)"}


# --- measuring --------------------------------------------------------------------------------------
def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, keep: list[np.ndarray | None]) -> list[np.ndarray]:
    """Row numbers of each query's TOP nearest stored vectors (cosine), among the kept rows when filtered."""
    found = []
    for start in range(0, len(queries), 50):
        scores = queries[start:start + 50] @ vectors.T
        for j, row in enumerate(scores):
            mask = keep[start + j]
            if mask is not None:
                row = np.where(mask, row, -np.inf)
            top = np.argpartition(-row, TOP)[:TOP]
            top = top[np.isfinite(row[top])]
            found.append(top[np.argsort(-row[top])])
    return found


def exact_search(index: WaferIndex, vector: np.ndarray, top: int, where: str | None) -> list[dict[str, Any]]:
    """`WaferIndex.nearest` without the vector index: LanceDB's flat scan."""
    query = index.table.search(np.asarray(vector, np.float32), vector_column_name="vector").metric("cosine")
    query = query.bypass_vector_index()
    if where:
        query = query.where(where, prefilter=True)
    return query.limit(top).to_arrow().to_pylist()


def time_queries(search: Callable[[np.ndarray, str | None], list[dict[str, Any]]], queries: np.ndarray,
                 wheres: list[str | None], warmup: int) -> tuple[np.ndarray, list[list[int]]]:
    """(milliseconds per query, row numbers found per query), after `warmup` untimed queries."""
    for q in range(min(warmup, len(queries))):
        search(queries[q], wheres[q])
    times, found = [], []
    for vector, where in zip(queries, wheres):
        start = time.perf_counter()
        rows = search(vector, where)
        times.append(1000 * (time.perf_counter() - start))
        found.append([Metadata.row_of(row["id"]) for row in rows])
    return np.array(times), found


def recall(found: list[list[int]], truth: list[np.ndarray]) -> float:
    """Mean over queries of |found ∩ true top 10| / |true top 10| (fewer than 10 when a filter keeps fewer)."""
    return float(np.mean([len(set(f) & set(t.tolist())) / len(t) for f, t in zip(found, truth) if len(t)]))


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(folder: Path, n: int, vectors: np.ndarray, meta: Metadata, chunk: int) -> tuple[WaferIndex, float, float]:
    """A fresh index of the first n rows: (index, write seconds, tidy seconds)."""
    shutil.rmtree(folder, ignore_errors=True)
    index = WaferIndex.open(folder, create_for=ModelIdentity("synthetic", "synthetic-128", DIM))
    write = 0.0
    for start in range(0, n, chunk):
        entries = [meta.entry(i, vectors[i]) for i in range(start, min(n, start + chunk))]
        began = time.perf_counter()
        index.upsert(entries)
        write += time.perf_counter() - began
    began = time.perf_counter()
    index.tidy()
    return index, write, time.perf_counter() - began


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def apply_settings(args: argparse.Namespace) -> None:
    """Command-line overrides of the store's index settings (for tuning; the defaults are what ships)."""
    for option, constant in (("ann_min_rows", "ANN_MIN_ROWS"), ("index_type", "INDEX_TYPE"),
                             ("partition_rows", "ROWS_PER_PARTITION"), ("sub_vectors", "NUM_SUB_VECTORS"),
                             ("nprobes", "NPROBES"), ("filter_boost_below", "FILTER_BOOST_BELOW"),
                             ("exact_max_kept", "EXACT_MAX_KEPT"),
                             ("refine_factor", "REFINE_FACTOR"), ("ef", "HNSW_EF")):
        value = getattr(args, option)
        if value is not None:
            setattr(store, constant, value)


def settings_text() -> str:
    if store.ANN_MIN_ROWS >= 1 << 62:
        return "no vector index (--exact-only)"
    parts = [f"{store.INDEX_TYPE}, partitions = rows // {store.ROWS_PER_PARTITION}"]
    if "PQ" in store.INDEX_TYPE:
        parts.append(f"{store.NUM_SUB_VECTORS} sub-vectors")
    boost = store.FILTER_BOOST_BELOW
    parts.append(f"nprobes {store.NPROBES} (times {boost:g} / share of rows kept, for a filter keeping less than "
                 f"{boost:.0%}; every partition for a pattern filter; exact search when a filter keeps at most "
                 f"{store.EXACT_MAX_KEPT} rows)")
    if "HNSW" in store.INDEX_TYPE:
        parts.append(f"ef {store.HNSW_EF}")
    if store.INDEX_TYPE != "IVF_FLAT":
        parts.append(f"refine factor {store.REFINE_FACTOR}")
    filters = ", ".join(f"{column} {kind}" for column, kind in store.FILTER_INDEXES.items()) or "none"
    return ", ".join(parts) + f"; vector index from {store.ANN_MIN_ROWS:,} rows; filter column indexes: {filters}"


def measure_size(n: int, vectors: np.ndarray, queries: np.ndarray, meta: Metadata,
                 args: argparse.Namespace) -> list[dict[str, Any]]:
    """Build an index of the first n vectors and measure its queries: one row per filter."""
    folder = Path(args.dir) / f"n{n}"
    index, write_s, tidy_s = build(folder, n, vectors, meta, args.chunk)
    ann = index.has_vector_index()
    disk_mb = disk_bytes(folder) / 1e6
    exact_count = args.exact_queries or len(queries)
    rows = []
    for kind in args.filters:
        rng = np.random.default_rng(args.seed + 30)
        filters = [query_filters(kind, q, n, rng) for q in range(len(queries))]
        wheres = [where_clause(f) if f else None for f in filters]
        masks = [meta.mask(f, n) if f else None for f in filters]
        truth = exact_neighbours(vectors[:n], queries, masks)
        every = any(f is not None and f.follows_the_vectors for f in filters)
        times, found = time_queries(lambda v, w, e=every: index.nearest(v, TOP, w, every_partition=e), queries, wheres,
                                    args.warmup)
        exact_times, exact_found = time_queries(lambda v, w: exact_search(index, v, TOP, w),
                                                queries[:exact_count], wheres[:exact_count], args.warmup)
        first = not rows
        p50, exact_p50 = float(np.percentile(times, 50)), float(np.percentile(exact_times, 50))
        rows.append({"size": n, "filter": FILTER_NAMES[kind],
                     "rows kept": float(np.mean([m.mean() if m is not None else 1.0 for m in masks])),
                     "index": store.INDEX_TYPE if ann else "none (exact)",
                     "build s": write_s + tidy_s if first else None, "index s": tidy_s if first else None,
                     "disk MB": disk_mb if first else None, "p50 ms": p50, "p95 ms": float(np.percentile(times, 95)),
                     "recall@10": recall(found, truth), "exact p50 ms": exact_p50, "x exact": exact_p50 / p50,
                     "exact recall": recall(exact_found, truth[:exact_count])})
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200, help="queries per filter")
    parser.add_argument("--exact-queries", type=int, default=None,
                        help="queries timed for LanceDB's exact search (default: --queries)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries before each timing")
    parser.add_argument("--filters", nargs="+", default=list(FILTER_NAMES), choices=list(FILTER_NAMES))
    parser.add_argument("--exact-only", action="store_true", help="no vector index: time exact search only")
    parser.add_argument("--chunk", type=int, default=100_000, help="entries per upsert")
    parser.add_argument("--dir", default="/tmp/fabsight-search-speed", help="where the indexes are written")
    parser.add_argument("--keep", action="store_true", help="leave the indexes on disk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    tuning = parser.add_argument_group("index settings (default: fabsight.search.store's)")
    tuning.add_argument("--ann-min-rows", type=int, default=None)
    tuning.add_argument("--index-type", default=None,
                        choices=["IVF_PQ", "IVF_HNSW_SQ", "IVF_HNSW_PQ", "IVF_SQ", "IVF_RQ", "IVF_FLAT"])
    tuning.add_argument("--partition-rows", type=int, default=None, help="rows per IVF partition")
    tuning.add_argument("--sub-vectors", type=int, default=None)
    tuning.add_argument("--nprobes", type=int, default=None)
    tuning.add_argument("--filter-boost-below", type=float, default=None,
                        help="a filter keeping less than this share of rows searches proportionally more partitions")
    tuning.add_argument("--exact-max-kept", type=int, default=None,
                        help="a filter keeping at most this many rows is searched exactly")
    tuning.add_argument("--no-filter-indexes", action="store_true", help="no scalar indexes on the filter columns")
    tuning.add_argument("--refine-factor", type=int, default=None)
    tuning.add_argument("--ef", type=int, default=None)
    args = parser.parse_args()
    apply_settings(args)
    if args.exact_only:
        store.ANN_MIN_ROWS = 1 << 62
    if args.no_filter_indexes:
        store.FILTER_INDEXES = {}

    largest = max(args.sizes)
    embeddings = Embeddings(args.seed)
    vectors, cluster = embeddings.sample(largest, seed=args.seed + 10)
    queries, _ = embeddings.sample(args.queries, seed=args.seed + 20)
    meta = Metadata(largest, cluster, args.seed)
    exact_count = args.exact_queries or args.queries
    load_before = load_average()

    table = BenchmarkTable("Wafer index search speed (top 10)",
                           ["size", "filter", "rows kept", "index", "build s", "index s", "disk MB",
                            "p50 ms", "p95 ms", "recall@10", "exact p50 ms", "x exact"],
                           formats={"x exact": "{:.1f}x", "rows kept": "{:.1%}"})
    dimension: dict[int, float] = {}
    for n in sorted(args.sizes):
        began = time.perf_counter()
        dimension[n] = local_dimension(vectors[:n], queries[:100])
        for row in measure_size(n, vectors, queries, meta, args):
            if row.pop("exact recall") < 0.999:
                table.note(f"{n:,} rows, {row['filter']}: LanceDB's exact search missed some of numpy's top 10.")
            table.add_row(row)
        print(f"[{n:,} rows: {time.perf_counter() - began:.0f} s in all]", flush=True)

    import lancedb

    table.note(f"build s: `upsert` in chunks of {args.chunk:,} entries plus `tidy()`; index s: `tidy()` alone "
               "(vector index, id index, compaction); disk MB: the index folder after tidy (old versions included), "
               "with vectors, metadata and packed die grids (~250 B each).")
    table.note(f"p50/p95: `WaferIndex.nearest` per query, {len(queries)} held-out queries after {args.warmup} "
               "warm-up queries; recall@10 against numpy exact search over the same (filtered) rows; exact p50 ms: "
               "LanceDB flat search (bypass_vector_index) on the same table, same filter, same run, "
               f"{exact_count} queries; x exact = exact p50 / p50.")
    table.note("Local intrinsic dimension of the data around the queries (MLE over 20 neighbours, median of 100 "
               "queries): " + ", ".join(f"{d:.1f} at {n:,}" for n, d in dimension.items()) + ".")
    table.note(f"Settings: {settings_text()}. lancedb {lancedb.__version__}; load average {load_before} before, "
               f"{load_average()} after (other work on the machine slows every number).")
    table.report(model="none (synthetic embeddings)",
                 data=f"synthetic clustered 128-d unit vectors ({len(embeddings.centres)} clusters), entry metadata "
                      "like real wafers, 256 packed synthetic die grids reused", seed=args.seed, json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("LANCE_LOG", "error")
    main()
