"""Seconds per wafer-clip training step: one process against several, and MLP widths (`--processes`, `--mlp-ratio`).

    python benchmarks/train_processes.py                      # 1 and 2 processes, 3 short runs each
    python benchmarks/train_processes.py --processes 1 2 --steps 160 --repeats 5 --json out.json
    python benchmarks/train_processes.py --processes 1 --mlp-ratios 4 2   # the MLP 4 and 2 times the width

Short runs of the shipped shape and batch (the first half of the steps on
class prompts, the rest with captions, as a full run's two phases), on a
smaller draw of maps, interleaved run by run so a slow moment of the
machine slows every way alike. Each run's median step time per phase comes
from its training record; the table gives medians over runs and what the
full 7500-step schedule would take at those speeds (drawing, calibration
and measuring not counted).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.train.clip_train import ClipTrainOptions, train_clip

KINDS = ("class prompts", "captions")


def _quiet(text: str) -> None:
    """The runs report nothing: the table is the report (a named function, so training processes can take it)."""


def full_schedule() -> tuple[int, int]:
    """(class-prompt steps, caption steps) of a default `fabsight train clip` run."""
    defaults = ClipTrainOptions()
    return defaults.class_warmup_steps, defaults.steps - defaults.class_warmup_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--mlp-ratios", type=int, nargs="+", default=[ClipTrainOptions().mlp_ratio],
                        help="MLP widths to compare, as multiples of the transformer width (`--mlp-ratio`)")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    ways = list(itertools.product(args.processes, args.mlp_ratios))  # (processes, MLP ratio)
    medians: dict[tuple[int, int], dict[str, list[float]]] = {way: {kind: [] for kind in KINDS} for way in ways}
    with tempfile.TemporaryDirectory(prefix="fabsight-train-bench-") as work:
        for _ in range(args.repeats):
            for n, ratio in ways:
                options = ClipTrainOptions(out=f"{work}/m{n}-{ratio}", processes=n, mlp_ratio=ratio,
                                           steps=args.steps, class_warmup_steps=args.steps // 2,
                                           train_single=4000, train_mixed=1200)
                record = train_clip(options, log=_quiet)
                for kind in KINDS:
                    medians[n, ratio][kind].append(record["median_step_seconds"][kind])

    prompt_steps, caption_steps = full_schedule()
    table = BenchmarkTable("wafer-clip training step by processes and MLP ratio",
                           ["processes", "MLP ratio", "runs", "s / step, class prompts", "s / step, captions",
                            "full schedule, minutes", "x faster than the first row"])
    baseline = None
    for n, ratio in ways:
        prompt, caption = (statistics.median(medians[n, ratio][kind]) for kind in KINDS)
        minutes = (prompt_steps * prompt + caption_steps * caption) / 60
        baseline = baseline or minutes
        table.add_row([n, ratio, args.repeats, prompt, caption, minutes, baseline / minutes])
    table.note(f"Each run: {args.steps} steps of 128 maps ({args.steps // 2} on class prompts, then captions), the "
               "shipped shape but for the MLP ratio, 4000 single and 1200 mixed maps; per run the median step of "
               f"each phase, then the median over runs. 'full schedule': {prompt_steps} class-prompt and "
               f"{caption_steps} caption steps at those speeds, without drawing, calibrating and measuring.")
    table.note(f"Load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (other work slows every row).")
    table.report(model="wafer-clip (shipped shape, untrained)", data="synthetic maps, seed 0", seed=0,
                 json_path=args.json)


if __name__ == "__main__":
    main()
