"""Image-embedding throughput: fabsight's batched path against the usual one-map-at-a-time loop.

    python benchmarks/embed_throughput.py                          # the shipped wafer-clip
    python benchmarks/embed_throughput.py --model PATH --n 4000    # any saved CLIP / SigLIP folder
    python benchmarks/embed_throughput.py --threads 1 --json out.json
    python benchmarks/embed_throughput.py --against OLD_MODEL_DIR --repeats 7   # two models, interleaved runs
    python benchmarks/embed_throughput.py --runtime torch          # the image encoder in torch only

Both paths embed the same synthetic maps (`generate_grids("any")`) in the
same run. The naive loop is the tutorial code: render each map to a picture
(`fabsight.wafer.render.render`), run the model's `image_processor` and
`get_image_features` on it alone under `torch.no_grad()`. The batched path
is `DualEncoder.embed_wafers`: vectorised die-grid pixels and batched
forward passes, in ONNX Runtime by default (`--runtime`); where that is so,
the same path with the torch model runs too, interleaved, for a paired
ratio. Their vectors differ (the
picture has a title, margins and grid lines; the model was trained on the
batched path's pixels), so only speed is compared. The batched time is the
median of `--repeats` runs; the naive loop runs once over `--naive-n` maps.
"CPU s / 1000 maps" is process CPU time (all threads): a busy machine
slows the wall clock more than it changes this.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.models.dual_encoder import DualEncoder, load_dual_encoder
from fabsight.models.loading import projected
from fabsight.models.onnx_towers import RUNTIMES
from fabsight.tasks.zero_shot import CLASS_VIEWS
from fabsight.wafer.map import WaferMap
from fabsight.wafer.synth import generate_grids


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def naive(encoder: DualEncoder, wafers: list[WaferMap]) -> np.ndarray:
    import torch

    from fabsight.wafer.render import render

    vectors = []
    for wafer in wafers:
        picture = render(wafer).convert("RGB")
        pixel_values = encoder.image_processor(images=picture, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            features = projected(encoder.model.get_image_features(pixel_values=pixel_values))
        vectors.append(torch.nn.functional.normalize(features, dim=-1)[0].numpy())
    return np.stack(vectors)


def row(method: str, batch: int, maps: int, wall: float, cpu: float) -> dict:
    return {"method": method, "batch": batch, "maps": maps, "seconds": wall, "maps/s": maps / wall,
            "CPU s / 1000 maps": 1000 * cpu / maps}


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="wafer-clip", help="shipped name or model folder (default: wafer-clip)")
    parser.add_argument("--n", type=int, default=2000, help="maps for the batched path")
    parser.add_argument("--naive-n", type=int, default=300, help="maps for the naive loop (the first of the same)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", default=None, help="another model to time embed_wafers on, interleaved")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES, help="what runs the encoders")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    encoder = load_dual_encoder(args.model, args.runtime)
    runtime = "onnx" if encoder.image_tower is not None else "torch"
    contenders = [(f"fabsight: embed_wafers (batched, {runtime})", encoder)]
    if runtime == "onnx":
        contenders.append(("the same, image encoder in torch", load_dual_encoder(args.model, "torch")))
    if args.against:
        contenders.append((f"the same, model {args.against}", load_dual_encoder(args.against, args.runtime)))
    wafers = [WaferMap(grid) for grid, _ in generate_grids("any", n=args.n, seed=args.seed)]
    load_before = load_average()
    for _, contender in contenders:  # warm-up: first-call allocations
        contender.embed_wafers(wafers[:args.batch_size], args.batch_size)
    naive(encoder, wafers[:5])

    table = BenchmarkTable("Wafer-map image embedding throughput",
                           ["method", "batch", "maps", "seconds", "maps/s", "CPU s / 1000 maps"])
    naive_maps = wafers[:args.naive_n]
    table.add_row(row("naive: render, image processor, model, one map at a time", 1, len(naive_maps),
                      *timed(lambda: naive(encoder, naive_maps))))
    runs: list[list[tuple[float, float]]] = [[] for _ in contenders]
    for _ in range(args.repeats):  # interleaved: a busy moment slows every contender alike
        for (_, contender), times in zip(contenders, runs):
            times.append(timed(lambda timed_one=contender: timed_one.embed_wafers(wafers, args.batch_size)))
    for (method, _), times in zip(contenders, runs):
        table.add_row(row(method, args.batch_size, len(wafers), *sorted(times)[len(times) // 2]))
    # What `fabsight classify` embeds for the pattern classes: the mean of CLASS_VIEWS turned and mirrored views.
    table.add_row(row(f"fabsight classify's vectors: {CLASS_VIEWS} views averaged", args.batch_size, len(wafers),
                      *timed(lambda: encoder.embed_wafers(wafers, args.batch_size, views=CLASS_VIEWS))))
    table.add_ratio("maps/s", baseline=0, name="x naive")

    # Where the batched time goes: pixels (no model) and the forward pass alone, each once.
    pixel_wall, _ = timed(lambda: [encoder.wafer_pixels(wafers[i:i + args.batch_size])
                                   for i in range(0, len(wafers), args.batch_size)])
    pixels = [encoder.wafer_pixels(wafers[i:i + args.batch_size]) for i in range(0, len(wafers), args.batch_size)]
    forward_wall, _ = timed(lambda: [encoder.image_features(p) for p in pixels])
    table.note(f"Batched path split: pixels {len(wafers) / pixel_wall:,.0f} maps/s, model forward ({runtime}) "
               f"{len(wafers) / forward_wall:,.0f} maps/s.")
    table.note(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); image size {encoder.image_size}; "
               f"load average {load_before} before, {load_average()} after (other work on the machine slows the "
               f"wall clock).")
    table.report(model=args.model, data=f"{args.n} synthetic maps, generate_grids('any'), naive loop on the first "
                 f"{len(naive_maps)}", seed=args.seed, json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
