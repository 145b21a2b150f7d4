import numpy as np
import pytest

from fabsight import FAIL, OFF, PASS, Orientation, WaferMap
from fabsight.errors import InputError
from fabsight.wafer.map import NO_BIN
from fabsight.wafer.stats import StatsOptions, wafer_stats


def round_wafer(diameter: int = 21) -> np.ndarray:
    yy, xx = np.indices((diameter, diameter))
    centre = (diameter - 1) / 2
    grid = np.full((diameter, diameter), PASS, np.uint8)
    grid[(yy - centre) ** 2 + (xx - centre) ** 2 > (diameter / 2) ** 2] = OFF
    return grid


def test_counts_match_the_grid():
    rng = np.random.default_rng(0)
    grid = round_wafer(31)
    on = grid != OFF
    grid[on & (rng.random(grid.shape) < 0.2)] = FAIL
    stats = wafer_stats(WaferMap(grid))
    assert stats["dies"] == np.count_nonzero(on)
    assert stats["fails"] == np.count_nonzero(grid == FAIL)
    assert stats["yield"] == pytest.approx(np.count_nonzero(grid == PASS) / np.count_nonzero(on))
    for group in (("center", "middle", "edge"), ("upper_right", "upper_left", "lower_left", "lower_right")):
        assert sum(stats["zones"][z]["dies"] for z in group) == stats["dies"]
        assert sum(stats["zones"][z]["fails"] for z in group) == stats["fails"]
    for profile in (stats["radial_profile"], stats["angular_profile"]):
        assert sum(p["dies"] for p in profile) == stats["dies"]
        assert sum(p["fails"] for p in profile) == stats["fails"]


def test_edge_ring_fails_in_edge_zone_and_outer_ring():
    grid = round_wafer(41)
    yy, xx = np.indices(grid.shape)
    radius = np.hypot(yy - 20, xx - 20) / 20.5
    grid[(grid == PASS) & (radius > 0.85)] = FAIL
    stats = wafer_stats(WaferMap(grid))
    assert stats["zones"]["edge"]["fails"] == stats["fails"]
    assert stats["zones"]["center"]["fails"] == 0
    rates = [p["fail_rate"] for p in stats["radial_profile"]]
    assert rates[-1] > 0.5 and max(rates[:-1]) == 0


def test_cluster_geometry_and_die_coordinates():
    grid = round_wafer(21)
    grid[2:5, 14:17] = FAIL  # a 3x3 block in the upper right of the picture
    grid[15, 5] = FAIL  # a single fail, lower left
    wafer = WaferMap(grid, x_origin=100, y_origin=-10)
    clusters = wafer_stats(wafer)["clusters"]
    assert clusters["count"] == 2 and clusters["singletons"] == 1
    block = clusters["largest"][0]
    assert block["size"] == 9
    assert block["centroid_rc"] == [3.0, 15.0]
    assert block["centroid_xy"] == [115.0, -7.0]
    assert block["bbox_rc"] == [2, 14, 4, 16]
    assert 0 < block["angle"] < 90  # upper right quadrant


def test_orientation_turns_the_picture_not_the_counts():
    grid = round_wafer(21)
    grid[1:4, 8:13] = FAIL  # top rows of the array
    upright = wafer_stats(WaferMap(grid))
    flipped = wafer_stats(WaferMap(grid, orientation=Orientation(y_increases="U")))
    assert upright["fails"] == flipped["fails"]
    # Y grows upwards: the array's first rows are drawn at the bottom of the wafer.
    assert upright["zones"]["upper_right"]["fails"] > 0 and upright["zones"]["lower_right"]["fails"] == 0
    assert flipped["zones"]["lower_right"]["fails"] > 0 and flipped["zones"]["upper_right"]["fails"] == 0
    # Die coordinates of a cluster do not depend on how it is drawn.
    assert upright["clusters"]["largest"][0]["centroid_xy"] == flipped["clusters"]["largest"][0]["centroid_xy"]


def test_bin_pareto_sorted_and_counted():
    grid = round_wafer(15)
    on = grid != OFF
    bins = np.where(on, 1, NO_BIN)
    bins[on & (np.arange(grid.size).reshape(grid.shape) % 7 == 0)] = 5
    bins[on & (np.arange(grid.size).reshape(grid.shape) % 11 == 0)] = 9
    grid[bins > 1] = FAIL
    stats = wafer_stats(WaferMap(grid, hard_bins=bins))
    pareto = stats["hard_bins"]
    assert [b["count"] for b in pareto] == sorted((b["count"] for b in pareto), reverse=True)
    for entry in pareto:
        assert entry["count"] == np.count_nonzero(bins[on] == entry["bin"])
    assert stats["soft_bins"] is None


def test_profile_resolution_is_an_option():
    stats = wafer_stats(WaferMap(round_wafer(21)), StatsOptions(rings=3, sectors=4, max_clusters=1))
    assert len(stats["radial_profile"]) == 3 and len(stats["angular_profile"]) == 4


def test_grid_with_no_dies_has_counts_only():
    stats = wafer_stats(WaferMap(np.zeros((5, 5), np.uint8)))
    assert stats["dies"] == 0 and stats["yield"] is None and "zones" not in stats


@pytest.mark.parametrize("bad", [np.array([1, 2, 1]), np.full((3, 3), 3), np.zeros((0, 4)), np.full((2, 2), 0.5)])
def test_bad_grids_are_refused_with_a_reason(bad):
    with pytest.raises(InputError, match="grid"):
        WaferMap(bad)
