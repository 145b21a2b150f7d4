"""Caption metrics with the standard (Java PTB) tokenizer and with the pure-Python approximation.

A small example of the benchmark harness, and the measure of how far the
no-Java fallback is from the standard numbers on synthetic wafer captions:

    python benchmarks/caption_metrics.py --n 500 --seed 0 [--json out.json]
"""

from __future__ import annotations

import argparse
import random
import time

from fabsight.evaluate.captions import METRICS, CaptionOptions, score_captions
from fabsight.evaluate.harness import BenchmarkTable

PATTERNS = ["edge ring", "edge-ring", "scratch", "center cluster", "donut", "near-full failure", "local cluster"]
PLACES = ["at the edge", "near the centre", "in the upper left", "from the notch to the centre", "across the wafer"]
EXTRAS = ["about 8% of dies lost", "yield is 78%", "it's likely a probe mark", "(bin 7)", "wafer’s edge", ""]


def caption(rng: random.Random) -> str:
    text = f"{rng.choice(['A', 'The', 'This'])} wafer {rng.choice(['has', 'shows'])} a {rng.choice(PATTERNS)} " \
           f"{rng.choice(PLACES)}{rng.choice([', ', ' '])}{rng.choice(EXTRAS)}".strip(" ,")
    return text + rng.choice([".", "", "!"])


def make_pairs(n: int, seed: int) -> tuple[dict[str, list[str]], dict[str, str]]:
    rng = random.Random(seed)
    refs = {str(i): [caption(rng) for _ in range(rng.randint(1, 5))] for i in range(n)}
    preds = {}
    for key, captions in refs.items():
        words = rng.choice(captions).split()
        for _ in range(rng.randint(0, 3)):
            if len(words) > 1:
                del words[rng.randrange(len(words))]
        preds[key] = " ".join(words) if rng.random() > 0.03 else ""
    return refs, preds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="caption pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args(argv)
    refs, preds = make_pairs(args.n, args.seed)
    table = BenchmarkTable(f"Caption metrics on {args.n} synthetic pairs: standard vs Python tokenizer",
                           ["tokenizer", *METRICS, "seconds"])
    for tokenizer in ("ptb", "python"):
        start = time.perf_counter()
        result = score_captions(refs, preds, CaptionOptions(tokenizer=tokenizer))
        table.add_row(tokenizer=tokenizer, seconds=time.perf_counter() - start, **{m: result[m] for m in METRICS})
    table.add_ratio("CIDEr", baseline={"tokenizer": "ptb"}, name="CIDEr / standard")
    table.note("seconds include METEOR's Java start-up (about 8 s) in both rows.")
    table.report(model="none (synthetic predictions: references with words dropped)",
                 data=f"{args.n} synthetic wafer captions, 1-5 references each", seed=args.seed, json_path=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
