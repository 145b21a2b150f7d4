"""Search quality on synthetic history and on the real WM-811K maps, and indexing speed in-process vs on Ray.

    python benchmarks/search_quality.py                       # 20,000 synthetic maps, the real public split
    python benchmarks/search_quality.py --history 2000 --no-ray

History: `--history` synthetic maps written as .npz files (80% one WM-811K
class or none, 20% MixedWM38 mixtures, seed `--seed`), indexed with
`fabsight.search.add_files` in-process and again on a local Ray instance
(`--workers`), which must give the same index. Queries never come from the
history: image queries are fresh maps (seed + 1), `--per-class` per class.

- image -> image: precision@10 = share of the 10 nearest whose true label
  equals the query's (macro mean over the nine classes).
- text -> image: each class named in two phrasings. precision@10 as above;
  recall is reported as R-precision (precision at R = the class's size,
  which equals recall at R), because recall@10 with thousands of relevant
  maps per class is at most 10/R and says nothing. A second precision@10
  also counts a mixture that holds the pattern ("edge ring" finding an
  edge ring with a scratch), the answer a user asking for it wants.
- composed: a fresh single-pattern map plus the text naming a second
  pattern; the share of the top 10 whose label holds both (the history's
  mixtures), against the image alone and the text alone.
- real maps: the public split indexed on its own; every map queries the rest
  (itself left out); text queries as above.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import PATTERN_NAMES, label_phrase
from fabsight.models.dual_encoder import DualEncoder, load_dual_encoder
from fabsight.search import IndexAddOptions, WaferIndex, add_files
from fabsight.search.filters import ids_clause
from fabsight.wafer.map import WaferMap
from fabsight.wafer.synth import iter_samples, write_samples

REAL = "../shared/data/wm811k-real/public.npz"
TEXT_FORMS = ("{}", "wafers with a {} pattern")
COMPOSED = (("Center", "Scratch"), ("Donut", "Scratch"), ("Edge-Ring", "Scratch"), ("Loc", "Scratch"),
            ("Edge-Loc", "Scratch"), ("Center", "Edge-Ring"), ("Donut", "Edge-Loc"), ("Loc", "Edge-Ring"))


def write_history(folder: Path, n: int, seed: int) -> int:
    mixed = n // 5
    write_samples(iter_samples("any", n - mixed, seed), folder / "single", png=False)
    write_samples(iter_samples("mixed", mixed, seed), folder / "mixed", png=False)
    return n


def labels_of(index: WaferIndex) -> dict[str, str]:
    table = index.table.search().select(["id", "label"]).limit(None).to_arrow()
    return dict(zip(table.column("id").to_pylist(), table.column("label").to_pylist()))


def precision_at(index: WaferIndex, vector: np.ndarray, wanted, k: int = 10, exclude: str | None = None) -> float:
    rows = index.nearest(vector, k, f"NOT ({ids_clause([exclude])})" if exclude else None)
    return sum(bool(wanted(row["label"])) for row in rows) / k


def r_precision(index: WaferIndex, vector: np.ndarray, label: str, counts: dict[str, int]) -> float:
    size = counts[label]
    rows = index.nearest(vector, size)
    return sum(row["label"] == label for row in rows) / size


def class_queries(n_per_class: int, seed: int) -> dict[str, list[WaferMap]]:
    return {name: [s.wafer for s in iter_samples(name, n_per_class, seed)]
            for name in PATTERN_NAMES}


def image_rows(encoder: DualEncoder, index: WaferIndex, queries: dict[str, list[WaferMap]]) -> dict[str, float]:
    per_class = {}
    for name, wafers in queries.items():
        vectors = encoder.embed_wafers(wafers)
        per_class[name] = float(np.mean([precision_at(index, v, lambda label, n=name: label == n) for v in vectors]))
    return per_class


def holds(label: str | None, name: str) -> bool:
    """Is `name` among a stored label's patterns ("Edge-Ring+Scratch" holds both)?"""
    return label is not None and name in label.split("+")


def text_rows(encoder: DualEncoder, index: WaferIndex, counts: dict[str, int]) -> tuple[float, float, float]:
    """(precision@10 of the exact label, precision@10 of maps holding the pattern, R-precision)."""
    p10, p10_holds, rprec = [], [], []
    for name in PATTERN_NAMES:
        if not counts.get(name):
            continue
        for form in TEXT_FORMS:
            vector = encoder.embed_texts([form.format(label_phrase(name))])[0]
            top = [row["label"] for row in index.nearest(vector, 10)]  # one search for both precisions
            p10.append(sum(label == name for label in top) / 10)
            p10_holds.append(sum(holds(label, name) for label in top) / 10)
            rprec.append(r_precision(index, vector, name, counts))
    return float(np.mean(p10)), float(np.mean(p10_holds)), float(np.mean(rprec))


def composed_rows(encoder: DualEncoder, index: WaferIndex, n: int, seed: int, weight: float) -> dict[str, float]:
    both = {"image": [], "text": [], "image + text": []}
    for first, second in COMPOSED:
        text = encoder.embed_texts([label_phrase(second)])[0]
        for vector in encoder.embed_wafers([s.wafer for s in iter_samples(first, n, seed)]):
            combined = vector + weight * text
            def has_both(label, a=first, b=second):
                return holds(label, a) and holds(label, b)
            queries = (("image", vector), ("text", text), ("image + text", combined / np.linalg.norm(combined)))
            for name, query in queries:
                both[name].append(precision_at(index, query, has_both))
    return {name: float(np.mean(values)) for name, values in both.items()}


def real_rows(encoder: DualEncoder, folder: Path, path: str, limit: int) -> tuple[dict[str, float], float, float, int]:
    index_dir = folder / "real-index"
    add_files([path], IndexAddOptions(index=str(index_dir)), encoder=encoder)
    index = WaferIndex.open(index_dir)
    table = index.table.search().select(["id", "label", "vector"]).limit(None).to_arrow()
    ids, labels = table.column("id").to_pylist(), table.column("label").to_pylist()
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
    counts = {name: labels.count(name) for name in set(labels)}
    chosen = np.random.default_rng(0).permutation(len(ids))[:limit]
    per_class = defaultdict(list)
    for i in chosen:
        per_class[labels[i]].append(precision_at(index, vectors[i], lambda label, n=labels[i]: label == n,
                                                 exclude=ids[i]))
    p10, _, rprec = text_rows(encoder, index, counts)  # real maps carry one label each
    return {name: float(np.mean(v)) for name, v in per_class.items()}, p10, rprec, len(ids)


def index_speed(folder: Path, encoder: DualEncoder, workers: int, ray: bool) -> tuple[float, float, dict]:
    single_dir, ray_dir = folder / "index-single", folder / "index-ray"
    start = time.perf_counter()
    single = add_files([folder / "single", folder / "mixed"], IndexAddOptions(index=str(single_dir)), encoder=encoder)
    single_s = time.perf_counter() - start
    ray_s, same = float("nan"), {}
    if ray:
        start = time.perf_counter()
        add_files([folder / "single", folder / "mixed"], IndexAddOptions(index=str(ray_dir), ray=True, workers=workers))
        ray_s = time.perf_counter() - start
        same = compare(WaferIndex.open(single_dir), WaferIndex.open(ray_dir))
    return single["count"] / single_s, single["count"] / ray_s if ray else float("nan"), same


def compare(a: WaferIndex, b: WaferIndex) -> dict:
    columns = ["id", "pattern", "lot", "wafer_id", "source", "vector"]
    ta = a.table.search().select(columns).limit(None).to_arrow().sort_by("id")
    tb = b.table.search().select(columns).limit(None).to_arrow().sort_by("id")
    same_ids = ta.column("id").to_pylist() == tb.column("id").to_pylist()
    va = np.stack(ta.column("vector").to_numpy(zero_copy_only=False))
    vb = np.stack(tb.column("vector").to_numpy(zero_copy_only=False)) if same_ids else va
    return {"same ids": same_ids, "same metadata": all(ta.column(c).to_pylist() == tb.column(c).to_pylist()
                                                       for c in columns[1:-1]),
            "max vector difference": float(np.abs(va - vb).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="wafer-clip")
    parser.add_argument("--history", type=int, default=20000, help="synthetic maps in the history index")
    parser.add_argument("--per-class", type=int, default=40, help="fresh image queries per class")
    parser.add_argument("--real", default=REAL, help="real labelled maps (.npz); '' to skip")
    parser.add_argument("--real-queries", type=int, default=1000, help="real maps used as image queries")
    parser.add_argument("--text-weight", type=float, default=1.0, help="composed queries: text weight")
    parser.add_argument("--workers", type=int, default=2, help="local Ray workers")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--seed", type=int, default=5_000_011)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message="skipped .* not wafer maps")  # each folder's truth.jsonl
    encoder = load_dual_encoder(args.model)
    table = BenchmarkTable("Search quality and indexing speed", ["set", "measure", "value"])
    with tempfile.TemporaryDirectory(prefix="fabsight-search-") as tmp:
        folder = Path(tmp)
        write_history(folder, args.history, args.seed)
        single_rate, ray_rate, same = index_speed(folder, encoder, args.workers, not args.no_ray)
        table.add_row(["synthetic", "index add, in-process (maps/s)", single_rate])
        if not args.no_ray:
            table.add_row(["synthetic", f"index add, local Ray, {args.workers} workers (maps/s)", ray_rate])
            for name, value in same.items():
                table.add_row(["synthetic", f"Ray vs in-process: {name}", value])
        index = WaferIndex.open(folder / "index-single")
        labels = list(labels_of(index).values())
        counts = {name: labels.count(name) for name in set(labels)}
        per_class = image_rows(encoder, index, class_queries(args.per_class, args.seed + 1))
        table.add_row(["synthetic", "image->image precision@10 (macro)", float(np.mean(list(per_class.values())))])
        for name, value in per_class.items():
            table.add_row(["synthetic", f"  precision@10, {name}", value])
        p10, p10_holds, rprec = text_rows(encoder, index, counts)
        table.add_row(["synthetic", "text->image precision@10", p10])
        table.add_row(["synthetic", "text->image precision@10, mixtures holding the pattern count", p10_holds])
        table.add_row(["synthetic", "text->image R-precision (recall at R)", rprec])
        for name, value in composed_rows(encoder, index, 10, args.seed + 2, args.text_weight).items():
            table.add_row(["synthetic", f"composed: both patterns in top 10, {name}", value])
        if args.real and Path(args.real).exists():
            real_class, real_p10, real_rprec, n_real = real_rows(encoder, folder, args.real, args.real_queries)
            table.add_row(["real", "image->image precision@10 (macro)", float(np.mean(list(real_class.values())))])
            for name, value in sorted(real_class.items()):
                table.add_row(["real", f"  precision@10, {name}", value])
            table.add_row(["real", "text->image precision@10", real_p10])
            table.add_row(["real", "text->image R-precision (recall at R)", real_rprec])
            table.note(f"Real: {n_real} maps of {args.real}; {min(args.real_queries, n_real)} of them as image "
                       "queries, each against the others.")
    table.note("Labels are the data's own (generator truth, WM-811K labels), stored with each entry; the model "
               "never saw the real maps.")
    table.report(model=args.model, data=f"{args.history} synthetic maps (seed {args.seed}) and {args.real or 'none'}",
                 seed=args.seed, json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
