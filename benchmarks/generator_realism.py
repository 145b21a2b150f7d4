"""How close are synthetic wafer maps to real WM-811K maps? Statistics per class, side by side.

    python benchmarks/generator_realism.py                        # 300 synthetic maps per class, seed 0
    python benchmarks/generator_realism.py --png realism.png      # and a picture: real row vs synthetic row
    python benchmarks/generator_realism.py --n 1000 --seed 1 --json realism.json
    python benchmarks/generator_realism.py --speed 5000             # also maps per second, serial and bulk

For each of the nine classes, real (the public split of `shared/data/wm811k-real`)
against synthetic (`fabsight.wafer.synth.generate(<class>)`):

* map size: median rows x cols;
* fail share of on-wafer dies: p10 / median / p90;
* fail rate by radius in 5 rings, centre to edge (distance from the grid centre over
  half the longer side, as in the data set's README), averaged over maps;
* swing: how far a map's own 5-ring fail rates spread (highest minus lowest), median: an
  average profile can be flat while every map has a dense disc, rim or band somewhere else;
* rim: fail rate of the outermost ring of dies (one die deep), median over maps;
* clump: share of a map's failing dies in its largest 8-connected cluster, median;
* thick: that cluster's thickness in dies, its area over its length along its principal
  axis, median (a one-die line is about 1; real scratches are often two dies wide);
* where: that cluster's centroid, its distance from the grid centre over half the longer
  side (0 centre, about 1 rim), median;
* distances: Kolmogorov-Smirnov statistic between the real and synthetic per-map
  values of fail share (KS fail), swing (KS swing), rim (KS rim), clump (KS clump), thick
  (KS thick) and where (KS where), and the mean
  absolute difference of the two 5-ring profiles (L1 radial). 0 is identical.

The real maps are only measured here; the generator never reads them.

`--speed N` times `generate("any", N)` (one process, full `Sample` objects) and
`generate_grids("any", N)` (the bulk path: all cores, grid + truth) and prints
maps per second; "mixed" maps (two to four patterns) are timed as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.wafer.synth import CLASSES, generate, generate_grids

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wm811k-real" / "public.npz"
RINGS = 5
COLOURS = np.array([[255, 255, 255], [150, 205, 150], [205, 30, 30]], dtype=np.uint8)  # off, pass, fail


def load_real(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    data = np.load(path)
    maps = [m[:h, :w] for m, (h, w) in zip(data["maps"], data["shapes"])]
    return maps, data["labels"]


def radial_profile(grid: np.ndarray) -> np.ndarray:
    """Fail rate in RINGS rings of equal width; radius = distance from the grid centre / half the longer side."""
    h, w = grid.shape
    half = max(h, w) / 2
    yy = (np.arange(h) + 0.5 - h / 2) / half
    xx = (np.arange(w) + 0.5 - w / 2) / half
    ring = np.minimum((np.hypot(yy[:, None], xx[None, :]) * RINGS).astype(int), RINGS - 1)
    on, fail = grid > 0, grid == 2
    return np.array([fail[on & (ring == k)].mean() if (on & (ring == k)).any() else np.nan for k in range(RINGS)])


def rim_rate(grid: np.ndarray) -> float:
    on = np.pad(grid > 0, 1)
    depth = ndimage.distance_transform_cdt(on, metric="taxicab")[1:-1, 1:-1]
    rim = (grid > 0) & (depth == 1)
    return float((grid[rim] == 2).mean())


def largest_cluster(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the dies in the largest 8-connected failing cluster; empty without fails."""
    labels, count = ndimage.label(grid == 2, structure=np.ones((3, 3)))
    if count == 0:
        return np.empty(0, dtype=int), np.empty(0, dtype=int)
    return np.nonzero(labels == np.bincount(labels.ravel())[1:].argmax() + 1)


def clump(grid: np.ndarray, rows: np.ndarray) -> float:
    """Share of the failing dies in the largest cluster (`rows` of `largest_cluster`)."""
    return float(len(rows) / (grid == 2).sum()) if len(rows) else 0.0


def thickness(rows: np.ndarray, cols: np.ndarray) -> float:
    """Area over principal-axis length of the largest cluster (nan under 4 dies)."""
    if len(rows) < 4:
        return float("nan")
    spread = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]))).max()
    return len(rows) / (np.sqrt(12 * spread) + 1)  # a uniform line of n dies has variance (n^2 - 1) / 12


def centroid_radius(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    """Distance of the largest cluster's centroid from the grid centre over half the longer side (nan without)."""
    if len(rows) == 0:
        return float("nan")
    h, w = grid.shape
    half = max(h, w) / 2
    return float(np.hypot((rows.mean() + 0.5 - h / 2) / half, (cols.mean() + 0.5 - w / 2) / half))


def measure(maps: list[np.ndarray]) -> dict[str, np.ndarray]:
    clusters = [largest_cluster(m) for m in maps]  # labelled once per map, read by three statistics
    radial = np.array([radial_profile(m) for m in maps])  # (maps, RINGS)
    return {
        "rows": np.array([m.shape[0] for m in maps]), "cols": np.array([m.shape[1] for m in maps]),
        "fail": np.array([(m == 2).sum() / (m > 0).sum() for m in maps]),
        "radial": radial,
        "swing": np.nanmax(radial, axis=1) - np.nanmin(radial, axis=1),
        "rim": np.array([rim_rate(m) for m in maps]),
        "clump": np.array([clump(m, rows) for m, (rows, _) in zip(maps, clusters)]),
        "thick": np.array([thickness(rows, cols) for rows, cols in clusters]),
        "where": np.array([centroid_radius(m, rows, cols) for m, (rows, cols) in zip(maps, clusters)]),
    }


def known(*values: np.ndarray) -> list[np.ndarray]:
    """Each array without its nans (maps where a statistic is undefined)."""
    return [v[~np.isnan(v)] for v in values]


def ks(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.ks_2samp(a, b).statistic)


def row(name: str, source: str, m: dict[str, np.ndarray]) -> dict:
    p10, p50, p90 = np.percentile(m["fail"], [10, 50, 90])
    return {"class": name, "source": source, "maps": len(m["fail"]),
            "size": f"{np.median(m['rows']):.0f} x {np.median(m['cols']):.0f}",
            "fail p10 / p50 / p90": f"{p10:.3f} / {p50:.3f} / {p90:.3f}",
            "fail by radius (5 rings)": " ".join(f"{v:.2f}" for v in np.nanmean(m["radial"], axis=0)),
            "swing": float(np.median(m["swing"])), "rim": float(np.median(m["rim"])),
            "clump": float(np.median(m["clump"])),
            "thick": float(np.nanmedian(m["thick"])), "where": float(np.nanmedian(m["where"]))}


def tile(grid: np.ndarray, size: int):
    from PIL import Image

    return Image.fromarray(COLOURS[grid]).resize((size, size), Image.NEAREST)  # stretched round, as in examples.png


def picture(real: dict[str, list[np.ndarray]], synth: dict[str, list[np.ndarray]], path: Path, per_row: int,
            size: int, seed: int) -> None:
    from PIL import Image, ImageDraw

    label_w, gap = 150, 4
    width = label_w + per_row * (size + gap)
    height = len(CLASSES) * 2 * (size + gap)
    out = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    rng = np.random.default_rng(seed)
    y = 0
    for name in CLASSES:
        for source, maps in (("real", real[name]), ("synthetic", synth[name])):
            pick = rng.choice(len(maps), size=min(per_row, len(maps)), replace=False)
            draw.text((6, y + size // 2 - 6), f"{name} ({source})", fill=(0, 0, 0))
            for j, i in enumerate(pick):
                out.paste(tile(maps[i], size), (label_w + j * (size + gap), y))
            y += size + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (the bulk path's workers)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def speed(n: int, seed: int) -> None:
    generate("any", n=50, seed=seed)  # warm up imports and caches
    table = BenchmarkTable("Synthetic wafer-map generation speed",
                           ["spec", "path", "processes", "maps", "seconds", "maps/s", "maps per CPU-second"])
    workers = os.cpu_count() or 1
    for spec in ("any", "mixed"):
        for path, processes in (("generate (Sample objects)", 1), ("generate_grids (bulk)", workers)):
            wall, cpu = time.perf_counter(), _cpu_seconds()
            if processes == 1:
                count = len(generate(spec, n=n, seed=seed))
            else:
                count = sum(1 for _ in generate_grids(spec, n=n, seed=seed, workers=processes))
            wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
            table.add_row(spec=spec, path=path, processes=processes, maps=count, seconds=wall,
                          **{"maps/s": count / wall, "maps per CPU-second": count / cpu})
    table.note("Default sizes (median about 38 x 37 dies, 20 to 115 across); mixed = 2 to 4 patterns. Wall-clock "
               "and CPU time, one run each; on a busy machine trust the CPU column (maps/s scales with free cores).")
    table.report(model="fabsight.wafer.synth", seed=seed, data=f"{n} synthetic maps per row")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="synthetic maps per class (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", type=Path, default=REAL, help="the real maps (public.npz)")
    parser.add_argument("--png", type=Path, help="write a real-vs-synthetic picture here")
    parser.add_argument("--per-row", type=int, default=10, help="maps per row in the picture")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    parser.add_argument("--speed", type=int, metavar="N", help="also time the generation of N maps")
    args = parser.parse_args(argv)

    real_maps, labels = load_real(args.real)
    real = {name: [m for m, lab in zip(real_maps, labels) if lab == name] for name in CLASSES}
    synth = {name: [s.grid for s in generate(name, n=args.n, seed=args.seed)] for name in CLASSES}

    two_places = ["swing", "rim", "clump", "thick", "where", "KS fail", "KS swing", "KS rim", "KS clump", "KS thick",
                  "KS where"]
    table = BenchmarkTable("Synthetic vs real wafer maps, per class",
                           ["class", "source", "maps", "size", "fail p10 / p50 / p90", "fail by radius (5 rings)",
                            *two_places, "L1 radial"],
                           formats={**dict.fromkeys(two_places, "{:.2f}"), "L1 radial": "{:.3f}"})
    totals = []
    for name in CLASSES:
        r, s = measure(real[name]), measure(synth[name])
        distances = {"KS fail": ks(r["fail"], s["fail"]), "KS swing": ks(r["swing"], s["swing"]),
                     "KS rim": ks(r["rim"], s["rim"]),
                     "KS clump": ks(r["clump"], s["clump"]), "KS thick": ks(*known(r["thick"], s["thick"])),
                     "KS where": ks(*known(r["where"], s["where"])),
                     "L1 radial": float(np.nanmean(np.abs(np.nanmean(r["radial"], 0) - np.nanmean(s["radial"], 0))))}
        totals.append(list(distances.values()))
        table.add_row(row(name, "real", r))
        table.add_row(**row(name, "synthetic", s), **distances)
    mean = np.mean(totals, axis=0)
    table.add_row({"class": "all", "source": "mean distance", **dict(zip(distances, mean))})
    table.note("swing: a map's highest minus lowest ring fail rate; rim: fail rate of the outermost ring of dies; "
               "clump: share of failing dies in the largest 8-connected cluster; thick: that cluster's area over its "
               "principal-axis length, in dies; where: its centroid's distance from the centre over half the longer "
               "side (medians over maps). KS: Kolmogorov-Smirnov statistic between real and synthetic per-map "
               "values; L1 radial: mean absolute difference of the 5-ring profiles.")
    table.report(model="fabsight.wafer.synth", seed=args.seed, json_path=args.json,
                 data=f"real: {args.real.name} (public WM-811K split, {len(real_maps)} maps); "
                      f"synthetic: {args.n} per class")
    if args.png:
        picture(real, synth, args.png, args.per_row, 72, args.seed)
        print(f"\npicture: {args.png}", file=sys.stderr)
    if args.speed:
        print()
        speed(args.speed, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
