"""Rendering: colours, grid lines, orientation, title, flat mark, sizes and atomic PNG writes."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from fabsight import FAIL, OFF, PASS, Orientation, WaferMap
from fabsight.wafer import render as r
from fabsight.wafer.render import render, save_png


def disc(rows: int, cols: int | None = None) -> np.ndarray:
    cols = cols or rows
    yy, xx = np.indices((rows, cols))
    inside = ((yy - (rows - 1) / 2) / (rows / 2)) ** 2 + ((xx - (cols - 1) / 2) / (cols / 2)) ** 2 <= 1
    return np.where(inside, PASS, OFF).astype(np.uint8)


def rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def locate(image: Image.Image, grid: np.ndarray) -> tuple[int, int, int]:
    """(top, left, cell) of the drawn grid: the box of die-coloured pixels."""
    pixels = rgb(image)
    dies = np.all(pixels == r.PASS_COLOUR, axis=2) | np.all(pixels == r.FAIL_COLOUR, axis=2)
    rows, cols = np.flatnonzero(dies.any(axis=1)), np.flatnonzero(dies.any(axis=0))
    cell = r.cell_size(grid.shape)
    return rows[0] - (cell >= r.LINE_MIN_CELL), cols[0] - (cell >= r.LINE_MIN_CELL), cell


def centres(image: Image.Image, grid: np.ndarray) -> np.ndarray:
    """The colour at the centre of each die's cell, (rows, cols, 3)."""
    top, left, cell = locate(image, grid)
    ys = top + np.arange(grid.shape[0]) * cell + cell // 2
    xs = left + np.arange(grid.shape[1]) * cell + cell // 2
    return rgb(image)[ys[:, None], xs[None, :]]


def test_each_die_has_its_colour():
    grid = disc(20)
    grid[5, 5] = grid[10, 12] = FAIL
    seen = centres(render(WaferMap(grid)), grid)
    np.testing.assert_array_equal(seen, r.PALETTE[grid])


def test_pass_and_fail_differ_in_lightness_for_colour_blind_readers():
    from fabsight.wafer.readers.image.dies import lightness

    assert lightness(np.array(r.PASS_COLOUR)) - lightness(np.array(r.FAIL_COLOUR)) > 25


def test_grid_lines_between_dies_only_on_the_wafer():
    grid = disc(20)
    pixels = rgb(render(WaferMap(grid), title=False))
    top, left, cell = locate(render(WaferMap(grid), title=False), grid)
    assert cell >= r.LINE_MIN_CELL
    line_row = pixels[top + 10 * cell, left: left + 20 * cell]  # the line above die row 10
    assert np.all(line_row[1:-1] == r.LINE_COLOUR, axis=1).mean() > 0.9
    assert np.all(pixels[0] == r.BACKGROUND)  # nothing drawn in the margin
    small = rgb(render(WaferMap(disc(150)), title=False))
    assert not np.all(small == r.LINE_COLOUR, axis=2).any()  # cells too small for lines


@pytest.mark.parametrize("across", [20, 35, 60, 120, 200])
def test_picture_size_suits_20_to_200_dies_across(across):
    image = render(WaferMap(disc(across)))
    assert 300 <= max(image.size) <= 800
    assert 2 <= r.cell_size((across, across)) <= 24


def test_orientation_is_applied_upright():
    grid = disc(15, 19)
    grid[1, 4] = FAIL
    turned = WaferMap(grid[::-1, ::-1].copy(), orientation=Orientation("L", "U"))
    assert np.array_equal(rgb(render(turned)), rgb(render(WaferMap(grid))))


def test_off_wafer_margins_are_not_drawn():
    padded = np.zeros((60, 50), np.uint8)
    padded[3:23, 7:27] = disc(20)
    assert np.array_equal(rgb(render(WaferMap(padded))), rgb(render(WaferMap(disc(20)))))


def test_title_names_lot_wafer_and_yield():
    grid = disc(10)
    grid[4:6, 4:6] = FAIL
    wafer = WaferMap(grid, lot="LOT9", wafer_id="W07")
    text = r.title_text(wafer)
    assert "LOT9" in text and "W07" in text and f"{100 * wafer.yield_:.1f}%" in text
    assert r.title_text(WaferMap(np.zeros((3, 3), np.uint8), source="/a/b.npy")).startswith("b.npy")
    with_title, without = rgb(render(wafer)), rgb(render(wafer, title=False))
    assert with_title.shape[0] == without.shape[0] + r.TITLE_PX
    assert np.all(with_title[:r.TITLE_PX] == r.INK, axis=2).any()


@pytest.mark.parametrize("flat", ["U", "D", "L", "R"])
def test_flat_mark_sits_outside_the_wafer_on_its_side(flat):
    grid = disc(20)
    plain = rgb(render(WaferMap(grid), title=False))
    marked = rgb(render(WaferMap(grid, orientation=Orientation(flat=flat)), title=False))
    ys, xs = np.nonzero(np.any(plain != marked, axis=2))
    assert ys.size > 10 and np.all(marked[ys, xs] == r.INK)
    h, w = plain.shape[:2]
    side = {"U": ys.max() < h / 4, "D": ys.min() > 3 * h / 4, "L": xs.max() < w / 4, "R": xs.min() > 3 * w / 4}
    assert side[flat]


def test_a_wafer_without_dies_still_renders():
    image = render(WaferMap(np.zeros((4, 4), np.uint8), lot="L"))
    assert "no dies" in r.title_text(WaferMap(np.zeros((4, 4), np.uint8)))
    assert image.size[0] > 0


def test_save_png_is_atomic_and_returns_the_path(tmp_path, monkeypatch):
    wafer = WaferMap(disc(20), lot="L1", wafer_id="3")
    path = save_png(wafer, tmp_path / "sub" / "w.png")
    assert path == tmp_path / "sub" / "w.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.text["fabsight"] == '{"lot": "L1", "wafer_id": "3"}'
    before = path.read_bytes()

    def crash(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(OSError):
        save_png(WaferMap(disc(30)), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.png"]


def test_drawing_calls_do_not_grow_with_the_number_of_dies(monkeypatch):
    """Dies are filled by array work; PIL draws only the title and the flat mark (speed: the benchmarks)."""
    from PIL import ImageDraw

    calls = []
    for name in ("text", "polygon", "rectangle", "line", "point", "ellipse"):
        original = getattr(ImageDraw.ImageDraw, name)
        monkeypatch.setattr(ImageDraw.ImageDraw, name,
                            lambda self, *a, _n=name, _f=original, **k: (calls.append(_n), _f(self, *a, **k))[1])
    counts = []
    for across in (20, 200):
        calls.clear()
        render(WaferMap(disc(across), lot="L", orientation=Orientation(flat="D")))
        counts.append(len(calls))
    assert counts[0] == counts[1] and 0 < counts[0] <= 3
