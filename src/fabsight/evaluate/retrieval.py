"""Search metrics: recall@k, precision@k, mAP and MRR, with trec_eval's definitions.

- A document is relevant when its qrels grade is 1 or more (trec_eval's default).
- A run given with scores is ranked by score, highest first; ties are broken
  by document id in reverse string order, as trec_eval does. A run given as
  ranked lists keeps its order.
- precision@k = relevant in the top k / k (k, not the number retrieved);
  recall@k = relevant in the top k / all relevant of the query.
- Average precision is normalised by ALL relevant documents of the query in
  the qrels (trec_eval's `map`), not only the retrieved ones: a relevant
  document that is never retrieved counts as precision 0.
- Reciprocal rank is 1 / rank of the first relevant document, 0 if none.
- Means are over the queries of the run that have at least one relevant
  document (trec_eval's default). Queries of the run missing from the qrels
  are an error; qrels queries missing from the run are not scored (a warning
  says how many), nor are queries without relevant documents (counted).

The tests check these numbers against pytrec_eval (trec_eval's own code).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.errors import InputError
from fabsight.evaluate.io import align_ids, normalize_id, preview, read_json, read_text
from fabsight.options import option

DEFAULT_KS = [1, 5, 10]
QRELS_HELP = ("TREC qrels ('query 0 doc grade' per line) or JSON {query: {doc: grade}} / {query: [relevant docs]}")
RUN_HELP = ("TREC run ('query Q0 doc rank score tag' per line) or JSON {query: {doc: score}} / "
            "{query: [docs, best first]}")


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    k: list[int] = option("cut-offs for recall@k and precision@k", DEFAULT_KS, metavar="K")


Run = Mapping[str, Sequence[str] | Mapping[str, float]]


def ranking(results: Sequence[str] | Mapping[str, float]) -> list[str]:
    """Documents best first: a list as given; scores highest first, ties by doc id descending (trec_eval)."""
    if isinstance(results, Mapping):
        by_id = sorted(results, reverse=True)
        return sorted(by_id, key=lambda doc: results[doc], reverse=True)  # stable: ties keep doc-id descending
    return list(results)


def query_scores(ranked: Sequence[str], relevant: set[str], ks: Sequence[int]) -> dict[str, float]:
    """Recall@k, precision@k, AP and reciprocal rank of one ranked list."""
    hits, precision_sum, first = 0, 0.0, 0
    hits_at = {}
    for rank, doc in enumerate(ranked, 1):
        if doc in relevant:
            hits += 1
            precision_sum += hits / rank
            first = first or rank
        if rank in ks:
            hits_at[rank] = hits
    scores: dict[str, float] = {}
    for k in ks:
        found = hits_at.get(k, hits)  # a list shorter than k has found all it will find
        scores[f"recall@{k}"] = found / len(relevant)
        scores[f"precision@{k}"] = found / k
    scores["AP"] = precision_sum / len(relevant)
    scores["RR"] = 1.0 / first if first else 0.0
    return scores


def retrieval_scores(qrels: Mapping[str, Mapping[str, int]], run: Run, ks: Sequence[int] = DEFAULT_KS,
                     *, run_path: str | Path | None = None) -> dict[str, Any]:
    """Mean recall@k, precision@k, mAP and MRR over the run's queries (see the module doc)."""
    if not ks or any(not isinstance(k, int) or k < 1 for k in ks):
        raise InputError(f"cut-offs k must be whole numbers of at least 1, not {list(ks)}")
    ks = sorted(set(ks))
    queries = align_ids(run, qrels, run_path or "run", what="query")
    per_query, no_relevant = [], []
    for query in queries:
        relevant = {doc for doc, grade in qrels[query].items() if grade >= 1}
        if not relevant:
            no_relevant.append(query)
            continue
        ranked = ranking(run[query])
        per_query.append({"query": query, "relevant": len(relevant), "retrieved": len(ranked),
                          **query_scores(ranked, relevant, ks)})
    if not per_query:
        raise InputError(f"none of the {len(queries)} queries of the run has a relevant document in the qrels",
                         run_path)
    n = len(per_query)
    means = {name: math.fsum(q[name] for q in per_query) / n
             for name in [f"{m}@{k}" for m in ("recall", "precision") for k in ks]}
    return {"queries": n, "k": ks, **means,
            "mAP": math.fsum(q["AP"] for q in per_query) / n,
            "MRR": math.fsum(q["RR"] for q in per_query) / n,
            "queries_without_relevant": len(no_relevant),
            "queries_without_results": len(qrels) - len(queries),
            "per_query": per_query}


# --- files ---------------------------------------------------------------------------------------
def _trec_lines(path: Path, columns: int, example: str) -> list[tuple[int, list[str]]]:
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != columns:
            raise InputError(f"line {number}: expected {columns} fields ('{example}'), found {len(fields)}", path)
        rows.append((number, fields))
    return rows


def _number(text: Any, path: Path, where: str, kind: type = float) -> float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {text!r} is not a {'whole ' if kind is int else ''}number", path) from None
    if isinstance(text, bool) or (kind is float and not math.isfinite(value)):
        raise InputError(f"{where}: {text!r} is not a finite number", path)
    return value


def _is_json(path: Path) -> bool:
    return path.suffix.lower() == ".json" or read_text(path).lstrip().startswith("{")


def _json_table(path: Path, role: str, default: float) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object keyed by query ({QRELS_HELP if role == 'qrels' else RUN_HELP})",
                         path)
    out: dict[str, Any] = {}
    for query, value in data.items():
        query = normalize_id(query, path, f"{role} query")
        if isinstance(value, list):
            docs = [normalize_id(doc, path, f"query {query!r}") for doc in value]
            duplicates = sorted({d for d in docs if docs.count(d) > 1})
            if duplicates:
                raise InputError(f"query {query!r} lists documents twice: {preview(duplicates)}", path)
            out[query] = {doc: default for doc in docs} if role == "qrels" else docs
        elif isinstance(value, dict):
            kind = int if role == "qrels" else float
            out[query] = {normalize_id(doc, path, f"query {query!r}"):
                          _number(v, path, f"query {query!r}, document {doc!r}", kind) for doc, v in value.items()}
        else:
            raise InputError(f"query {query!r}: expected a list of documents or an object {{doc: number}}", path)
    return out


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Relevance grades per query and document (TREC qrels or JSON, see QRELS_HELP)."""
    path = Path(path)
    if _is_json(path):
        return _json_table(path, "qrels", 1)
    qrels: dict[str, dict[str, int]] = {}
    for number, (query, _, doc, grade) in _trec_lines(path, 4, "query 0 doc grade"):
        qrels.setdefault(query, {})[doc] = int(_number(grade, path, f"line {number}", int))
    return qrels


def read_run(path: str | Path) -> dict[str, Any]:
    """Ranked results per query (TREC run or JSON, see RUN_HELP). TREC runs are ranked by score, as trec_eval."""
    path = Path(path)
    if _is_json(path):
        return _json_table(path, "run", 0.0)
    run: dict[str, dict[str, float]] = {}
    for number, (query, _, doc, _rank, score, _tag) in _trec_lines(path, 6, "query Q0 doc rank score tag"):
        docs = run.setdefault(query, {})
        if doc in docs:
            raise InputError(f"line {number}: document {doc!r} appears twice for query {query!r}", path)
        docs[doc] = _number(score, path, f"line {number}")
    return run


def evaluate_search_files(qrels_path: str | Path, run_path: str | Path,
                          options: SearchOptions = SearchOptions()) -> dict[str, Any]:
    qrels = read_qrels(qrels_path)
    run = read_run(run_path)
    if not run:
        raise InputError("no results", run_path)
    result = retrieval_scores(qrels, run, options.k, run_path=run_path)
    return {**result, "qrels": str(qrels_path), "run": str(run_path)}
