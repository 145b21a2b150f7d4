"""The approximate (IVF) path of `WaferIndex.nearest`, on a small index with the thresholds lowered.

The index built by the search tests stays below ANN_MIN_ROWS and is searched exactly; here the vector index
is built on 3,000 clustered vectors whose pattern follows the cluster, as a predicted pattern does.
"""

from __future__ import annotations

import numpy as np
import pytest

from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.search import store
from fabsight.search.filters import SearchFilters, where_clause
from fabsight.search.store import ModelIdentity, WaferIndex

DIM, CLUSTERS, ROWS, TOP = 32, 30, 3000, 10


def _clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cluster = rng.integers(len(centres), size=n)
    x = centres[cluster] + rng.normal(scale=0.25, size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), cluster


@pytest.fixture(scope="module")
def ann(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setattr(store, "ANN_MIN_ROWS", 500)
    patch.setattr(store, "ROWS_PER_PARTITION", 64)
    patch.setattr(store, "NPROBES", 3)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CLUSTERS, DIM))
    vectors, cluster = _clustered(rng, ROWS, centres)
    patterns = np.array(PATTERN_NAMES)[cluster % len(PATTERN_NAMES)]
    index = WaferIndex.open(tmp_path_factory.mktemp("ann") / "index", create_for=ModelIdentity("test", "t", DIM))
    index.upsert([{"id": f"w{i:05d}", "pattern": str(patterns[i]), "lot": f"L{i // 25:03d}", "vector": vectors[i]}
                  for i in range(ROWS)])
    index.tidy()
    queries, query_cluster = _clustered(rng, 40, centres)
    yield index, vectors, patterns, queries, query_cluster
    patch.undo()


def _exact_ids(vectors: np.ndarray, query: np.ndarray, keep: np.ndarray) -> set[str]:
    scores = np.where(keep, vectors @ query, -np.inf)
    return {f"w{i:05d}" for i in np.argsort(-scores)[:TOP] if np.isfinite(scores[i])}


def _recall(found: list[dict], truth: set[str]) -> float:
    return len({row["id"] for row in found} & truth) / len(truth)


def test_the_vector_index_is_built_and_searched(ann):
    index, vectors, _, queries, _ = ann
    assert index.has_vector_index()
    keep = np.ones(ROWS, bool)
    recalls = [_recall(index.nearest(q, TOP), _exact_ids(vectors, q, keep)) for q in queries]
    assert np.mean(recalls) >= 0.9


def test_a_pattern_filter_unlike_the_query_finds_the_nearest_wafers_of_that_pattern(ann):
    index, vectors, patterns, queries, query_cluster = ann
    recalls = []
    for q, own in zip(queries, query_cluster):
        other = PATTERN_NAMES[(own + 1) % len(PATTERN_NAMES)]  # a pattern the query's own cluster does not have
        filters = SearchFilters(pattern=other)
        assert filters.follows_the_vectors
        found = index.nearest(q, TOP, where_clause(filters), every_partition=filters.follows_the_vectors)
        assert {row["pattern"] for row in found} == {other}
        recalls.append(_recall(found, _exact_ids(vectors, q, patterns == other)))
    assert np.mean(recalls) >= 0.95


def test_a_filter_keeping_few_rows_is_searched_exactly(ann):
    index, vectors, _, queries, _ = ann
    lots = np.array([f"L{i // 25:03d}" for i in range(ROWS)])
    for k, q in enumerate(queries[:10]):
        lot = f"L{k * 7:03d}"
        found = index.nearest(q, TOP, where_clause(SearchFilters(lot=lot)))
        assert {row["id"] for row in found} == _exact_ids(vectors, q, lots == lot)
        assert [row["score"] for row in found] == sorted((row["score"] for row in found), reverse=True)
