"""Sampling wafers with their ground truth, reproducibly, and writing them to disk.

Sample `i` of seed `s` for a spec is drawn from
`numpy.random.default_rng([s, i, spec.key()])` alone, so it is the same
whether 1 or 10 000 samples are made, in any order or in parallel; specs
that mean the same ("ring", "edge ring") give the same maps, and different
specs with the same seed do not share sizes or background fails. Every count in the truth (dies, failing dies, yield,
failing dies per pattern) is counted from the final grid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import InputError
from fabsight.files import atomic_write, ensure_folder
from fabsight.knowledge.patterns import MIXTURE
from fabsight.wafer.map import FAIL, OFF, PASS, WaferMap
from fabsight.wafer.synth.legibility import legibility
from fabsight.wafer.synth.noise import Background, draw_background, expected_fail_share, sample_fails, solve_scale
from fabsight.wafer.synth.patterns import PATTERNS, Layer
from fabsight.wafer.synth.shapes import Geometry, location, make_geometry, sample_size
from fabsight.wafer.synth.spec import Spec, canonical, class_name, parse_spec

TRUTH_FILE = "truth.jsonl"


@dataclass
class Sample:
    """One synthetic wafer: the map (with `extra["truth"]`) and its JSON-ready ground truth."""

    wafer: WaferMap
    truth: dict[str, Any]

    @property
    def label(self) -> str:
        return self.truth["label"]

    @property
    def grid(self) -> np.ndarray:
        return self.wafer.grid


def label_of(names: Sequence[str]) -> str:
    """'Edge-Ring+Scratch' for a mixture (MixedWM38 style), 'none' for no pattern."""
    names = [n for n in canonical(names) if n != "none"]
    return MIXTURE.join(names) if names else "none"


def rng_for(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of sample `index` of `seed` (and `stream`, e.g. a spec's key): independent of the others."""
    if seed < 0 or index < 0:
        raise InputError(f"seed and index must be 0 or more, not {seed} and {index}")
    return np.random.default_rng([int(seed), int(index), int(stream)])


def _combine(layers: Sequence[Layer], shape: tuple[int, int]) -> np.ndarray:
    keep = np.ones(shape, dtype=np.float32)  # probability that no pattern fails the die
    for layer in layers:
        keep *= 1.0 - layer.prob
    return 1.0 - keep


def _pattern_truth(geo: Geometry, layer: Layer, failing: np.ndarray) -> dict[str, Any]:
    dies = int(np.count_nonzero(layer.footprint))
    fails = int(np.count_nonzero(layer.footprint & failing))
    rows, cols = np.nonzero(layer.footprint & failing) if fails else np.nonzero(layer.footprint)
    whole = layer.name in ("Near-full", "Random") or layer.params.get("coverage_deg") == 360.0 and \
        layer.name == "Edge-Ring"  # spread over the wafer or the whole rim: a centroid would only say "center"
    centroid = location(geo, *geo.to_physical(float(rows.mean()), float(cols.mean()))) \
        if len(rows) and not whole else None
    return {"name": layer.name, **layer.params, "dies": dies, "fails": fails,
            "density": round(fails / dies, 4) if dies else 0.0, "centroid": centroid}


MAX_DRAWS = 12  # then the most legible draw is kept (a fail target can bury any pattern), marked "legible": false


@dataclass
class _Draw:
    geo: Geometry
    layers: list[Layer]
    pattern_prob: np.ndarray
    background: Background
    scale: float
    failing: np.ndarray
    legibility: float


def _draw(names: list[str], rng: np.random.Generator, fail: float | None,
          size: tuple[int | None, int | None] | str | None) -> _Draw:
    """One attempt at a wafer: geometry, pattern layers, background and the failing dies."""
    rows, cols = sample_size(rng, size)
    geo = make_geometry(rows, cols, rng)
    layers = [PATTERNS[name](geo, rng) for name in names]
    pattern_prob = _combine(layers, geo.shape)  # (rows, cols)
    background = draw_background(geo, rng, tuple(names))
    scale = 1.0 if fail is None else solve_scale(pattern_prob, background.prob, geo.on, fail)
    failing = sample_fails(pattern_prob, background, scale, geo.on, rng)
    return _Draw(geo, layers, pattern_prob, background, scale, failing, legibility(geo, layers, failing))


def sample(pattern_names: str | Sequence[str], rng: np.random.Generator, *, fail: float | None = None,
           size: tuple[int | None, int | None] | str | None = None, **identity: Any) -> Sample:
    """One wafer with the given pattern(s) ("Edge-Ring", ["Center", "Scratch"], "none" or []).

    `fail` asks for a fail share (0..1): the background is scaled so the
    expected share meets it (or dropped to nothing when the patterns alone
    exceed it); the truth records the target and what came out. `size` is
    (rows, cols) with either None, a size word ("small") or None (random).
    `identity` (index, seed, spec) is copied into the truth. A draw whose
    patterns do not stand out from the background fails is drawn again
    (`legibility.py`); truth["legible"] is False when none of MAX_DRAWS did.
    """
    names = [pattern_names] if isinstance(pattern_names, str) else list(pattern_names)
    names = [n for n in canonical(class_name(n) for n in names) if n != "none"]
    if fail is not None and not 0.0 <= fail <= 1.0:
        raise InputError(f"a fail share must be between 0 and 1, not {fail}")
    best = _draw(names, rng, fail, size)
    for _ in range(MAX_DRAWS - 1):  # redraw until every pattern stands out from the background fails
        if best.legibility >= 1.0:
            break
        draw = _draw(names, rng, fail, size)
        best = draw if draw.legibility > best.legibility else best
    geo, layers, pattern_prob, background = best.geo, best.layers, best.pattern_prob, best.background
    scale, failing = best.scale, best.failing
    grid = np.where(geo.on, np.where(failing, FAIL, PASS), OFF).astype(np.uint8)

    dies = int(np.count_nonzero(geo.on))
    fails = int(np.count_nonzero(failing))
    in_patterns = np.zeros(geo.shape, dtype=bool)
    for layer in layers:
        in_patterns |= layer.footprint
    truth: dict[str, Any] = {
        **identity,
        "label": label_of(names),
        "classes": list(names) or ["none"],
        "mixed": len(names) > 1,
        "patterns": [_pattern_truth(geo, layer, failing) for layer in layers],
        "rows": geo.shape[0], "cols": geo.shape[1], "dies": dies, "fails": fails,
        "yield": (dies - fails) / dies,
        "fail_share": fails / dies,
        "target_fail": fail,
        "expected_fail": round(expected_fail_share(pattern_prob, background.prob, geo.on, scale), 4),
        "die_aspect": round(geo.die_aspect, 3),
        "legible": bool(best.legibility >= 1.0),
        "background": {**background.params(scale), "fails": int(np.count_nonzero(failing & ~in_patterns))},
    }
    wafer = WaferMap(grid=grid, lot="synthetic", wafer_id=_wafer_id(identity), product=None,
                     source=None, extra={"truth": truth})
    return Sample(wafer=wafer, truth=truth)


def _wafer_id(identity: dict[str, Any]) -> str | None:
    """'s3-5d41402a-00012': seed, what the spec means, index. Two specs drawn with one seed never share an id."""
    if "index" not in identity:
        return None
    meaning = f"-{identity['spec_key']:08x}" if "spec_key" in identity else ""
    return f"s{identity.get('seed', 0)}{meaning}-{identity['index']:05d}"


def _as_spec(spec: str | Spec | None) -> Spec:
    return spec if isinstance(spec, Spec) else parse_spec(spec)


def sample_at(spec: str | Spec, seed: int, index: int) -> Sample:
    """Sample `index` of `seed` for `spec`: the same wherever and whenever it is drawn."""
    spec = _as_spec(spec)
    rng = rng_for(seed, index, spec.key())
    names = spec.choose(rng)
    return sample(names, rng, fail=spec.fail, size=spec.size, index=index, seed=seed, spec=spec.text,
                  spec_key=spec.key())


def iter_samples(spec: str | Spec = "any", n: int = 1, seed: int = 0, start: int = 0) -> Iterator[Sample]:
    """Samples start .. start+n-1, one at a time."""
    spec = _as_spec(spec)
    if n < 0:
        raise InputError(f"the number of samples must be 0 or more, not {n}")
    for index in range(start, start + n):
        yield sample_at(spec, seed, index)


def generate(spec: str | Spec = "any", n: int = 1, seed: int = 0, start: int = 0) -> list[Sample]:
    """`n` wafers for a text spec ("edge ring with a scratch, 12% fail"; "any" for a random class each)."""
    return list(iter_samples(spec, n, seed, start))


# --- the bulk path for training -------------------------------------------------------
def _grids_chunk(args: tuple[Spec, int, int, int]) -> list[tuple[np.ndarray, dict]]:
    spec, seed, start, n = args
    return [(s.grid, s.truth) for s in iter_samples(spec, n, seed, start)]


def generate_grids(spec: str | Spec = "any", n: int = 1000, seed: int = 0, start: int = 0,
                   workers: int | None = None, chunk: int = 256) -> Iterator[tuple[np.ndarray, dict]]:
    """(grid, truth) pairs in index order, drawn by `workers` processes (default: all cores).

    The result is identical to `iter_samples` for any number of workers:
    each sample depends only on (seed, index).
    """
    spec = _as_spec(spec)
    workers = workers or os.cpu_count() or 1
    jobs = [(spec, seed, i, min(chunk, start + n - i)) for i in range(start, start + n, chunk)]
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield from _grids_chunk(job)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_grids_chunk, jobs):
            yield from part


# --- writing ------------------------------------------------------------------------------
def file_stem(truth: dict[str, Any]) -> str:
    """'00012_edge-ring_scratch': index and label, safe on every file system."""
    return f"{truth.get('index', 0):05d}_" + truth["label"].lower().replace(MIXTURE, "_")


def write_samples(samples: Iterable[Sample], out: str | Path, png: bool = True) -> list[dict[str, Any]]:
    """Write each sample as .npz (and .png) into `out` and all truths to `out/truth.jsonl`.

    Each truth line carries the file names (relative to `out`) under
    "files". truth.jsonl is replaced only once every map is written.
    Returns one row per sample: index, label, yield and the full paths.
    """
    from fabsight.wafer.npz import save_npz
    from fabsight.wafer.render import save_png

    out = ensure_folder(out)
    rows = []
    with atomic_write(out / TRUTH_FILE, "w") as handle:
        for item in samples:
            stem = file_stem(item.truth)
            files = {"npz": save_npz(item.wafer, out / f"{stem}.npz")}
            if png:
                files["png"] = save_png(item.wafer, out / f"{stem}.png")
            item.truth["files"] = {kind: Path(path).name for kind, path in files.items()}
            handle.write(json.dumps(item.truth, ensure_ascii=False) + "\n")
            rows.append({"index": item.truth.get("index"), "label": item.label, "yield": item.truth["yield"],
                         **{kind: str(path) for kind, path in files.items()}})
    return rows
