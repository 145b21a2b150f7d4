"""WM-811K style arrays in .npy / .npz: the real public split, stacks, encodings and bad input."""

from __future__ import annotations

import gzip
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import fabsight
from fabsight import FAIL, OFF, PASS, FabsightWarning, InputError
from fabsight.wafer.readers import detect, read_head
from fabsight.wafer.readers.arrays import maps_from_stack

PUBLIC = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "wm811k-real" / "public.npz"


def disc(rows: int = 9, cols: int = 9) -> np.ndarray:
    yy, xx = np.indices((rows, cols))
    grid = np.where(((yy - (rows - 1) / 2) / (rows / 2)) ** 2 + ((xx - (cols - 1) / 2) / (cols / 2)) ** 2 <= 1,
                    PASS, OFF).astype(np.uint8)
    grid[rows // 2, cols // 2] = FAIL
    return grid


def load_quietly(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wafers = fabsight.load(path, **kwargs)
    return wafers, [w for w in caught if issubclass(w.category, FabsightWarning)]


# --- the real public WM-811K split ------------------------------------------------------------------
@pytest.fixture(scope="module")
def public():
    if not PUBLIC.exists():
        pytest.skip(f"shared WM-811K data not found at {PUBLIC}")
    with np.load(PUBLIC, allow_pickle=False) as data:
        expected = {key: data[key] for key in ("shapes", "labels", "lot_name", "wafer_index")}
        expected["first"] = data["maps"][0]
        expected["last"] = data["maps"][-1]
    return fabsight.load(PUBLIC), expected


def test_public_npz_gives_one_map_per_row_with_labels(public):
    wafers, expected = public
    assert len(wafers) == len(expected["labels"]) == 2166
    assert Counter(w.extra["label"] for w in wafers) == Counter(expected["labels"].tolist())
    assert [w.shape for w in wafers] == [tuple(s) for s in expected["shapes"].tolist()]
    assert [w.extra["index"] for w in wafers] == list(range(len(wafers)))


def test_public_npz_maps_are_cropped_exactly(public):
    wafers, expected = public
    for wafer, padded in ((wafers[0], expected["first"]), (wafers[-1], expected["last"])):
        rows, cols = wafer.shape
        np.testing.assert_array_equal(wafer.grid, padded[:rows, :cols])
        assert not padded[rows:].any() and not padded[:, cols:].any()  # only padding was cut


def test_public_npz_lot_and_wafer_where_known(public):
    wafers, expected = public
    known = expected["lot_name"] != ""
    assert [w.lot for w in wafers] == [str(n) if k else None for n, k in zip(expected["lot_name"], known)]
    assert [w.wafer_id for w in wafers] == [str(i) if i >= 0 else None for i in expected["wafer_index"].tolist()]
    assert sum(w.lot is not None for w in wafers) == int(known.sum()) > 0


# --- layouts ------------------------------------------------------------------------------------------
def test_a_2d_array_is_one_map(tmp_path):
    grid = disc()
    np.save(tmp_path / "one.npy", grid)
    (wafer,) = fabsight.load(tmp_path / "one.npy")
    np.testing.assert_array_equal(wafer.grid, grid)
    assert wafer.source == str(tmp_path / "one.npy") and wafer.extra == {}


@pytest.mark.parametrize("trailing", [False, True])
def test_a_3d_array_is_a_stack(tmp_path, trailing):
    stack = np.stack([disc(), disc().T, np.where(disc() == PASS, FAIL, disc())])
    np.save(tmp_path / "stack.npy", stack[..., None] if trailing else stack)
    wafers = fabsight.load(tmp_path / "stack.npy")
    assert len(wafers) == 3
    for i, wafer in enumerate(wafers):
        np.testing.assert_array_equal(wafer.grid, stack[i])
        assert wafer.extra["index"] == i


def test_gzip_npy_and_float_arrays(tmp_path):
    grid = disc()
    with gzip.open(tmp_path / "maps.npy.gz", "wb") as handle:
        np.save(handle, grid.astype(np.float32))
    (wafer,) = fabsight.load(tmp_path / "maps.npy.gz")
    np.testing.assert_array_equal(wafer.grid, grid)


def test_npz_with_labels_and_lots(tmp_path):
    maps = np.stack([disc(), disc()])
    np.savez_compressed(tmp_path / "m.npz", maps=maps, labels=np.array(["Center", "none"]),
                        lot=np.array(["L1", ""]), wafer_index=np.array([3.0, np.nan]), score=np.array([0.5, 0.25]),
                        product=np.array("P9"))
    a, b = fabsight.load(tmp_path / "m.npz")
    assert (a.lot, a.wafer_id, a.extra) == ("L1", "3", {"index": 0, "label": "Center", "score": 0.5, "product": "P9"})
    assert (b.lot, b.wafer_id, b.extra["label"]) == (None, None, "none")


def test_mixedwm38_layout_keeps_the_label_vector(tmp_path):
    maps = np.stack([disc(52, 52)] * 2)
    onehot = np.array([[1, 0, 0, 0, 0, 0, 1, 0], [0] * 8], dtype=np.int32)
    np.savez(tmp_path / "mixed.npz", arr_0=maps, arr_1=onehot)
    a, b = fabsight.load(tmp_path / "mixed.npz")
    assert a.extra["arr_1"] == [1, 0, 0, 0, 0, 0, 1, 0] and a.shape == (52, 52)
    assert b.extra["arr_1"] == [0] * 8


def test_npz_without_a_clear_maps_array_lists_its_keys(tmp_path):
    np.savez(tmp_path / "two.npz", first=np.stack([disc()] * 2), second=np.stack([disc()] * 3))
    with pytest.raises(InputError, match="first .*second.*name it 'maps'"):
        fabsight.load(tmp_path / "two.npz")


# --- encodings ----------------------------------------------------------------------------------------
def test_bool_is_a_fail_mask_with_a_warning(tmp_path):
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = mask[0, 4] = True  # a fail in the middle, and one in a corner outside the wafer's ellipse
    np.save(tmp_path / "mask.npy", mask)
    (wafer,), caught = load_quietly(tmp_path / "mask.npy")
    assert wafer.fails == 2 and wafer.grid[1, 2] == wafer.grid[0, 4] == FAIL  # a failed die was tested: on-wafer
    assert (wafer.grid[0, 0], wafer.grid[3, 0], wafer.grid[3, 4]) == (OFF, OFF, OFF)  # passing corners: off-wafer
    assert (wafer.grid[1:3] != OFF).all() and (wafer.grid[:, 1:4] != OFF).all()  # the middle rows and columns: on
    assert "bool fail mask" in wafer.extra["encoding"] and "True = fail" in str(caught[0].message)


def test_a_bool_mask_of_a_real_map_keeps_most_of_its_outline(public):
    """The outline a mask loses is guessed as the ellipse filling the map; on the real maps it is close."""
    wafers, _ = public
    agree = []
    for wafer in wafers[::10]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FabsightWarning)
            (from_mask,) = maps_from_stack(wafer.grid == FAIL, Path("mask.npy"))
        assert (from_mask.grid == FAIL).sum() == wafer.fails  # every fail kept
        agree.append(np.mean((from_mask.grid != OFF) == (wafer.grid != OFF)))
    assert np.median(agree) > 0.95 and np.percentile(agree, 10) > 0.9
    # all on-wafer (the rule before) would agree only where the true map is on the wafer
    assert np.median([np.mean(w.grid != OFF) for w in wafers[::10]]) < 0.85


def test_grey_scaled_maps_are_read_with_a_warning(tmp_path):
    grey = np.array([[0, 128, 255], [0, 255, 128]], np.uint8)
    np.save(tmp_path / "grey.npy", grey)
    (wafer,), caught = load_quietly(tmp_path / "grey.npy")
    np.testing.assert_array_equal(wafer.grid, [[OFF, PASS, FAIL], [OFF, FAIL, PASS]])
    assert len(caught) == 1 and "255 fail" in str(caught[0].message)


# --- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("array", "message"), [
    (np.array([[0, 1, 3]]), "holds 3;"),
    (np.array([[0, -1, 2]]), "negative"),
    (np.array([[0.0, 0.5, 2.0]]), "fractions"),
    (np.array([[0.0, np.nan]]), "NaN"),
    (np.zeros(5, np.uint8), "shape \\(5,\\); expected one map"),
    (np.zeros((2, 4, 4, 3), np.uint8), "colour pictures"),
    (np.zeros((0, 4), np.uint8), "empty"),
    (np.array([["a", "b"]]), "dtype <U1"),
])
def test_wrong_values_and_shapes_name_the_problem(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InputError, match=message):
        fabsight.load(tmp_path / "bad.npy")


def test_object_array_needs_trust_and_then_reads_a_ragged_list(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = disc(5, 6), disc(7, 7)
    np.save(tmp_path / "ragged.npy", ragged, allow_pickle=True)
    with pytest.raises(InputError, match="--trust-pickle"):
        fabsight.load(tmp_path / "ragged.npy")
    a, b = fabsight.load(tmp_path / "ragged.npy", trust_pickle=True)
    assert (a.shape, b.shape) == ((5, 6), (7, 7))


def test_object_side_array_is_skipped_with_a_hint(tmp_path):
    labels = np.array([["Center"], None], dtype=object)
    np.savez(tmp_path / "m.npz", maps=np.stack([disc(), disc()]), labels=labels)
    wafers, caught = load_quietly(tmp_path / "m.npz")
    assert len(wafers) == 2 and "label" not in wafers[0].extra
    assert "'labels'" in str(caught[0].message) and "--trust-pickle" in str(caught[0].message)


def test_truncated_and_damaged_files_are_clear_errors(tmp_path):
    np.save(tmp_path / "whole.npy", np.stack([disc()] * 50))
    data = (tmp_path / "whole.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated|damaged"):
        fabsight.load(tmp_path / "cut.npy")
    np.savez(tmp_path / "whole.npz", maps=np.stack([disc()] * 50))
    data = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="damaged|truncated"):
        fabsight.load(tmp_path / "cut.npz")


def test_a_zip_of_other_things_is_not_taken_for_an_npz(tmp_path):
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(InputError, match="not a wafer-map file"):
        fabsight.load(tmp_path / "notes.zip")
    np.savez(tmp_path / "real.npz", maps=np.stack([disc()]))
    assert detect(tmp_path / "real.npz").name == "npy"
    assert read_head(tmp_path / "real.npz").startswith(b"PK\x03\x04")
