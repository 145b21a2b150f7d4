"""How long does `fabsight train probe` take to fit its head? BLAS threads as the library sets them, against one.

    python benchmarks/probe_fit_speed.py        # wafer-clip's vectors of the real WM-811K maps; about 3 minutes

The head's fit (`fit_probe_head`: the pull chosen by 5-fold cross-validation
over `L2_GRID`, then the final fit) is timed on the same vectors with
`probe_fit.BLAS_THREADS` left to the BLAS library (the baseline: what ran
before the limit) and set to 1 (what ships). torch is loaded and has run,
as in `train probe`, so its thread pool sits beside the BLAS library's.
Both runs must choose the same pull and agree on (nearly) every map.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.tasks.zero_shot import CLASS_VIEWS
from fabsight.train import probe_fit
from fabsight.train.probe import fit_probe_head, zero_shot_head
from probe_adaptation import REAL


def timed_fit(vectors: np.ndarray, y: np.ndarray, prior, threads: int | None, repeats: int):
    """The best of `repeats` wall times of one cross-validated fit, and its head and chosen pull."""
    probe_fit.BLAS_THREADS = threads
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        head, l2 = fit_probe_head(vectors, y, len(PATTERN_NAMES), prior, None)
        times.append(time.perf_counter() - started)
    return min(times), head, l2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="wafer-clip")
    parser.add_argument("--real", default=REAL, help="labelled maps (WM-811K style .npz)")
    parser.add_argument("--repeats", type=int, default=1, help="fits per setting; the fastest counts")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import fabsight
    from threadpoolctl import threadpool_info

    wafers = list(fabsight.load(args.real))
    y = np.array([PATTERN_NAMES.index(w.extra["label"]) for w in wafers])
    encoder = load_dual_encoder(args.model, "torch")  # torch's thread pool started, as in `train probe`
    vectors = encoder.embed_wafers(wafers, 256, CLASS_VIEWS)
    prior = zero_shot_head(encoder, list(PATTERN_NAMES))
    pools = ", ".join(f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpool_info())

    shipped = probe_fit.BLAS_THREADS
    base_seconds, base_head, base_l2 = timed_fit(vectors, y, prior, None, args.repeats)
    seconds, head, l2 = timed_fit(vectors, y, prior, shipped, args.repeats)
    probe_fit.BLAS_THREADS = shipped
    table = BenchmarkTable("Fitting a probe's head: BLAS threads", ["BLAS threads", "maps", "seconds", "x baseline",
                                                                    "chosen l2", "training accuracy"],
                           formats={"seconds": "{:.2f}", "x baseline": "{:.1f}", "chosen l2": "{:g}",
                                    "training accuracy": "{:.4f}"})
    for name, s, h, pull in (("library's own (baseline)", base_seconds, base_head, base_l2),
                             (f"{shipped} (shipped)", seconds, head, l2)):
        table.add_row({"BLAS threads": name, "maps": len(y), "seconds": s,
                       "x baseline": base_seconds / s, "chosen l2": pull,
                       "training accuracy": float((h.predict(vectors) == y).mean())})
    same = float((head.predict(vectors) == base_head.predict(vectors)).mean())
    table.note(f"One fit: the pull chosen by 5-fold cross-validation over {len(probe_fit.L2_GRID)} values, then "
               f"the head on every map ({len(probe_fit.L2_GRID) * 5 + 1} L-BFGS fits), on the mean of "
               f"{CLASS_VIEWS} views' vectors; best of {args.repeats}. Thread pools in the process: {pools}. "
               f"The two heads give the same class on {same:.4f} of the maps.")
    table.report(model=args.model, data=f"{args.real} ({len(y)} maps)", seed="-", json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
