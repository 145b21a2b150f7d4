"""Pickles (WM-811K's LSWMD.pkl layout): refused without trust, never run; read with it."""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import fabsight
from fabsight import FAIL, OFF, PASS, InputError
from fabsight.wafer.readers import detect

GRID = np.array([[OFF, PASS, PASS, OFF], [PASS, FAIL, PASS, PASS], [OFF, PASS, PASS, OFF]], np.uint8)
OPENERS = {"": open, ".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


class Tripwire:
    """Unpickling this creates a file: proof that a refused pickle never ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def dump(obj, path: Path, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    with OPENERS["".join(path.suffixes[-1:]) if path.suffix in OPENERS else ""](path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    return path


def lswmd_columns() -> dict:
    """The LSWMD.pkl columns, with its nested labels ([['Center']], and [] for unlabelled)."""
    return {
        "waferMap": [GRID, GRID.T.copy(), np.where(GRID == PASS, FAIL, GRID)],
        "dieSize": [1683.0, 1683.0, 710.0],
        "lotName": ["lot1", "lot1", "lot2"],
        "waferIndex": [1.0, 2.0, 25.0],
        "trianTestLabel": [np.array([["Training"]]), np.array([["Test"]]), np.zeros((0, 0))],
        "failureType": [np.array([["Center"]], dtype=object), np.zeros((0, 0)), np.array([["Near-full"]])],
    }


def check_lswmd(wafers) -> None:
    assert len(wafers) == 3
    a, b, c = wafers
    np.testing.assert_array_equal(a.grid, GRID)
    np.testing.assert_array_equal(b.grid, GRID.T)
    assert (a.lot, a.wafer_id, c.lot, c.wafer_id) == ("lot1", "1", "lot2", "25")
    assert a.extra == {"index": 0, "label": "Center", "split": "Training", "die_size": 1683.0}
    assert "label" not in b.extra and b.extra["split"] == "Test"
    assert c.extra["label"] == "Near-full" and "split" not in c.extra and c.fails == c.dies


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickle_is_refused_without_trust_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = dump([Tripwire(marker)], tmp_path / "evil.pkl", protocol)
    assert detect(path).name == "pickle"
    with pytest.raises(InputError, match="--trust-pickle") as info:
        fabsight.load(path)
    assert "runs code" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz", ".bz2"])
def test_compressed_pickles_are_recognised_and_refused(tmp_path, suffix):
    path = dump(lswmd_columns(), tmp_path / f"maps.pkl{suffix}")
    assert detect(path).name == "pickle"
    with pytest.raises(InputError, match="--trust-pickle"):
        fabsight.load(path)


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz", ".bz2"])
def test_wm811k_columns_load_with_trust(tmp_path, suffix):
    check_lswmd(fabsight.load(dump(lswmd_columns(), tmp_path / f"lswmd.pkl{suffix}"), trust_pickle=True))


def test_wm811k_dataframe_loads_with_trust(tmp_path):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(lswmd_columns())
    frame.to_pickle(tmp_path / "LSWMD.pkl")
    check_lswmd(fabsight.load(tmp_path / "LSWMD.pkl", trust_pickle=True))
    frame.to_pickle(tmp_path / "LSWMD.pkl.xz", compression="xz")
    check_lswmd(fabsight.load(tmp_path / "LSWMD.pkl.xz", trust_pickle=True))


def test_dataframe_without_pandas_says_how_to_get_it(tmp_path, monkeypatch):
    pandas = pytest.importorskip("pandas")
    pandas.DataFrame(lswmd_columns()).to_pickle(tmp_path / "LSWMD.pkl")
    for name in [m for m in sys.modules if m == "pandas" or m.startswith("pandas.")]:
        monkeypatch.setitem(sys.modules, name, None)  # import pandas now fails
    with pytest.raises(InputError, match="pip install pandas"):
        fabsight.load(tmp_path / "LSWMD.pkl", trust_pickle=True)


def test_arrays_lists_and_dicts_of_arrays(tmp_path):
    (one,) = fabsight.load(dump(GRID, tmp_path / "one.pkl"), trust_pickle=True)
    np.testing.assert_array_equal(one.grid, GRID)
    ragged = fabsight.load(dump([GRID, GRID[:2]], tmp_path / "list.pkl"), trust_pickle=True)
    assert [w.shape for w in ragged] == [(3, 4), (2, 4)]
    stack = {"maps": np.stack([GRID, GRID]), "labels": np.array(["Loc", "none"])}
    a, b = fabsight.load(dump(stack, tmp_path / "dict.pkl"), trust_pickle=True)
    assert (a.extra["label"], b.extra["label"]) == ("Loc", "none")


def test_bad_values_and_unknown_objects_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="holds 7"):
        fabsight.load(dump({"waferMap": [GRID * 0 + 7]}, tmp_path / "seven.pkl"), trust_pickle=True)
    with pytest.raises(InputError, match="type int"):
        fabsight.load(dump(42, tmp_path / "int.pkl"), trust_pickle=True)
    data = pickle.dumps(lswmd_columns(), protocol=4)
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot unpickle"):
        fabsight.load(tmp_path / "cut.pkl", trust_pickle=True)


def test_bz2_that_is_not_a_pickle_is_a_clear_error(tmp_path):
    with bz2.open(tmp_path / "table.csv.bz2", "wt") as handle:
        handle.write("x,y,bin\n0,0,1\n")
    with pytest.raises(InputError, match="does not hold a pickle"):
        fabsight.load(tmp_path / "table.csv.bz2", trust_pickle=True)
