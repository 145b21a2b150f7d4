"""How many wafers are wider than the model's picture? Share of maps more than N dies across, per class.

Wider wafers lose rows of dies under nearest-neighbour sampling (the reason
`models/wafer_pixels.py` averages areas). Counted on the real maps and on
the generator's single-pattern maps, after cropping the off-wafer margin.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

import fabsight
from fabsight.evaluate.harness import BenchmarkTable
from fabsight.models.wafer_pixels import crop_to_wafer
from fabsight.wafer.synth import generate_grids


def width(grid: np.ndarray) -> int:
    return max(crop_to_wafer(np.asarray(grid)).shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", default="../shared/data/wm811k-real/public.npz")
    parser.add_argument("--n", type=int, default=2000, help="synthetic maps, generate_grids('any')")
    parser.add_argument("--size", type=int, default=48, help="the model's picture size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    widths: dict[tuple[str, str], list[int]] = defaultdict(list)
    for wafer in fabsight.load(args.real):
        widths["real", wafer.extra["label"]].append(width(wafer.display_grid()))
    for grid, truth in generate_grids("any", n=args.n, seed=args.seed):
        widths["synthetic", truth["label"]].append(width(grid))

    table = BenchmarkTable(f"Wafers more than {args.size} dies across", ["source", "class", "maps", "share wider"])
    for source in ("real", "synthetic"):
        every = [w for (s, _), ws in widths.items() if s == source for w in ws]
        table.add_row([source, "all", len(every), np.mean(np.array(every) > args.size)])
        for (s, label), ws in sorted(widths.items()):
            if s == source:
                table.add_row([source, label, len(ws), np.mean(np.array(ws) > args.size)])
    table.report(model="-", data=f"{args.real}; {args.n} synthetic maps", seed=args.seed)


if __name__ == "__main__":
    main()
