"""`fabsight generate`: synthetic wafer maps with ground truth, from a text spec."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.cli.app import Command
from fabsight.cli.display import message, percent, table
from fabsight.errors import InputError
from fabsight.options import option
from fabsight.progress import track
from fabsight.wafer.synth import TRUTH_FILE, iter_samples, parse_spec, write_samples

SPEC_HELP = ("what to draw, e.g. \"edge ring with a scratch, 12%% fail\", \"donut, 40 dies across\", "
             "\"mixed\"; default \"any\" (a random class per wafer)")


@dataclass(frozen=True, kw_only=True)
class GenerateOptions:
    spec: str | None = option(SPEC_HELP, "any", positional=True, nargs="?", metavar="SPEC")
    n: int = option("number of wafer maps", 10, short="-n")
    seed: int = option("random seed: the same seed and spec give the same maps", 0)
    out: str = option("folder for the .npz and .png files and truth.jsonl", "synthetic", short="-o")
    no_png: bool = option("write only .npz and truth.jsonl (faster)", False)


def run_generate(options: GenerateOptions) -> dict[str, Any]:
    spec = parse_spec(options.spec)  # checked before anything is written
    if options.n < 1:
        raise InputError(f"-n must be 1 or more, not {options.n}")
    if options.seed < 0:
        raise InputError(f"--seed must be 0 or more, not {options.seed}")
    out = Path(options.out)
    samples = track(iter_samples(spec, options.n, options.seed), "generating", total=options.n)
    files = write_samples(samples, out, png=not options.no_png)
    counts = Counter(row["label"] for row in files)
    yields = [row["yield"] for row in files]
    return {
        "spec": spec.describe(), "count": len(files), "seed": options.seed, "out": str(out),
        "truth": str(out / TRUTH_FILE),
        "patterns": {label: {"count": count,
                             "mean_yield": sum(r["yield"] for r in files if r["label"] == label) / count}
                     for label, count in sorted(counts.items())},
        "yield": {"mean": sum(yields) / len(yields), "min": min(yields), "max": max(yields)},
        "files": files,
    }


def show_generate(result: dict) -> None:
    rows = [(label, item["count"], percent(item["mean_yield"])) for label, item in result["patterns"].items()]
    table(None, ("pattern", "maps", "mean yield"), rows, right=("maps", "mean yield"))
    y = result["yield"]
    message(f"{result['count']} wafer map(s) written to {result['out']} (yield {percent(y['min'])} to "
            f"{percent(y['max'])}); ground truth in {result['truth']}")


COMMAND = Command("generate", "synthetic wafer maps (WM-811K classes and mixtures) with ground truth, from a text spec",
                  GenerateOptions, run_generate, show_generate)
