"""Die-list CSV: header spellings, pass/fail words, wafers, retests, junk rows and non-CSV input."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest

import fabsight
from fabsight import FAIL, OFF, PASS, FabsightWarning, InputError
from fabsight.wafer.map import NO_BIN
from fabsight.wafer.readers import csv as csv_reader
from fabsight.wafer.readers import detect


def write(tmp_path, text: str, name: str = "dies.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_quietly(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wafers = fabsight.load(path)
    return wafers, [str(w.message) for w in caught if issubclass(w.category, FabsightWarning)]


def test_bins_only_bin_1_passes(tmp_path):
    path = write(tmp_path, "x,y,bin\n10,5,1\n11,5,7\n10,6,1\n12,6,3\n")
    (wafer,) = fabsight.load(path)
    assert (wafer.x_origin, wafer.y_origin) == (10, 5)
    np.testing.assert_array_equal(wafer.grid, [[PASS, FAIL, OFF], [PASS, OFF, FAIL]])
    np.testing.assert_array_equal(wafer.hard_bins, [[1, 7, NO_BIN], [1, NO_BIN, 3]])
    assert wafer.soft_bins is None and wafer.wafer_id is None


@pytest.mark.parametrize(("text", "expected"), [
    ("Die X;Die Y;Result\n0;0;P\n1;0;F\n", [[PASS, FAIL]]),
    ("X_COORD\tY_COORD\tPASS_FAIL\n0\t0\tPASS\n1\t0\tFAIL\n", [[PASS, FAIL]]),
    ("x_coord|y_coord|status\n0|0|true\n1|0|false\n", [[PASS, FAIL]]),
    ("die_x,die_y,pass\n0,0,1\n1,0,0\n", [[PASS, FAIL]]),
    ("x,y,fail\n0,0,0\n1,0,1\n", [[PASS, FAIL]]),  # a `fail` column: 1 means fail
    ("x,y,fail\n0,0,PASS\n1,0,F\n", [[PASS, FAIL]]),  # words keep their meaning
    ("col,row,hbin,sbin\n0,0,1,1\n1,0,2,12\n", [[PASS, FAIL]]),
    ('"X","Y","Soft Bin"\n0,0,1\n1,0,5\n', [[PASS, FAIL]]),  # soft bin only: soft bin 1 passes
    ("\ufeffX,Y,Result\n0,0,good\n1,0,NG\n", [[PASS, FAIL]]),  # byte-order mark
    ("  X    Y   HBIN\n  0    0      1\n  1    0     12\n", [[PASS, FAIL]]),  # lined up with spaces
])
def test_header_spellings_and_pass_fail_words(tmp_path, text, expected):
    (wafer,) = fabsight.load(write(tmp_path, text))
    np.testing.assert_array_equal(wafer.grid, expected)


def test_pass_fail_column_wins_over_bins_and_both_bins_are_kept(tmp_path):
    (wafer,) = fabsight.load(write(tmp_path, "x,y,hard_bin,soft_bin,result\n0,0,5,50,P\n1,0,1,1,F\n"))
    np.testing.assert_array_equal(wafer.grid, [[PASS, FAIL]])
    np.testing.assert_array_equal(wafer.hard_bins, [[5, 1]])
    np.testing.assert_array_equal(wafer.soft_bins, [[50, 1]])


def test_one_map_per_wafer_with_lot_and_product(tmp_path):
    text = ("lot_id,wafer_id,product,x,y,bin\n"
            "L7,3,PX,0,0,1\nL7,3,PX,1,0,2\nL7,1,PX,5,5,1\nL7,3,PX,0,1,1\n")
    first, second = fabsight.load(write(tmp_path, text))
    assert (first.lot, first.wafer_id, first.product) == ("L7", "3", "PX")
    np.testing.assert_array_equal(first.grid, [[PASS, FAIL], [PASS, OFF]])
    assert (second.wafer_id, second.x_origin, second.y_origin, second.dies) == ("1", 5, 5, 1)


def test_duplicate_coordinates_last_row_wins(tmp_path):
    (wafer,) = fabsight.load(write(tmp_path, "x,y,bin\n0,0,5\n1,0,1\n0,0,1\n"))
    np.testing.assert_array_equal(wafer.grid, [[PASS, PASS]])
    assert wafer.hard_bins[0, 0] == 1


def test_junk_rows_are_skipped_with_count_and_line_numbers(tmp_path):
    text = ("# exported by a prober\nLot: L1\nx,y,bin\n0,0,1\nabc,0,1\n1,0,\n\n2,0,x\n2,1,1\n3,0,1.5\n"
            "1,1,1,extra,fields\n4,0\n")
    (wafer,), messages = load_quietly(write(tmp_path, text))
    assert wafer.dies == 3
    assert len(messages) == 1
    assert "skipped 5 row(s)" in messages[0] and "5, 6, 8, 10, 12" in messages[0]


def test_nothing_usable_is_an_error_naming_the_lines(tmp_path):
    with pytest.raises(InputError, match="no usable die rows.*2 rows.*line\\(s\\) 2, 3"):
        fabsight.load(write(tmp_path, "x,y,bin\nfoo,bar,baz\n1,2,three\n"))
    with pytest.raises(InputError, match="no usable die rows"):
        fabsight.load(write(tmp_path, "x,y,bin\n", "header_only.csv"))


def test_header_without_result_column_names_what_is_accepted(tmp_path):
    with pytest.raises(InputError, match="no bin or pass/fail column.*hard_bin"):
        fabsight.load(write(tmp_path, "x,y,site\n0,0,1\n"))


def test_gzip_csv_and_floats_that_are_integers(tmp_path):
    with gzip.open(tmp_path / "dies.csv.gz", "wt") as handle:
        handle.write("x,y,bin\n0.0,0,1\n1,0.0,2\n")
    (wafer,) = fabsight.load(tmp_path / "dies.csv.gz")
    np.testing.assert_array_equal(wafer.grid, [[PASS, FAIL]])


def test_broken_coordinates_spanning_too_far_are_refused(tmp_path):
    with pytest.raises(InputError, match="spans .* dies"):
        fabsight.load(write(tmp_path, "x,y,bin\n0,0,1\n-32768,0,1\n"))


@pytest.mark.parametrize("content", [b"", b"this is not a picture", b'{"x": 1, "y": 2}', b"a,b,c\n1,2,3\n",
                                     b"\x00\x01x,y,bin\n"])
def test_files_that_are_not_die_lists(tmp_path, content):
    path = tmp_path / "thing.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="empty|not a wafer-map file"):
        fabsight.load(path)


def test_sniff_accepts_die_lists_only():
    assert csv_reader.sniff(b"X,Y,HBIN,SBIN\n1,2,1,1\n")
    assert csv_reader.sniff(b"title line\n# comment\nwafer;die x;die y;result\n")
    assert not csv_reader.sniff(b"name,age\nbob,3\n")
    assert not csv_reader.sniff(b"\x89PNG\r\n\x1a\n\x00\x00")


def test_latin1_file_is_read(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("lot,x,y,bin\nLot\xe9,0,0,1\n".encode("latin-1"))
    assert detect(path).name == "csv"
    (wafer,) = fabsight.load(path)
    assert wafer.lot == "Lot\xe9"
