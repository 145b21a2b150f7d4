"""Seconds per wafer-clip training step in one process against several (`fabsight train clip --processes`).

    python benchmarks/train_processes.py                      # 1 and 2 processes, 3 short runs each
    python benchmarks/train_processes.py --processes 1 2 --steps 160 --repeats 5 --json out.json

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
import os
import statistics
import tempfile
from dataclasses import fields

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.train.clip_train import ClipTrainOptions, train_clip

KINDS = ("class prompts", "captions")


def _quiet(text: str) -> None:
    """The runs report nothing: the table is the report (a named function, so training processes can take it)."""


def full_schedule() -> tuple[int, int]:
    """(class-prompt steps, caption steps) of a default `fabsight train clip` run."""
    defaults = {f.name: f.default for f in fields(ClipTrainOptions)}
    return defaults["class_warmup_steps"], defaults["steps"] - defaults["class_warmup_steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    medians: dict[int, dict[str, list[float]]] = {n: {kind: [] for kind in KINDS} for n in args.processes}
    with tempfile.TemporaryDirectory(prefix="fabsight-train-bench-") as work:
        for _ in range(args.repeats):
            for n in args.processes:
                options = ClipTrainOptions(out=f"{work}/m{n}", processes=n, steps=args.steps,
                                           class_warmup_steps=args.steps // 2, train_single=4000, train_mixed=1200)
                record = train_clip(options, log=_quiet)
                for kind in KINDS:
                    medians[n][kind].append(record["median_step_seconds"][kind])

    prompt_steps, caption_steps = full_schedule()
    table = BenchmarkTable("wafer-clip training step, one process against several",
                           ["processes", "runs", "s / step, class prompts", "s / step, captions",
                            "full schedule, minutes", f"x faster than {args.processes[0]} process(es)"])
    baseline = None
    for n in args.processes:
        prompt, caption = (statistics.median(medians[n][kind]) for kind in KINDS)
        minutes = (prompt_steps * prompt + caption_steps * caption) / 60
        baseline = baseline or minutes
        table.add_row([n, args.repeats, prompt, caption, minutes, baseline / minutes])
    table.note(f"Each run: {args.steps} steps of 128 maps ({args.steps // 2} on class prompts, then captions), the "
               "shipped shape, 4000 single and 1200 mixed maps; per run the median step of each phase, then the "
               f"median over runs. 'full schedule': {prompt_steps} class-prompt and {caption_steps} caption steps at "
               "those speeds, without drawing, calibrating and measuring.")
    table.note(f"Load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (other work slows every row).")
    table.report(model="wafer-clip (shipped shape, untrained)", data="synthetic maps, seed 0", seed=0,
                 json_path=args.json)


if __name__ == "__main__":
    main()
