"""Labels name what can be seen: faint or buried patterns are redrawn, a Loc never reaches the rim."""

import numpy as np

from fabsight.wafer.map import FAIL
from fabsight.wafer.synth import generate
from fabsight.wafer.synth.legibility import MIN_CONTRAST, MIN_EXCESS_DIES, legibility
from fabsight.wafer.synth.patterns import Layer
from fabsight.wafer.synth.shapes import make_geometry


def geometry(size: int = 40):
    return make_geometry(size, size, np.random.default_rng(0))


def blob(geo, cy: int, cx: int, half: int) -> np.ndarray:
    footprint = np.zeros(geo.shape, dtype=bool)
    footprint[cy - half:cy + half + 1, cx - half:cx + half + 1] = True
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


def test_too_few_dies_is_not_legible_however_sharp():
    geo = geometry()
    tiny = layer("Center", blob(geo, 20, 20, 0) | blob(geo, 20, 21, 0))  # 2 dies: a background run looks the same
    assert int(tiny.footprint.sum()) < MIN_EXCESS_DIES
    assert legibility(geo, [tiny], tiny.footprint.copy()) < 1.0


def test_a_loc_touching_the_rim_is_not_legible_as_loc_but_an_edge_loc_is():
    geo = geometry()
    rim_row = int(np.flatnonzero(geo.on[:, 20])[0])  # the top die of the middle column
    at_rim = blob(geo, rim_row + 2, 20, 2)
    assert np.any(at_rim & (geo.depth == 0))
    assert legibility(geo, [layer("Loc", at_rim)], at_rim.copy()) < 1.0
    assert legibility(geo, [layer("Edge-Loc", at_rim)], at_rim.copy()) >= 1.0


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
