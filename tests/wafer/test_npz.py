"""fabsight's own .npz: exact round trips through `fabsight.load`, JSON metadata, atomic writes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fabsight
from fabsight import FAIL, OFF, PASS, InputError, Orientation, WaferMap
from fabsight.wafer import npz
from fabsight.wafer.map import NO_BIN
from fabsight.wafer.npz import save_npz

FIELDS = ("x_origin", "y_origin", "orientation", "lot", "wafer_id", "product", "tester", "test_time", "source",
          "complete", "extra")


def assert_same(a: WaferMap, b: WaferMap) -> None:
    np.testing.assert_array_equal(a.grid, b.grid)
    assert b.grid.dtype == np.uint8
    for name in ("hard_bins", "soft_bins"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            np.testing.assert_array_equal(left, right)
            assert right.dtype == np.int32
    for name in FIELDS:
        assert getattr(a, name) == getattr(b, name), name


def full_wafer() -> WaferMap:
    grid = np.array([[OFF, PASS, PASS, OFF], [PASS, FAIL, PASS, PASS], [OFF, PASS, FAIL, OFF]], np.uint8)
    hard = np.where(grid == OFF, NO_BIN, np.where(grid == FAIL, 7, 1)).astype(np.int32)
    return WaferMap(
        grid=grid, hard_bins=hard, soft_bins=hard * 100, x_origin=-3, y_origin=12,
        orientation=Orientation("L", "U", "D"), lot="LOT-7", wafer_id="W05", product="ÆPRODUCT", tester="T1",
        test_time=datetime(2024, 3, 1, 8, 30, 5, 123456), source="/data/lot7.stdf.gz", complete=False,
        extra={"label": "Center", "truth": {"patterns": ["Center"], "box": [1, 2, 3, 4], "share": 0.25},
               "flag": True, "none": None})


def test_round_trip_is_exact(tmp_path):
    wafer = full_wafer()
    path = save_npz(wafer, tmp_path / "w.npz")
    assert path == tmp_path / "w.npz"
    (again,) = fabsight.load(path)
    assert_same(wafer, again)


def test_time_zone_and_missing_fields_round_trip(tmp_path):
    eight_hours_east = timezone(timedelta(hours=8))
    wafer = WaferMap(np.ones((2, 3), np.uint8), test_time=datetime(2020, 1, 2, 3, 4, 5, tzinfo=eight_hours_east),
                     source="x.csv")
    (again,) = fabsight.load(save_npz(wafer, tmp_path / "w.npz"))
    assert_same(wafer, again)


def test_a_wafer_without_source_gets_the_npz_path(tmp_path):
    path = save_npz(WaferMap(np.ones((2, 2), np.uint8)), tmp_path / "w.npz")
    (again,) = fabsight.load(path)
    assert again.source == str(path)


def test_file_is_plain_arrays_and_json(tmp_path):
    path = save_npz(full_wafer(), tmp_path / "w.npz")
    with np.load(path, allow_pickle=False) as archive:  # nothing pickled
        assert set(archive.files) == {"fabsight_format", "grid", "hard_bins", "soft_bins", "metadata"}
        assert str(archive["fabsight_format"]) == "fabsight.wafer/1"
        meta = json.loads(str(archive["metadata"]))
    assert meta["orientation"] == {"x_increases": "L", "y_increases": "U", "flat": "D"}
    assert (meta["x_origin"], meta["y_origin"]) == (-3, 12)
    assert meta["test_time"] == "2024-03-01T08:30:05.123456"


def test_numpy_values_in_extra_are_saved_as_plain_numbers(tmp_path):
    wafer = WaferMap(np.ones((2, 2), np.uint8), source="s",
                     extra={"n": np.int64(3), "f": np.float32(0.5), "a": np.arange(3), "t": (1, 2)})
    (again,) = fabsight.load(save_npz(wafer, tmp_path / "w.npz"))
    assert again.extra == {"n": 3, "f": 0.5, "a": [0, 1, 2], "t": [1, 2]}


@pytest.mark.parametrize("bad", [{"s": {1, 2}}, {"deep": [{"obj": object()}]}, {"path": np.array([object()])}])
def test_unsaveable_extra_is_refused_and_writes_nothing(tmp_path, bad):
    key = next(iter(bad))
    with pytest.raises(InputError, match=f"extra\\['{key}'\\]"):
        save_npz(WaferMap(np.ones((2, 2), np.uint8), extra=bad), tmp_path / "w.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_crash_while_writing_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = save_npz(full_wafer(), tmp_path / "w.npz")
    before = path.read_bytes()

    def crash(handle, **arrays):
        handle.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        save_npz(WaferMap(np.ones((5, 5), np.uint8)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_newer_format_and_damaged_metadata_are_clear_errors(tmp_path):
    grid = np.ones((2, 2), np.uint8)
    np.savez(tmp_path / "new.npz", fabsight_format=np.array("fabsight.wafer/9"), grid=grid,
             metadata=np.array("{}"))
    with pytest.raises(InputError, match="newer fabsight"):
        fabsight.load(tmp_path / "new.npz")
    np.savez(tmp_path / "bad.npz", fabsight_format=np.array("fabsight.wafer/1"), grid=grid,
             metadata=np.array("{not json"))
    with pytest.raises(InputError, match="damaged metadata"):
        fabsight.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "values.npz", fabsight_format=np.array("fabsight.wafer/1"), grid=grid * 3,
             metadata=np.array("{}"))
    with pytest.raises(InputError, match="0 \\(off\\), 1 \\(pass\\), 2 \\(fail\\)"):
        fabsight.load(tmp_path / "values.npz")


@settings(max_examples=25, deadline=None)
@given(grid=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12), elements=st.integers(0, 2)),
       bins=st.booleans(), x0=st.integers(-1000, 1000), y0=st.integers(-1000, 1000),
       flat=st.sampled_from([None, "U", "D", "L", "R"]), lot=st.none() | st.text(max_size=8))
def test_any_wafer_round_trips(tmp_path_factory, grid, bins, x0, y0, flat, lot):
    hard = np.where(grid == OFF, NO_BIN, grid.astype(np.int32) * 3) if bins else None
    wafer = WaferMap(grid, hard_bins=hard, x_origin=x0, y_origin=y0, orientation=Orientation(flat=flat), lot=lot,
                     source="src")
    path = save_npz(wafer, tmp_path_factory.mktemp("npz") / "w.npz")
    (again,) = fabsight.load(path)
    assert_same(wafer, again)


def test_format_constants_are_what_the_reader_checks():
    assert npz.is_fabsight({npz.FORMAT_KEY: np.array("fabsight.wafer/1")})
    assert not npz.is_fabsight({"maps": np.zeros((1, 2, 2))})
