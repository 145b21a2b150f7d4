"""Sampling: truth consistent with the grid, reproducible by (seed, index), honest about fail targets."""

import json

import numpy as np
import pytest

from fabsight.errors import InputError
from fabsight.wafer.map import FAIL, OFF, PASS, WaferMap
from fabsight.wafer.synth import CLASSES, MIXTURES, generate, generate_grids, iter_samples, sample, sample_at

MIXED = ["Center+Edge-Ring", "Donut+Scratch+Loc", "Edge-Loc+Loc+Scratch+Center", "Edge-Ring+Scratch"]


def check_truth(s) -> None:
    """Every count in the truth equals the count from the grid; the truth is plain JSON."""
    grid, truth = s.wafer.grid, s.truth
    assert isinstance(s.wafer, WaferMap) and s.wafer.extra["truth"] is truth
    assert set(np.unique(grid)) <= {OFF, PASS, FAIL}
    assert (truth["rows"], truth["cols"]) == grid.shape
    assert truth["dies"] == np.count_nonzero(grid != OFF) == s.wafer.dies
    assert truth["fails"] == np.count_nonzero(grid == FAIL) == s.wafer.fails
    assert truth["yield"] == pytest.approx(np.count_nonzero(grid == PASS) / truth["dies"])
    assert truth["fail_share"] == pytest.approx(1 - truth["yield"])
    for edge in (grid[0], grid[-1], grid[:, 0], grid[:, -1]):
        assert (edge != OFF).any()  # cropped to the dies, as WM-811K maps are
    names = [p["name"] for p in truth["patterns"]]
    assert truth["classes"] == (names or ["none"]) and truth["label"] == ("+".join(names) or "none")
    for p in truth["patterns"]:
        assert 0 <= p["fails"] <= p["dies"] <= truth["dies"]
        assert p["fails"] <= truth["fails"]
    assert 0 <= truth["background"]["fails"] <= truth["fails"]
    assert json.loads(json.dumps(truth)) == truth  # JSON-ready, nothing numpy-typed that changes on the way


@pytest.mark.parametrize("name", CLASSES)
def test_every_class_has_truth_consistent_with_its_grid(name):
    for s in generate(name, n=6, seed=1):
        check_truth(s)
        assert s.label == name
        assert len(s.truth["patterns"]) == (0 if name == "none" else 1)
        if name != "none":
            assert s.truth["patterns"][0]["dies"] > 0


@pytest.mark.parametrize("label", MIXED)
def test_mixtures_have_one_entry_per_pattern(label):
    parts = label.split("+")
    for s in generate(" + ".join(parts), n=4, seed=2):
        check_truth(s)
        assert sorted(s.truth["classes"]) == sorted(parts) and s.truth["mixed"]
        assert all(p["dies"] > 0 for p in s.truth["patterns"])


def test_random_mixtures_are_mixedwm38_types():
    for s in generate("mixed", n=20, seed=4):
        check_truth(s)
        assert tuple(s.truth["classes"]) in MIXTURES


def test_same_seed_same_maps_and_truth():
    a, b = generate("any", n=8, seed=3), generate("any", n=8, seed=3)
    for x, y in zip(a, b):
        assert np.array_equal(x.grid, y.grid) and x.truth == y.truth
    c = generate("any", n=8, seed=4)
    assert any(x.grid.shape != y.grid.shape or not np.array_equal(x.grid, y.grid) for x, y in zip(a, c))


def test_synonyms_give_the_same_maps_and_other_specs_other_maps():
    ring = generate("ring", n=3, seed=2)
    assert all(np.array_equal(a.grid, b.grid) for a, b in zip(ring, generate("Edge-Ring", n=3, seed=2)))
    donut = generate("donut", n=3, seed=2)
    assert all(a.grid.shape != b.grid.shape or not np.array_equal(a.grid, b.grid) for a, b in zip(ring, donut))


def test_sample_i_does_not_depend_on_how_many_are_drawn():
    many = generate("mixed", n=6, seed=9)
    assert np.array_equal(generate("mixed", n=1, seed=9, start=4)[0].grid, many[4].grid)
    assert sample_at("mixed", 9, 5).truth == many[5].truth
    assert [s.truth["index"] for s in iter_samples("mixed", 3, 9, start=2)] == [2, 3, 4]


def test_bulk_path_matches_the_plain_one_in_parallel():
    plain = generate("any", n=12, seed=5)
    bulk = list(generate_grids("any", n=12, seed=5, workers=2, chunk=4))
    assert len(bulk) == 12
    for s, (grid, truth) in zip(plain, bulk):
        assert np.array_equal(s.grid, grid) and s.truth == truth


def test_fail_target_is_approached_and_the_actual_is_recorded():
    samples = generate("scratch, 12% fail", n=40, seed=6)
    shares = [s.truth["fail_share"] for s in samples]
    assert all(s.truth["target_fail"] == pytest.approx(0.12) for s in samples)
    assert np.mean(shares) == pytest.approx(0.12, abs=0.015)
    assert all(abs(x - 0.12) < 0.06 for x in shares)
    same = generate("scratch, yield 88%", n=40, seed=6)
    assert [s.truth["fails"] for s in same] == [s.truth["fails"] for s in samples]


def test_unreachable_fail_target_is_reported_honestly():
    for s in generate("near full, 5% fail", n=5, seed=7):
        check_truth(s)
        assert s.truth["target_fail"] == pytest.approx(0.05)
        assert s.truth["fail_share"] > 0.4  # the pattern alone fails far more; no pretending
        assert s.truth["background"]["density"] == 0


def test_sizes_are_followed():
    assert all(s.truth["cols"] == 40 for s in generate("donut, 40 dies across", n=5, seed=1))
    assert all(s.grid.shape == (30, 50) for s in generate("ring 30x50 dies", n=3, seed=1))
    small = [s.truth["cols"] for s in generate("small wafer, scratch", n=10, seed=1)]
    assert all(20 <= c <= 30 for c in small)


def test_default_sizes_vary_and_rows_differ_from_cols():
    shapes = [s.grid.shape for s in generate("none", n=200, seed=8)]
    cols = np.array([c for _, c in shapes])
    assert cols.min() < 30 and cols.max() > 48  # varied, like WM-811K (about 20 to 100+ across)
    assert np.mean([r != c for r, c in shapes]) > 0.5  # die pitch is often not square


def test_sample_api_takes_names_and_synonyms():
    rng = np.random.default_rng(0)
    s = sample(["edge ring", "Scratch"], rng)
    check_truth(s)
    assert s.label == "Edge-Ring+Scratch"
    assert sample([], np.random.default_rng(0)).label == "none"
    with pytest.raises(InputError, match="valid patterns"):
        sample("swirl", rng)
    with pytest.raises(InputError, match="fail share"):
        sample("Loc", rng, fail=1.5)


def test_pattern_parameters_are_described():
    ring = generate("edge ring", n=1, seed=0)[0].truth["patterns"][0]
    assert ring["width_dies"] > 0 and 0 < ring["coverage_deg"] <= 360
    donut = generate("donut", n=1, seed=0)[0].truth["patterns"][0]
    assert 0 < donut["inner_radius"] < donut["outer_radius"] <= 1
    scratch = generate("scratch", n=1, seed=0)[0].truth["patterns"][0]
    line = scratch["scratches"][0]
    assert 0 <= line["angle_deg"] < 180 and line["length_dies"] >= 3 and line["start"]["region"]
    center = generate("center", n=1, seed=0)[0].truth["patterns"][0]
    where = center["center"]
    assert where["region"] == "center" and {"row", "col", "x", "y", "radius", "angle_deg"} <= set(where)


def test_negative_seed_is_a_clear_error():
    with pytest.raises(InputError, match="seed"):
        generate("ring", n=1, seed=-1)
