"""One small function per WM-811K pattern class: where the pattern makes dies fail, and with what odds.

Each function takes the wafer `Geometry` and a random generator and returns
a `Layer`: a per-die fail probability (0..1), the footprint (the dies that
belong to the pattern) and the parameters it drew, JSON-ready. Shapes are
drawn in physical wafer coordinates (radius 1), so a round defect stays
round on a grid with non-square dies; ring thickness is counted in dies.

What real WM-811K maps taught (see benchmarks/generator_realism.py):
patterns are often partial and faint (arcs rather than full donuts, thin
broken scratches, small diffuse centre clusters), edge rings are mostly
one die thick, and Random is dense, clumpy or striped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fabsight.wafer.synth.shapes import Geometry, direction_name, location


@dataclass
class Layer:
    name: str  # the WM-811K class name
    prob: np.ndarray  # (rows, cols) float32 fail probability this pattern adds
    footprint: np.ndarray  # (rows, cols) bool, the dies that belong to the pattern
    params: dict = field(default_factory=dict)  # JSON-ready parameters that were drawn


# --- helpers ---------------------------------------------------------------------
def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def smooth_noise(shape: tuple[int, int], rng: np.random.Generator, sigma: float | tuple[float, float]) -> np.ndarray:
    """Spatially correlated noise, zero mean and unit spread, blobs about `sigma` dies wide (per axis if a pair).

    Value noise: random values on a coarse lattice (spacing ~2.5 sigma), smoothly
    interpolated; much cheaper than filtering white noise, and alike to the eye.
    """
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma  # type: ignore[misc]
    along_y = _interpolation(shape[0], float(sy), rng)  # (h, Y)
    along_x = _interpolation(shape[1], float(sx), rng)  # (w, X)
    lattice = rng.standard_normal((along_y.shape[1], along_x.shape[1])).astype(np.float32)  # (Y, X)
    field_ = along_y @ lattice @ along_x.T  # (h, w)
    field_ -= field_.sum() / field_.size
    spread = float(np.sqrt(np.dot(field_.ravel(), field_.ravel()) / field_.size))
    return field_ / spread if spread > 0 else field_


def _interpolation(n: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(n, lattice) weights that interpolate a lattice of spacing ~2.5 sigma smoothly (smoothstep), random phase."""
    pos = np.arange(n, dtype=np.float32) / max(1.0, 2.5 * sigma) + np.float32(rng.random())
    index = pos.astype(np.intp)
    t = pos - index
    t = t * t * (3.0 - 2.0 * t)
    weights = np.zeros((n, int(index[-1]) + 2), dtype=np.float32)
    rows = np.arange(n)
    weights[rows, index] = 1.0 - t
    weights[rows, index + 1] = t
    return weights


def texture(geo: Geometry, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A patchy multiplier in [0, 1]: 1 everywhere for strength 0, holes and clumps as it grows."""
    if strength <= 0:
        return np.ones(geo.shape, dtype=np.float32)
    noise = smooth_noise(geo.shape, rng, float(rng.uniform(0.6, 1.6)))
    return np.minimum(np.maximum(1.15 + 0.8 * strength * noise, 0.0), 1.0)


def wobble(u: np.ndarray, v: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A radius multiplier that varies smoothly with the direction (u, v) from a centre: irregular outlines.

    1 + sum over k = 2..5 of a_k cos(k phi + p_k), evaluated as the real part of a
    polynomial in z = exp(i phi) (no trigonometry per die).
    """
    if amount <= 0:
        return np.ones(np.shape(u), dtype=np.float32)
    coeffs = []
    for k in (2, 3, 4, 5):
        a, p = amount * rng.normal(0.0, 1.0 / k), rng.uniform(0, 2 * np.pi)
        coeffs.append(np.complex64(a * np.exp(1j * p)))
    z = (u + 1j * v).astype(np.complex64)
    z /= np.maximum(np.abs(z), 1e-6)
    total = coeffs[3]
    for c in (coeffs[2], coeffs[1], coeffs[0]):
        total = total * z + c
    return np.maximum(1.0 + (total * z * z).real, 0.3)


def angular_noise(theta_deg: np.ndarray, rng: np.random.Generator, kmax: int = 6) -> np.ndarray:
    """Smooth periodic noise around the wafer, roughly unit spread, as a function of angle in degrees."""
    t = np.radians(theta_deg)
    out = np.zeros_like(t)
    for k in range(1, kmax + 1):
        out += rng.normal(0.0, 1.0) * np.cos(k * t + rng.uniform(0, 2 * np.pi)) / np.sqrt(kmax / 2)
    return out


def soft_inside(distance: np.ndarray, softness: float) -> np.ndarray:
    """1 well inside (distance < 1), 0 well outside, a soft step of width `softness` at distance 1."""
    x = (distance - 1.0) * (1.0 / max(softness, 1e-3))
    return 1.0 / (1.0 + np.exp(np.minimum(np.maximum(x, -30.0), 30.0)))


def blob_distance(geo: Geometry, cx: float, cy: float, radius: float, rng: np.random.Generator,
                  elongation: float = 1.0, angle_deg: float = 0.0, irregular: float = 0.0) -> np.ndarray:
    """Distance from (cx, cy) scaled so the (elliptical, wobbly) outline is at 1; area of a circle of `radius`."""
    a = np.radians(angle_deg)
    dx, dy = geo.x - cx, geo.y - cy
    u = dx * np.cos(a) + dy * np.sin(a)  # along the long axis
    v = -dx * np.sin(a) + dy * np.cos(a)
    s = np.sqrt(elongation)
    r = np.hypot(u / s, v * s)
    return r / (radius * wobble(u, v, rng, irregular))


def arc_gate(theta: np.ndarray, middle_deg: float, span_deg: float, soft_deg: float = 12.0) -> np.ndarray:
    """1 inside the arc of `span_deg` centred on `middle_deg`, fading out over about `soft_deg`."""
    if span_deg >= 360:
        return np.ones_like(theta)
    off = np.abs((theta - middle_deg + 180.0) % 360.0 - 180.0)
    x = (off - span_deg / 2) * (4.0 / soft_deg)
    return 1.0 / (1.0 + np.exp(np.minimum(np.maximum(x, -30.0), 30.0)))


def arc_params(middle_deg: float, span_deg: float) -> dict:
    if span_deg >= 360:
        return {"coverage_deg": 360.0}
    return {"coverage_deg": _r(span_deg, 1), "arc_from_deg": _r((middle_deg - span_deg / 2) % 360, 1),
            "arc_to_deg": _r((middle_deg + span_deg / 2) % 360, 1), "arc_middle_deg": _r(middle_deg % 360, 1)}


def random_point(rng: np.random.Generator, r_min: float, r_max: float) -> tuple[float, float]:
    """A point uniform by area in the annulus r_min..r_max (wafer radii)."""
    r = np.sqrt(rng.uniform(r_min ** 2, r_max ** 2))
    a = rng.uniform(0, 2 * np.pi)
    return float(r * np.cos(a)), float(r * np.sin(a))


def _layer(name: str, geo: Geometry, prob: np.ndarray, footprint: np.ndarray, params: dict) -> Layer:
    prob = np.where(geo.on, np.minimum(np.maximum(prob, 0.0), 1.0), 0.0).astype(np.float32)
    return Layer(name, prob, footprint & geo.on, params)


# --- the patterns -------------------------------------------------------------------
def center(geo: Geometry, rng: np.random.Generator) -> Layer:
    """A cluster at the wafer centre: often small and diffuse, sometimes large and solid."""
    cx, cy = random_point(rng, 0.0, 0.12)
    smallest = 1.6 / geo.dies_per_radius()  # a centre cluster is at least a few dies across
    radius = float(np.clip(np.exp(rng.normal(np.log(0.11), 0.5)), max(0.05, smallest), 0.45))
    density = rng.uniform(0.75, 1.0) if rng.random() < 0.8 else rng.uniform(0.5, 0.75)
    elongation = rng.uniform(1.0, 1.6)
    d = blob_distance(geo, cx, cy, radius, rng, elongation, rng.uniform(0, 180), rng.uniform(0.0, 0.45))
    core = soft_inside(d, rng.uniform(0.05, 0.25))
    halo = rng.uniform(0.05, 0.2) * np.exp(-np.maximum(d - 1.0, 0.0) * rng.uniform(1.5, 3.0)) \
        if rng.random() < 0.5 else 0.0
    prob = density * core * texture(geo, rng, rng.uniform(0.0, 0.6)) + halo
    return _layer("Center", geo, prob, d <= 1.0, {
        "center": location(geo, cx, cy), "radius": _r(radius), "elongation": _r(elongation, 2)})


def donut(geo: Geometry, rng: np.random.Generator) -> Layer:
    """A ring around the centre, not touching the edge: often an arc (C shape) and patchy."""
    cx, cy = random_point(rng, 0.0, 0.1)
    inner = rng.uniform(0.1, 0.42)
    outer = min(inner + rng.uniform(0.15, 0.42), 0.9)
    mid, half = (inner + outer) / 2, (outer - inner) / 2
    dx, dy = geo.x - cx, geo.y - cy
    phi = np.arctan2(dy, dx)
    r = np.hypot(dx, dy) / wobble(dx, dy, rng, rng.uniform(0.0, 0.25))
    d = np.abs(r - mid) / half  # 0 on the ring's middle line, 1 at its borders
    span = 360.0 if rng.random() < 0.4 else rng.uniform(160, 330)
    middle = rng.uniform(0, 360)
    gate = arc_gate((np.degrees(phi) % 360.0), middle, span, rng.uniform(10, 50))
    density = rng.uniform(0.65, 1.0)
    prob = density * soft_inside(d, rng.uniform(0.05, 0.25)) * gate * texture(geo, rng, rng.uniform(0.0, 0.7))
    return _layer("Donut", geo, prob, (d <= 1.0) & (gate > 0.5), {
        "center": location(geo, cx, cy), "inner_radius": _r(inner), "outer_radius": _r(outer),
        "width": _r(outer - inner), **arc_params(middle, span)})


def edge_loc(geo: Geometry, rng: np.random.Generator) -> Layer:
    """A cluster touching the wafer edge: a thin band along part of the rim, or a lens-shaped blob."""
    middle = rng.uniform(0, 360)
    density = rng.uniform(0.7, 1.0)
    tex = texture(geo, rng, rng.uniform(0.0, 0.5))
    if rng.random() < 0.5:  # band: a few dies deep along an arc of the rim, thinning towards its ends
        span = rng.uniform(15, 80)
        thickness = rng.uniform(1.2, 4.5)
        off = np.abs((geo.theta - middle + 180.0) % 360.0 - 180.0) / (span / 2)  # 0 mid-arc, 1 at its ends
        local = thickness * np.sqrt(np.clip(1.0 - off ** 2, 0.0, 1.0))
        inside = geo.depth < local
        prob = density * inside * tex
        params = {"shape": "band", "thickness_dies": _r(thickness, 1), **arc_params(middle, span)}
        where = location(geo, np.cos(np.radians(middle)) * 0.95, np.sin(np.radians(middle)) * 0.95)
    else:  # blob centred near the rim: the wafer clips it to a lens or half-moon
        radius = rng.uniform(0.09, 0.3)
        at = rng.uniform(0.9, 1.05)
        cx, cy = at * np.cos(np.radians(middle)), at * np.sin(np.radians(middle))
        d = blob_distance(geo, cx, cy, radius, rng, rng.uniform(1.0, 1.8), middle + 90, rng.uniform(0, 0.3))
        inside = d <= 1.0
        prob = density * soft_inside(d, rng.uniform(0.05, 0.25)) * tex
        params = {"shape": "blob", "radius": _r(radius)}
        where = location(geo, cx * 0.95 / max(at, 0.95), cy * 0.95 / max(at, 0.95))
    return _layer("Edge-Loc", geo, prob, inside, {"center": where, "angle_deg": _r(middle % 360, 1), **params})


def edge_ring(geo: Geometry, rng: np.random.Generator) -> Layer:
    """A band of failing dies along the rim, all round or most of the way (a C), mostly one die deep.

    The band is the outermost ring of dies plus every die whose centre lies
    within `width` die pitches of the rim radially: where rows or columns
    run along the edge (top, bottom, left, right) it takes whole runs of
    dies, on the diagonal staircases mostly the outer corners. "sparse"
    rings lose many single outermost dies, as on real wafers.
    """
    base = float(np.clip(0.2 + rng.gamma(2.0, 0.25), 0.3, 3.0))
    width = base * np.clip(1.0 + rng.uniform(0.0, 0.6) * angular_noise(geo.theta, rng), 0.3, 2.5)
    inward = geo.edge_distance()
    band = inward < width
    rim = geo.depth == 0
    kind = str(rng.choice(["full", "arc", "sparse"], p=[0.35, 0.35, 0.3]))
    if kind == "arc":  # one open stretch: a C
        span, middle = rng.uniform(180, 320), rng.uniform(0, 360)
        gate = arc_gate(geo.theta, middle, span, 20.0)
        coverage = arc_params(middle, span)
    else:
        gate = np.ones(geo.shape, dtype=np.float32)
        coverage = arc_params(0.0, 360.0)
    density = rng.uniform(0.85, 1.0)
    rim_odds = rng.uniform(0.4, 0.8) if kind == "sparse" else rng.uniform(0.8, 1.0)  # outermost dies beyond the band
    weight = np.where(band, 1.0, np.where(rim, rim_odds, 0.0))
    weight = np.maximum(weight, rng.uniform(0.05, 0.3) * (inward < width + 1.0))  # a soft inner border
    prob = density * weight * gate * texture(geo, rng, rng.uniform(0.0, 0.15))
    return _layer("Edge-Ring", geo, prob, (band | rim) & (gate > 0.5),
                  {"width_dies": _r(base, 2), "style": kind, **coverage})


def loc(geo: Geometry, rng: np.random.Generator) -> Layer:
    """One to three clusters away from the centre, irregular and often elongated; they may reach the rim."""
    count = int(rng.choice([1, 2, 3], p=[0.8, 0.14, 0.06]))
    cx, cy = random_point(rng, 0.18, 0.92)
    prob = np.zeros(geo.shape, dtype=np.float32)
    footprint = np.zeros(geo.shape, dtype=bool)
    clusters = []
    for i in range(count):
        if i:  # further clusters sit near the first
            cx, cy = cx + rng.normal(0, 0.2), cy + rng.normal(0, 0.2)
        smallest = 1.5 / geo.dies_per_radius()
        radius = float(np.clip(np.exp(rng.normal(np.log(0.13), 0.5)), max(0.05, smallest), 0.45))
        # Sparse and drawn-out more often than a solid disc: real WM-811K Loc clusters are thin (largest cluster's
        # area over its length, median 2.40 dies; `benchmarks/generator_realism.py`, "thick"), solid discs were 3.43.
        elongation = rng.uniform(1.0, 3.5)
        d = blob_distance(geo, cx, cy, radius, rng, elongation, rng.uniform(0, 180), rng.uniform(0.0, 0.4))
        density = rng.uniform(0.35, 1.0)
        prob = np.maximum(prob, density * soft_inside(d, rng.uniform(0.04, 0.15)))
        footprint |= d <= 1.0
        clusters.append({"center": location(geo, cx, cy), "radius": _r(radius), "elongation": _r(elongation, 2)})
    prob = prob * texture(geo, rng, rng.uniform(0.0, 0.5))
    return _layer("Loc", geo, prob, footprint, {"center": clusters[0]["center"], "radius": clusters[0]["radius"],
                                                "count": count, "clusters": clusters})


def near_full(geo: Geometry, rng: np.random.Generator) -> Layer:
    """Almost every die fails: solid, or with clumps of passing dies near the rim, in a patch, or scattered."""
    variant = str(rng.choice(["solid", "rim_passes", "pass_patch", "clumps"], p=[0.2, 0.35, 0.25, 0.2]))
    level = rng.uniform(0.985, 1.0) if variant == "solid" else rng.uniform(0.85, 0.99)
    noise = smooth_noise(geo.shape, rng, rng.uniform(0.8, 2.5))
    params: dict = {"variant": variant}
    passing = np.zeros(geo.shape, dtype=np.float32)  # 0..1: how much a die is in a passing clump
    if variant == "rim_passes":  # the outer band passes in clumps, all round or on one side
        start = rng.uniform(0.45, 0.85)
        side = arc_gate(geo.theta, rng.uniform(0, 360), 360.0 if rng.random() < 0.4 else rng.uniform(90, 240), 40.0)
        band = np.clip((geo.rho - start) / (1.0 - start), 0.0, 1.0) * side
        passing = band * soft_inside(1.0 + rng.uniform(-1.0, 0.3) - noise, 0.3)
        params.update(pass_band_from_radius=_r(start))
    elif variant == "pass_patch":
        cx, cy = random_point(rng, 0.4, 1.0)
        radius = rng.uniform(0.2, 0.55)
        d = blob_distance(geo, cx, cy, radius, rng, rng.uniform(1.0, 2.0), rng.uniform(0, 180), 0.3)
        passing = soft_inside(d, 0.2) * soft_inside(1.0 - 1.5 - noise, 0.3)
        params.update(pass_patch={"center": location(geo, cx, cy), "radius": _r(radius)})
    elif variant == "clumps":
        passing = soft_inside(1.0 + rng.uniform(0.5, 1.5) - noise, 0.25)  # a few clumps anywhere
    prob = level * (1.0 - rng.uniform(0.6, 0.95) * passing)
    return _layer("Near-full", geo, prob, geo.on.copy(), params)


def random_fails(geo: Geometry, rng: np.random.Generator) -> Layer:
    """Dense failures all over: independent, clumpy, in streaks or every few rows or columns; rarely even."""
    density = rng.uniform(0.2, 0.62)
    variant = str(rng.choice(["uniform", "clumpy", "streaky", "periodic"], p=[0.4, 0.3, 0.2, 0.1]))
    prob = np.full(geo.shape, density, dtype=np.float32)
    params: dict = {"variant": variant}
    if variant == "clumpy":
        prob = prob + rng.uniform(0.2, 0.45) * smooth_noise(geo.shape, rng, rng.uniform(0.7, 2.0))
    elif variant == "streaky":
        long, short = rng.uniform(2.0, 5.0), rng.uniform(0.2, 0.5)
        horizontal = rng.random() < 0.6
        scales = (short, long) if horizontal else (long, short)
        prob = prob + rng.uniform(0.3, 0.5) * smooth_noise(geo.shape, rng, scales)
        params["streaks"] = "rows" if horizontal else "columns"
    elif variant == "periodic":  # every 2nd to 4th row or column fails more (a tester or probe-card rhythm)
        period, along_rows = int(rng.integers(2, 5)), rng.random() < 0.5
        index = np.arange(geo.shape[0] if along_rows else geo.shape[1]) % period == rng.integers(period)
        stripes = index[:, None] if along_rows else index[None, :]
        prob = prob + rng.uniform(0.2, 0.4) * (stripes - stripes.mean())  # broadcasts over the other axis
        params["stripes"] = {"every": period, "along": "rows" if along_rows else "columns"}
    gradient = rng.uniform(0.0, 0.15)  # a gentle tilt of the density across the wafer
    a = rng.uniform(0, 2 * np.pi)
    prob = prob + gradient * (geo.x * np.cos(a) + geo.y * np.sin(a))
    prob, params["radial"] = _radial_swing(geo, rng, prob)
    return _layer("Random", geo, prob, geo.on.copy(), params)


def _radial_swing(geo: Geometry, rng: np.random.Generator, prob: np.ndarray) -> tuple[np.ndarray, str]:
    """Move density between the middle and the rim, as most real Random maps do (a dense disc, rim or band).

    Real WM-811K Random maps: their five radial rings' fail rates differ by 0.25 (median; 0.43 at p90),
    and only a fifth are flat; the share of failing dies stays, only its place moves. Their innermost ring
    is often the densest (its rate over the share: 1.14 median, 1.7 at p90), so a dense disc may be small.
    """
    shape = str(rng.choice(["flat", "disc", "rim", "band"], p=[0.15, 0.5, 0.15, 0.2]))
    edge = rng.uniform(0.15 if shape == "disc" else 0.35, 0.8)
    soft = rng.uniform(0.05, 0.2)
    if shape == "flat":
        return prob, shape
    if shape == "disc":
        swing = soft_inside(geo.rho / edge, soft)
    elif shape == "rim":
        swing = 1.0 - soft_inside(geo.rho / edge, soft)
    else:
        width = rng.uniform(0.15, 0.35)
        swing = soft_inside(np.abs(geo.rho - edge) / width, soft)
    swing = swing - swing[geo.on].mean()
    return prob + rng.uniform(0.1, 0.45) * swing, shape


def _trace(geo: Geometry, x0: float, y0: float, heading: float, length: float, curvature: float) -> np.ndarray:
    """Die (row, col) pairs along a circular arc, 8-connected and one die wide, on the wafer only."""
    step = 0.25 * min(geo.pitch_x, geo.pitch_y)
    s = np.arange(0.0, length, step)
    if abs(curvature) < 1e-6:
        xs, ys = x0 + s * np.cos(heading), y0 + s * np.sin(heading)
    else:
        xs = x0 + (np.sin(heading + curvature * s) - np.sin(heading)) / curvature
        ys = y0 - (np.cos(heading + curvature * s) - np.cos(heading)) / curvature
    rows = np.rint(geo.center_row - ys / geo.pitch_y).astype(int)
    cols = np.rint(geo.center_col + xs / geo.pitch_x).astype(int)
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    points: list[tuple[int, int]] = []
    for r, c in zip(rows[keep].tolist(), cols[keep].tolist()):
        if len(points) >= 2 and max(abs(points[-2][0] - r), abs(points[-2][1] - c)) <= 1:
            points.pop()  # the corner die of an L step: the line stays 8-connected without it
        points.append((r, c))
    out = np.array(points, dtype=int).reshape(-1, 2)
    h, w = geo.shape
    inside = (out[:, 0] >= 0) & (out[:, 0] < h) & (out[:, 1] >= 0) & (out[:, 1] < w)
    out = out[inside]
    return out[geo.on[out[:, 0], out[:, 1]]]


def _one_scratch(geo: Geometry, rng: np.random.Generator, prob: np.ndarray, footprint: np.ndarray) -> dict | None:
    mx, my = random_point(rng, 0.0, 0.8)
    heading = rng.uniform(0, 2 * np.pi)
    length = rng.uniform(0.4, 1.8)
    curvature = 0.0 if rng.random() < 0.35 else rng.uniform(0.2, 1.5) * rng.choice([-1, 1])
    # start half a length back from the middle point (exact for a straight line, close for a gentle arc)
    back = heading - curvature * length / 2
    x0, y0 = mx - np.cos(back) * length / 2, my - np.sin(back) * length / 2
    dies = _trace(geo, x0, y0, back, length, curvature)
    if len(dies) < 3:
        return None
    density = rng.uniform(0.8, 1.0)
    on = np.ones(len(dies), dtype=bool)
    broken = rng.random() < 0.3
    if broken:  # alternate runs of failing dies and short gaps
        i = 0
        while i < len(dies):
            i += int(rng.integers(4, 20))
            gap = int(rng.integers(1, 3))
            on[i:i + gap] = False
            i += gap
    width = 2 if rng.random() < 0.35 else 1  # real scratches are often two dies wide ("thick", as for Loc)
    cells = dies[on]
    if width == 2:  # a second die beside each, across the line's main direction
        steep = abs(np.sin(heading)) * geo.pitch_x > abs(np.cos(heading)) * geo.pitch_y
        side = cells + (np.array([0, 1]) if steep else np.array([1, 0]))
        side = side[(side[:, 0] < geo.shape[0]) & (side[:, 1] < geo.shape[1])]
        cells = np.concatenate([cells, side[geo.on[side[:, 0], side[:, 1]]]])
    prob[cells[:, 0], cells[:, 1]] = np.maximum(prob[cells[:, 0], cells[:, 1]], density)
    footprint[dies[:, 0], dies[:, 1]] = True
    (r0, c0), (r1, c1) = dies[0], dies[-1]
    start, end = geo.to_physical(r0, c0), geo.to_physical(r1, c1)
    chord = np.degrees(np.arctan2(end[1] - start[1], end[0] - start[0])) % 180.0
    mid = dies[len(dies) // 2]
    return {"start": location(geo, *start), "end": location(geo, *end),
            "middle": location(geo, *geo.to_physical(*mid)), "angle_deg": _r(chord, 1),
            "direction": direction_name(chord), "length_dies": len(dies),
            "shape": "straight" if curvature == 0 else "curved", "curvature": _r(curvature),
            "width_dies": width, "broken": broken}


def scratch(geo: Geometry, rng: np.random.Generator) -> Layer:
    """Thin lines, straight or gently curved, often broken into segments; sometimes two or three."""
    count = int(rng.choice([1, 2, 3], p=[0.8, 0.14, 0.06]))
    prob = np.zeros(geo.shape, dtype=np.float32)
    footprint = np.zeros(geo.shape, dtype=bool)
    lines = []
    for _ in range(20):
        line = _one_scratch(geo, rng, prob, footprint)
        if line:
            lines.append(line)
        if len(lines) == count:
            break
    first = lines[0] if lines else {}
    return _layer("Scratch", geo, prob, footprint, {
        "center": first.get("middle"), "angle_deg": first.get("angle_deg"), "direction": first.get("direction"),
        "length_dies": first.get("length_dies"), "count": len(lines), "scratches": lines})


PATTERNS: dict[str, Callable[[Geometry, np.random.Generator], Layer]] = {
    "Center": center,
    "Donut": donut,
    "Edge-Loc": edge_loc,
    "Edge-Ring": edge_ring,
    "Loc": loc,
    "Near-full": near_full,
    "Random": random_fails,
    "Scratch": scratch,
}  # "none" draws no layer
