"""Background fails: the scattered failing dies every real wafer carries, pattern or not.

Real WM-811K maps labelled `none` have a median of about 7.6% failing dies:
scattered singles, some short runs along a row or column, more of them on
the outermost ring of dies, and a density that varies from wafer to wafer
(about 2% to 15%) and a little across each wafer. `Background` holds one
wafer's draw as a per-die probability; `scale` stretches it to reach a
requested fail share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabsight.wafer.synth.patterns import smooth_noise
from fabsight.wafer.synth.shapes import Geometry

RUN_LENGTHS = (2, 3, 4)  # dies in one background run
RUN_ODDS = (0.7, 0.25, 0.05)
# Wafers with a systematic pattern carry more scattered fails too, as real ones do (WM-811K: the fail rate
# away from the pattern is highest on Loc and Center wafers, about none's level on Edge-Ring wafers).
BUSIER = {"Center": 1.25, "Donut": 1.5, "Edge-Loc": 1.1, "Edge-Ring": 1.0, "Loc": 1.2, "Scratch": 1.0}


@dataclass
class Background:
    prob: np.ndarray  # (rows, cols) float32 expected background fail share per die (0 off-wafer)
    density: float  # interior fail probability drawn for this wafer
    edge: float  # extra fail probability on the outermost ring of dies
    run_share: float  # share of background fails that come in short runs
    run_axis: str  # "rows", "columns" or "both"

    def params(self, scale: float) -> dict:
        return {"density": round(min(self.density * scale, 1.0), 4),
                "edge_density": round(min(self.edge * scale, 1.0), 4),
                "run_share": round(self.run_share, 3), "run_axis": self.run_axis}


def draw_background(geo: Geometry, rng: np.random.Generator, patterns: tuple[str, ...] = ()) -> Background:
    z1, z2 = rng.standard_normal(2)
    busy = max((BUSIER.get(name, 1.0) for name in patterns), default=1.0)
    density = float(np.clip(0.053 * busy * np.exp(0.6 * z1), 0.002, 0.4))
    edge = float(np.clip(0.17 * np.sqrt(busy) * np.exp(0.75 * (0.6 * z1 + 0.8 * z2)), 0.0, 0.85))
    spread = rng.uniform(0.0, 0.7)  # how unevenly the fails spread over this wafer
    uneven = np.minimum(np.maximum(1.0 + spread * smooth_noise(geo.shape, rng, rng.uniform(3.0, 8.0)), 0.15), 3.0)
    central = rng.exponential(0.6) * np.exp(-(geo.rho / 0.22) ** 2)  # many wafers fail a little more mid-wafer
    prob = density * uneven * (1.0 + central)
    # the rim fails more, most at the dies nearest the wafer edge (on real wafers, radially rather than by row)
    near = np.exp(-geo.edge_distance() / rng.uniform(0.35, 0.8))
    rim = geo.depth == 0
    near = near / max(float(near[rim].mean()), 1e-6)
    prob = 1.0 - (1.0 - prob) * (1.0 - np.minimum(edge * near, 0.95))
    prob = np.where(geo.on, np.minimum(prob, 1.0), 0.0).astype(np.float32)
    axis = str(rng.choice(["rows", "columns", "both"], p=[0.4, 0.4, 0.2]))
    return Background(prob, density, edge, float(rng.uniform(0.0, 0.18)), axis)


def expected_fail_share(pattern_prob: np.ndarray, background: np.ndarray, on: np.ndarray, scale: float) -> float:
    """Expected failing share of on-wafer dies with the background stretched by `scale`."""
    total = 1.0 - (1.0 - pattern_prob[on]) * (1.0 - np.minimum(background[on] * scale, 1.0))
    return float(total.mean())


def solve_scale(pattern_prob: np.ndarray, background: np.ndarray, on: np.ndarray, target: float) -> float:
    """The background scale whose expected fail share is nearest `target` (0 if the patterns alone exceed it)."""
    if expected_fail_share(pattern_prob, background, on, 0.0) >= target:
        return 0.0
    positive = background[on][background[on] > 0]
    ceiling = 1.0 / float(positive.min()) if positive.size else 1.0  # every die at probability 1
    low, high = 0.0, 1.0
    while expected_fail_share(pattern_prob, background, on, high) < target and high < ceiling:
        low, high = high, min(high * 2.0, ceiling)
    for _ in range(30):
        mid = (low + high) / 2
        if expected_fail_share(pattern_prob, background, on, mid) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def sample_runs(bg: Background, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Short runs of failing dies along rows and/or columns carrying `run_share` of the background."""
    h, w = bg.prob.shape
    mean_length = float(np.dot(RUN_LENGTHS, RUN_ODDS))
    seed_odds = np.minimum(bg.prob * scale, 1.0) * (bg.run_share / mean_length)  # (h, w)
    seeds = np.flatnonzero(rng.random(h * w) < seed_odds.ravel())
    lengths = rng.choice(RUN_LENGTHS, size=seeds.size, p=RUN_ODDS)  # (k,)
    along_rows = rng.random(seeds.size) < {"rows": 1.0, "columns": 0.0, "both": 0.5}[bg.run_axis]
    steps = np.arange(max(RUN_LENGTHS))  # (L,)
    rows = (seeds // w)[:, None] + np.where(along_rows, 0, 1)[:, None] * steps  # (k, L)
    cols = (seeds % w)[:, None] + np.where(along_rows, 1, 0)[:, None] * steps
    keep = (steps[None, :] < lengths[:, None]) & (rows < h) & (cols < w)
    runs = np.zeros((h, w), dtype=bool)
    runs[rows[keep], cols[keep]] = True
    return runs


def sample_fails(pattern_prob: np.ndarray, bg: Background, scale: float, on: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Failing dies: each pattern and the scattered background independently, plus background runs."""
    single = np.minimum(bg.prob * scale, 1.0) * (1.0 - bg.run_share)
    p = 1.0 - (1.0 - pattern_prob) * (1.0 - single)
    fails = rng.random(on.shape) < p
    if bg.run_share > 0 and scale > 0:
        fails |= sample_runs(bg, scale, rng)
    return fails & on
