"""The "fail-wafer-line" pixel encoding: its channels, its symmetry, and how a model folder names it."""

import json
import shutil

import numpy as np
import pytest

from fabsight.errors import FabsightError, InputError
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.models.wafer_pixels import (LINE_TAPS, PIXEL_ENCODING_FILE, grid_shares, line_contrast, line_pictures,
                                          model_input)

FULL_LINE = (LINE_TAPS - 1) / LINE_TAPS  # a 1-pixel line on empty ground: 7/7 along it less 7/49 around it


def canvas():
    return np.zeros((1, 48, 48), np.float32)


@pytest.mark.parametrize("direction", ["row", "column", "diagonal", "anti-diagonal"])
def test_a_thin_line_stands_out_in_every_direction(direction):
    fail = canvas()
    steps = np.arange(10, 38)
    rows, cols = {"row": (np.full_like(steps, 24), steps), "column": (steps, np.full_like(steps, 24)),
                  "diagonal": (steps, steps), "anti-diagonal": (steps, 47 - steps)}[direction]
    fail[0, rows, cols] = 1.0
    contrast = line_contrast(fail)
    assert contrast[0, rows[14], cols[14]] == pytest.approx(FULL_LINE, abs=1e-6)
    assert contrast[0, 5, 40 if direction != "anti-diagonal" else 5] == 0  # far from the line


def test_a_solid_cluster_and_an_even_spread_of_fails_are_not_lines():
    blob = canvas()
    blob[0, 14:30, 14:30] = 1.0
    assert line_contrast(blob)[0, 22, 22] == pytest.approx(0.0, abs=1e-6)  # its middle: as dense along as around
    even = np.full((1, 48, 48), 0.3, np.float32)
    assert np.abs(line_contrast(even)).max() == pytest.approx(0.0, abs=1e-6)  # the picture's edge included


def test_the_channels_are_fail_share_wafer_share_and_line():
    grid = np.zeros((30, 30), np.uint8)
    grid[5:25, 5:25] = 1
    grid[15, 5:25] = 2  # a scratch across a square "wafer" padded with off-wafer cells
    shares = grid_shares(grid, 20)  # cropped to the 20 x 20 dies: one die per pixel
    assert shares[..., 1].min() == 1.0  # all wafer after cropping
    assert shares[..., 0].sum() == pytest.approx(20) and shares[10, :, 0].min() == 1.0
    picture = line_pictures([grid], 20)[0]
    np.testing.assert_allclose(picture[..., :2], shares)
    assert picture[10, 10, 2] == pytest.approx(0.5 + 3 * FULL_LINE, abs=1e-5)  # offset 0.5, gain 3
    assert picture[3, 10, 2] == pytest.approx(0.5)  # no line: the channel's midpoint, 0 once normalised


def test_the_encoding_turns_with_the_map():
    rng = np.random.default_rng(3)
    grid = np.where(rng.random((37, 52)) < 0.25, 2, 1).astype(np.uint8)
    grid[10, 5:40] = 2
    views = model_input([grid], 48, 0.5, 0.5, views=8, encoding="fail-wafer-line")
    for k in range(8):
        turned = np.rot90(grid, k // 2)
        turned = np.ascontiguousarray(turned[:, ::-1] if k % 2 else turned)
        np.testing.assert_allclose(views[k], model_input([turned], 48, 0.5, 0.5, encoding="fail-wafer-line")[0],
                                   atol=1e-5)


def test_an_unknown_encoding_is_named_with_the_choices():
    with pytest.raises(InputError, match="pixel encoding must be one of rgb, fail-wafer-line, not 'hsv'"):
        model_input([np.ones((5, 5), np.uint8)], 8, 0.5, 0.5, encoding="hsv")


def test_a_model_folder_names_its_encoding_and_a_damaged_name_is_an_error(tmp_path, tiny_siglip_folder):
    folder = shutil.copytree(tiny_siglip_folder, tmp_path / "model")
    assert load_dual_encoder(str(folder), runtime="torch").pixel_encoding == "fail-wafer-line"
    line_print = load_dual_encoder(str(folder), runtime="torch").fingerprint()
    (folder / PIXEL_ENCODING_FILE).unlink()  # a Hugging Face folder has none: the map in colour
    rgb = load_dual_encoder(str(folder), runtime="torch")
    assert rgb.pixel_encoding == "rgb" and rgb.fingerprint() != line_print  # other pixels, other vectors
    (folder / PIXEL_ENCODING_FILE).write_text(json.dumps({"encoding": "hsv"}))
    with pytest.raises(FabsightError, match=r"unreadable pixel encoding.*'hsv'"):
        load_dual_encoder(str(folder), runtime="torch")
    (folder / PIXEL_ENCODING_FILE).write_text("{not json")
    with pytest.raises(FabsightError, match="unreadable pixel encoding"):
        load_dual_encoder(str(folder), runtime="torch")
