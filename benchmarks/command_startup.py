"""How long a command takes from start to answer, for one wafer: the time an engineer waits at the prompt.

    python benchmarks/command_startup.py                 # the shipped wafer-clip, 5 runs of each
    python benchmarks/command_startup.py --model PATH --repeats 3 --json out.json

Each run is a fresh process (`fabsight classify FILE --json`, then `fabsight
embed FILE --text ... --json`), so it pays for every import, as a user at a
shell does. Three ways, interleaved run by run so a busy moment slows all
alike: `--runtime torch` (the model in torch, as every command ran before
the towers were cached); `--runtime auto` with an empty ONNX cache (a
model's first use: it loads in torch and exports both towers); and
`--runtime auto` with the cache filled (the model loads from its graphs,
without importing torch or transformers). The first two use a cache
folder of this run's, so the user's own cache is neither read nor
changed. Medians of `--repeats` runs; answers are checked to agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.wafer.synth import generate_grids

WAYS = {"torch": ("torch", False), "first use (export)": ("auto", False), "cached graphs": ("auto", True)}


def run(command: list[str], cache: Path) -> tuple[float, dict]:
    """(wall seconds, parsed JSON) of one fresh process with XDG_CACHE_HOME at `cache`."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="wafer-clip", help="shipped name or model folder (default: wafer-clip)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args()

    fabsight = [sys.executable, "-m", "fabsight"]  # this interpreter's fabsight, whatever PATH holds
    work = Path(tempfile.mkdtemp(prefix="fabsight-startup-"))
    grid, _ = next(iter(generate_grids("edge-ring", n=1, seed=0)))
    np.save(work / "wafer.npy", grid)
    commands = {"classify": [*fabsight, "classify", str(work / "wafer.npy"), "--model", args.model, "--json"],
                "embed (image and a text)": [*fabsight, "embed", str(work / "wafer.npy"), "--model", args.model,
                                             "--text", "a ring of fails at the edge", "--json"]}
    warm = work / "warm-cache"
    for command in commands.values():  # fill the cached way's cache once, before any timing
        run([*command, "--runtime", "auto"], warm)
    times: dict[tuple[str, str], list[float]] = {}
    answers: dict[str, list[str]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            for way, (runtime, cached) in WAYS.items():
                cache = warm if cached else Path(tempfile.mkdtemp(dir=work))
                seconds, result = run([*command, "--runtime", runtime], cache)
                times.setdefault((name, way), []).append(seconds)
                if name == "classify":
                    answers[name].append(result["results"][0]["pattern"])
    shutil.rmtree(work, ignore_errors=True)

    table = BenchmarkTable("Command start to answer, one wafer",
                           ["command", "way", "runs", "seconds (median)", "x faster than torch"])
    for (name, way), seconds in times.items():
        median = statistics.median(seconds)
        table.add_row([name, way, len(seconds), median, statistics.median(times[name, "torch"]) / median])
    table.note(f"Every classify run gave the same pattern: {sorted(set(answers['classify']))}.")
    table.note("Wall clock of a fresh process each, imports included; 'first use' exports both towers to an empty "
               "cache, 'cached graphs' loads without torch or transformers.")
    table.report(model=args.model, data="one synthetic edge-ring map (generate_grids, seed 0)", seed=0,
                 json_path=args.json)


if __name__ == "__main__":
    main()
