"""Labels name what can be seen: faint or buried patterns are redrawn, a Loc never lies along the rim."""

import numpy as np

from fabsight.wafer.map import FAIL
from fabsight.wafer.synth import generate
from fabsight.wafer.synth.legibility import (LOC_MAX_RIM_SHARE, MIN_CONTRAST, MIN_EXCESS_DIES, legibility,
                                             pattern_contrast, rim_share)
from fabsight.wafer.synth.patterns import Layer
from fabsight.wafer.synth.shapes import make_geometry


def geometry(size: int = 40):
    return make_geometry(size, size, np.random.default_rng(0))


def blob(geo, cy: int, cx: int, half: int) -> np.ndarray:
    footprint = np.zeros(geo.shape, dtype=bool)
    footprint[max(cy - half, 0):cy + half + 1, max(cx - half, 0):cx + half + 1] = True
    return footprint & geo.on


def layer(name: str, footprint: np.ndarray) -> Layer:
    return Layer(name, footprint.astype(np.float32), footprint)


def test_a_solid_cluster_on_a_clean_wafer_is_legible():
    geo = geometry()
    cluster = layer("Loc", blob(geo, 14, 14, 2))  # 25 dies, all failing, nothing around
    assert legibility(geo, [cluster], cluster.footprint.copy()) >= 1.0


def test_a_cluster_buried_in_as_dense_a_background_is_not():
    geo = geometry()
    cluster = layer("Loc", blob(geo, 14, 14, 2))
    failing = (np.random.default_rng(1).random(geo.shape) < 0.5) & geo.on
    failing[cluster.footprint] = np.random.default_rng(2).random(int(cluster.footprint.sum())) < 0.6
    assert legibility(geo, [cluster], failing) < 1.0


def test_a_large_cluster_barely_denser_than_its_surroundings_is_not_legible():
    geo = geometry()
    cluster = layer("Loc", blob(geo, 20, 20, 5))  # 121 dies: many excess fails, but a faint difference
    failing = (np.random.default_rng(4).random(geo.shape) < 0.15) & geo.on
    failing[cluster.footprint] = np.random.default_rng(5).random(int(cluster.footprint.sum())) < 0.3
    contrast, excess = pattern_contrast(geo, cluster, failing, np.zeros(geo.shape, dtype=bool))
    assert 0 < contrast < MIN_CONTRAST and excess >= MIN_EXCESS_DIES  # only the contrast bar can refuse it
    assert legibility(geo, [cluster], failing) < 1.0


def test_too_few_dies_is_not_legible_however_sharp():
    geo = geometry()
    tiny = layer("Center", blob(geo, 20, 20, 0) | blob(geo, 20, 21, 0))  # 2 dies: a background run looks the same
    assert int(tiny.footprint.sum()) < MIN_EXCESS_DIES
    assert legibility(geo, [tiny], tiny.footprint.copy()) < 1.0


def test_a_loc_along_the_rim_is_not_legible_as_loc_but_an_edge_loc_is():
    geo = geometry()
    along = blob(geo, 1, 20, 3) & (geo.depth <= 1)  # the top two rings of dies over seven columns
    assert rim_share(geo, along) > LOC_MAX_RIM_SHARE
    assert legibility(geo, [layer("Loc", along)], along.copy()) < 1.0
    assert legibility(geo, [layer("Edge-Loc", along)], along.copy()) >= 1.0


def test_a_loc_that_only_reaches_the_rim_stays_a_loc():
    geo = geometry()
    reaching = blob(geo, 5, 20, 3) | blob(geo, 1, 20, 1)  # a 7 x 7 cluster and a spur out to the rim
    assert 0 < rim_share(geo, reaching) <= LOC_MAX_RIM_SHARE
    assert legibility(geo, [layer("Loc", reaching)], reaching.copy()) >= 1.0


def test_whole_wafer_patterns_and_no_pattern_always_pass():
    geo = geometry()
    everywhere = layer("Random", geo.on.copy())
    assert legibility(geo, [everywhere], geo.on & (np.random.default_rng(3).random(geo.shape) < 0.3)) >= 1.0
    assert legibility(geo, [], np.zeros(geo.shape, dtype=bool)) == float("inf")


def test_generated_small_patterns_stand_out_from_their_surroundings():
    """From the truth, counted on the grids: marked legible, enough failing dies, denser than the background."""
    for name in ("Loc", "Center", "Scratch", "Edge-Loc"):
        samples = generate(name, n=30, seed=11)
        assert all(s.truth["legible"] for s in samples)
        for s in samples:
            (pattern,) = s.truth["patterns"]
            assert pattern["fails"] >= MIN_EXCESS_DIES
            around = s.truth["background"]["fails"] / max(1, s.truth["dies"] - pattern["dies"])
            assert pattern["density"] > around  # the bar is local; against the whole wafer it must hold too


def test_a_fail_target_that_buries_the_pattern_is_marked_not_legible():
    samples = generate("loc, 85% fail", n=6, seed=4)
    assert not all(s.truth["legible"] for s in samples)
    for s in samples:
        assert np.count_nonzero(s.grid == FAIL) == s.truth["fails"]  # still a whole, honest wafer
