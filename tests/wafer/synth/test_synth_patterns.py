"""Each class looks like itself: checks computed from the generated grids, against `none` wafers."""

import numpy as np
import pytest
from scipy import ndimage

from fabsight.wafer.map import FAIL, OFF
from fabsight.wafer.synth import generate
from fabsight.wafer.synth.shapes import edge_depth

N = 40


def polar(grid):
    """Normalised radius (0 centre, ~1 outermost die) of every cell, per axis as `wafer.stats` does."""
    rows, cols = np.nonzero(grid != OFF)
    cy, cx = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
    ry, rx = (rows.max() - rows.min()) / 2 + 0.5, (cols.max() - cols.min()) / 2 + 0.5
    yy, xx = np.indices(grid.shape)
    return np.hypot((yy - cy) / ry, (xx - cx) / rx)


def rate(grid, where):
    where = where & (grid != OFF)
    return np.count_nonzero(grid[where] == FAIL) / max(1, np.count_nonzero(where))


def zone_rates(samples):
    """Mean over wafers of the fail rate at the centre, mid-radius, inner ring and outermost die ring."""
    out = []
    for s in samples:
        g = s.grid
        r, depth = polar(g), edge_depth(g != OFF)
        out.append((rate(g, r < 0.2), rate(g, (r > 0.3) & (r < 0.6)), rate(g, (depth >= 2) & (r < 0.85)),
                    rate(g, depth == 0)))
    return np.mean(out, axis=0)  # (centre, middle, inside, rim)


@pytest.fixture(scope="module")
def none_rates():
    return zone_rates(generate("none", n=N, seed=10))


def test_edge_ring_fails_more_at_the_rim_than_inside(none_rates):
    centre, _, inside, rim = zone_rates(generate("edge ring", n=N, seed=11))
    assert rim > 3 * inside and rim > 2 * none_rates[3]
    assert centre < 2 * none_rates[0] + 0.05  # nothing special at the centre


def test_center_fails_more_at_the_centre(none_rates):
    centre, middle, _, _ = zone_rates(generate("center", n=N, seed=12))
    assert centre > 2.5 * middle and centre > 3 * none_rates[0]


def test_donut_fails_at_mid_radius_more_than_at_the_rim(none_rates):
    _, middle, _, rim = zone_rates(generate("donut", n=N, seed=13))
    assert middle > 2.5 * none_rates[1] and middle > rim


def test_near_full_yield_is_low_and_none_is_high():
    near = [s.wafer.yield_ for s in generate("near full", n=N, seed=14)]
    clean = [s.wafer.yield_ for s in generate("none", n=N, seed=14)]
    assert max(near) < 0.45 and np.median(near) < 0.25
    assert np.median(clean) > 0.8 and min(clean) > max(near)


def test_random_is_dense_everywhere(none_rates):
    zones = zone_rates(generate("random", n=N, seed=15))
    assert zones.min() > 2.5 * none_rates[2]
    assert zones[:3].max() < 2 * zones[:3].min()  # no strong radial structure


def test_scratch_is_a_thin_long_line():
    for s in generate("scratch", n=N, seed=16):
        for line in s.truth["patterns"][0]["scratches"]:
            assert line["length_dies"] >= 3
        footprint_dies = s.truth["patterns"][0]["dies"]
        lines = s.truth["patterns"][0]["scratches"]
        assert footprint_dies <= sum(x["length_dies"] for x in lines)  # the footprint is the traced path only


def test_loc_is_a_cluster_off_centre():
    rates_in, rates_out = [], []
    for s in generate("loc", n=N, seed=17):
        p = s.truth["patterns"][0]
        assert 0.15 < p["center"]["radius"] < 1.0  # away from the centre (that would be Center)
        rates_in.append(p["density"])
        rates_out.append((s.truth["fails"] - p["fails"]) / max(1, s.truth["dies"] - p["dies"]))
    assert np.mean(rates_in) > 4 * np.mean(rates_out)


def test_edge_loc_fails_on_one_side_of_the_rim():
    near, far = [], []
    for s in generate("edge loc", n=N, seed=18):
        g, where = s.grid, s.truth["patterns"][0]["center"]
        yy, xx = np.indices(g.shape)
        die_angle = np.degrees(np.arctan2((g.shape[0] - 1) / 2 - yy, xx - (g.shape[1] - 1) / 2))
        gap = np.abs((die_angle - where["angle_deg"] + 180) % 360 - 180)  # degrees from the pattern's side
        rim = polar(g) > 0.7
        near.append(rate(g, rim & (gap < 30)))
        far.append(rate(g, rim & (gap > 150)))
    assert np.mean(near) > 2.5 * np.mean(far)


def test_background_runs_and_rim_like_real_wafers(none_rates):
    """Real `none` wafers: a few percent failing, more on the outermost ring, some failing neighbours."""
    _, _, inside, rim = none_rates
    assert 0.02 < inside < 0.15 and rim > 1.5 * inside
    pairs = []
    for s in generate("none", n=N, seed=19):
        fail = s.grid == FAIL
        labels, count = ndimage.label(fail)
        sizes = np.bincount(labels.ravel())[1:]
        pairs.append(np.mean(sizes >= 2) if count else 0.0)
    assert 0.02 < np.mean(pairs) < 0.4  # mostly single dies, some short runs


def test_random_density_moves_across_the_wafer_as_on_real_random_maps():
    """Most real Random maps have a denser disc, rim or band; the fail share stays about the same."""
    swings, shares = {}, {}
    for s in generate("random", n=N, seed=20):
        p = s.truth["patterns"][0]
        g, r = s.grid, polar(s.grid)
        rings = [rate(g, (r >= lo) & (r < lo + 0.2)) for lo in np.arange(0.0, 1.0, 0.2)]
        swings.setdefault(p["radial"], []).append(max(rings) - min(rings))
        shares.setdefault(p["radial"], []).append(p["fails"] / p["dies"])
    assert set(swings) > {"flat"}
    moved = [v for k, vs in swings.items() if k != "flat" for v in vs]
    assert np.median(moved) > np.median(swings["flat"]) + 0.05
    assert abs(np.median([v for k, vs in shares.items() if k != "flat" for v in vs]) - np.median(shares["flat"])) < 0.12


def test_periodic_random_fails_more_on_every_nth_row_or_column():
    """Rows (or columns) a period apart fail alike, unlike those of the other Random maps."""
    def phase_spread(grid, every, along):
        fail, on = (grid == FAIL).astype(float), (grid != OFF).astype(float)
        axis = 1 if along == "rows" else 0
        lines = fail.sum(axis=axis) / np.maximum(on.sum(axis=axis), 1)  # fail rate of each row (or column)
        by_phase = [lines[k::every].mean() for k in range(every)]
        return max(by_phase) - min(by_phase)

    periodic, others = [], []
    for s in generate("random", n=3 * N, seed=21):
        stripes = s.truth["patterns"][0].get("stripes")
        if stripes:
            periodic.append(phase_spread(s.grid, stripes["every"], stripes["along"]))
        else:
            others.extend(phase_spread(s.grid, every, along) for every in (2, 3, 4) for along in ("rows", "columns"))
    assert len(periodic) >= 3
    assert min(periodic) > 0.1 and np.median(periodic) > 2 * np.median(others)
