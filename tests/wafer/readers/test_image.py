"""Pictures of wafer maps: exact on fabsight's own renders, good on matplotlib exports, safe on bad files."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fabsight
from fabsight import FAIL, OFF, PASS, InputError, Orientation, WaferMap
from fabsight.wafer.readers import LoadOptions, detect
from fabsight.wafer.readers import image as reader
from fabsight.wafer.render import render, save_png, wafer_box

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "wm811k-real"


def crop(grid: np.ndarray) -> np.ndarray:
    return grid[wafer_box(grid)]


def wafer_grid(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A wafer-like map: an elliptic wafer with random fails and one of a few patterns."""
    yy, xx = np.indices((rows, cols))
    cy, cx = (rows - 1) / 2, (cols - 1) / 2
    radius = np.hypot((yy - cy) / (rows / 2), (xx - cx) / (cols / 2))
    on = radius <= 1 + rng.uniform(-0.05, 0.1)
    fail = rng.random((rows, cols)) < rng.choice([0.0, 0.03, 0.1, 0.4])
    pattern = rng.integers(5)
    if pattern == 1:
        fail |= radius < rng.uniform(0.1, 0.4)  # centre
    elif pattern == 2:
        fail |= radius > 0.85  # edge ring
    elif pattern == 3:
        fail |= np.abs((yy - cy) - (xx - cx) * rng.uniform(-1, 1)) < 0.6  # scratch
    elif pattern == 4:
        fail |= rng.random() < 0.5  # (near) full fail
    return np.where(on, np.where(fail, FAIL, PASS), OFF).astype(np.uint8)


def sizes(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    fixed = [(5, 6), (6, 5), (20, 20), (200, 200), (200, 120), (40, 90)]
    return fixed + [(int(a), int(b)) for a, b in rng.integers(5, 201, size=(n - len(fixed), 2))]


# --- fabsight's own pictures: exact ----------------------------------------------------------------------
def test_render_round_trip_is_exact_for_many_maps(tmp_path):
    rng = np.random.default_rng(2024)
    for i, (rows, cols) in enumerate(sizes(rng, 30)):
        grid = wafer_grid(rng, rows, cols)
        if len(np.unique(crop(grid))) == 1 and min(rows, cols) > 26:
            grid[rows // 2, cols // 2] = FAIL  # a one-colour map without grid lines shows no die grid
        wafer = WaferMap(grid, lot="LOT", wafer_id=str(i), orientation=Orientation(flat="DULR"[i % 4]))
        path = save_png(wafer, tmp_path / f"w{i}.png")
        (again,) = fabsight.load(path)
        np.testing.assert_array_equal(again.grid, crop(grid), err_msg=f"map {i}: {rows} x {cols}")
        assert (again.lot, again.wafer_id, again.source) == ("LOT", str(i), str(path))
        assert again.extra["recovered_from"] == "picture"


def test_tiny_20_die_wafer_and_upright_orientation(tmp_path):
    grid = np.array([[0, 1, 1, 1, 0], [1, 1, 2, 1, 1], [1, 1, 1, 1, 1], [1, 2, 1, 1, 1], [0, 1, 1, 1, 0]], np.uint8)
    assert np.count_nonzero(grid) == 21
    turned = WaferMap(grid[::-1].copy(), orientation=Orientation(y_increases="U"))
    (again,) = fabsight.load(save_png(turned, tmp_path / "tiny.png"))
    np.testing.assert_array_equal(again.grid, grid)  # the picture is upright; so is what comes back


def test_jpeg_and_transparent_pictures(tmp_path):
    rng = np.random.default_rng(5)
    grid = wafer_grid(rng, 40, 44)
    image = render(WaferMap(grid))
    image.convert("RGB").save(tmp_path / "w.jpg", quality=85)
    (again,) = fabsight.load(tmp_path / "w.jpg")
    np.testing.assert_array_equal(again.grid, crop(grid))
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba).copy()
    alpha[np.all(alpha[..., :3] == 255, axis=2)] = (0, 0, 0, 0)  # background made transparent (black)
    Image.fromarray(alpha, "RGBA").save(tmp_path / "w.png")
    (again,) = fabsight.load(tmp_path / "w.png")
    np.testing.assert_array_equal(again.grid, crop(grid))


def test_several_maps_side_by_side_give_one_map_each_in_reading_order():
    rng = np.random.default_rng(9)
    grids = [wafer_grid(rng, 30, 30) for _ in range(4)]
    tiles = [np.asarray(render(WaferMap(g), title=False).convert("RGB")) for g in grids]
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
    sheet = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    wafers = reader.maps_from_pixels(sheet)
    assert [w.extra["panel"] for w in wafers] == [0, 1, 2, 3]
    for wafer, grid in zip(wafers, grids):
        np.testing.assert_array_equal(wafer.grid, crop(grid))


# --- other tools' pictures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def figure_image(plt, draw, **savefig) -> Image.Image:
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    draw(fig, ax)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig)
    plt.close(fig)
    return Image.open(io.BytesIO(buffer.getvalue()))


def maps_for_tools() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [wafer_grid(rng, rows, cols) for rows, cols in ((26, 26), (39, 37), (52, 47))]


@pytest.mark.parametrize("cmap", ["viridis", "magma", "jet", "gray"])
def test_matplotlib_imshow_with_a_colour_map(plt, cmap):
    for grid in maps_for_tools():
        def draw(fig, ax, grid=grid):
            fig.colorbar(ax.imshow(grid, cmap=cmap, vmin=0, vmax=2), ax=ax)
            ax.set_title("wafer")

        (wafer,) = reader.maps_from_image(figure_image(plt, draw))
        np.testing.assert_array_equal(wafer.grid, grid)  # the whole array, off-wafer corners included


def test_matplotlib_die_plots_with_and_without_grid_lines(plt):
    from matplotlib.colors import ListedColormap

    for grid in maps_for_tools():
        def plain(fig, ax, grid=grid):
            ax.imshow(grid, cmap=ListedColormap(["white", "#2ca02c", "#d62728"]), vmin=0, vmax=2)
            ax.axis("off")

        def lines(fig, ax, grid=grid):
            ax.pcolormesh(np.ma.masked_equal(grid[::-1], 0), cmap=ListedColormap(["#2ca02c", "#d62728"]),
                          vmin=1, vmax=2, edgecolors="k", linewidth=0.3)
            ax.set_aspect("equal")
            ax.axis("off")

        for draw, dpi in ((plain, 100), (lines, 150)):
            (wafer,) = reader.maps_from_image(figure_image(plt, draw, dpi=dpi))
            np.testing.assert_array_equal(wafer.grid, crop(grid))


def test_grid_lines_that_run_to_the_pictures_edges_are_not_its_background():
    """A die plot cropped tight to its lattice: the line colour holds the corners, but lines are not a background."""
    rng = np.random.default_rng(5)
    for rows, cols in ((39, 37), (25, 60)):
        grid = wafer_grid(rng, rows, cols)
        pixels = np.array([(255, 255, 255), (0, 170, 0), (220, 0, 0)], np.uint8)[grid].repeat(6, 0).repeat(6, 1)
        pixels[::6, :] = pixels[:, ::6] = 64  # a grey line at every die boundary, also through the off-wafer white
        (wafer,) = reader.maps_from_pixels(pixels)
        np.testing.assert_array_equal(wafer.grid, crop(grid))


def test_matplotlib_imsave_one_pixel_per_die(plt):
    for grid in maps_for_tools():
        buffer = io.BytesIO()
        plt.imsave(buffer, grid, cmap="viridis", vmin=0, vmax=2, format="png")
        (wafer,) = reader.maps_from_image(Image.open(buffer))
        assert wafer.extra["pitch_px"] == [1.0, 1.0]
        np.testing.assert_array_equal(wafer.grid, crop(grid))


def test_examples_figure_of_real_maps():
    """examples.png: 72 real WM-811K maps at about 2.4 pixels per die; each recovered panel is looked up
    in public.npz (which holds every map drawn there)."""
    if not (SHARED / "examples.png").exists() or not (SHARED / "public.npz").exists():
        pytest.skip("shared WM-811K examples not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wafers = fabsight.load(SHARED / "examples.png")
    with np.load(SHARED / "public.npz") as data:
        known = {crop(m[:h, :w]).tobytes() + bytes(crop(m[:h, :w]).shape) for m, (h, w) in
                 zip(data["maps"], data["shapes"])}
    exact = sum(w.grid.tobytes() + bytes(w.grid.shape) in known for w in wafers)
    assert len(wafers) >= 70 and exact >= 60  # measured: 71 panels read, 64 exact


# --- bad input ---------------------------------------------------------------------------------------------
def test_not_a_picture_named_png(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"this is not a picture")
    with pytest.raises(InputError, match="not a wafer-map file"):
        fabsight.load(path)
    with pytest.raises(InputError, match="not a picture"):
        reader.read(path, LoadOptions())


def test_truncated_png_is_a_clear_error(tmp_path):
    save_png(WaferMap(wafer_grid(np.random.default_rng(1), 60, 60)), tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert detect(tmp_path / "cut.png").name == "image"
    with pytest.raises(InputError, match="damaged or truncated"):
        fabsight.load(tmp_path / "cut.png")


def png_of_constant_colour(width: int, height: int) -> bytes:
    """A valid 1-bit grey PNG built by hand: 100 megapixels compress to a few kilobytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_a_100_megapixel_picture_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    from PIL import ImageFile

    path = tmp_path / "huge.png"
    path.write_bytes(png_of_constant_colour(10_000, 10_000))
    assert path.stat().st_size < 100_000  # tiny on disk: only decoding would cost time and 300 MB
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the picture was decoded"))
    with pytest.raises(InputError, match="100 megapixels"):
        fabsight.load(path)


def test_a_chart_is_refused_in_one_message_and_a_bin_map_read_with_a_warning(plt, tmp_path):
    figure, axes = plt.subplots()
    axes.plot(np.sin(np.linspace(0, 10, 100)))
    figure.savefig(tmp_path / "chart.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning before the refusal would be raised here instead
        with pytest.raises(InputError, match="no clean die grid.*not a wafer map"):
            fabsight.load(tmp_path / "chart.png")
    on = wafer_grid(np.random.default_rng(5), 30, 30) != OFF
    bins = np.where(on, 1 + np.random.default_rng(6).integers(0, 4, on.shape), 0)  # four bins, drawn 6 px a die
    plt.imsave(tmp_path / "bins.png", np.kron(bins, np.ones((6, 6))), cmap="tab10", vmin=0, vmax=9)
    with pytest.warns(fabsight.FabsightWarning, match="die colours"):
        (wafer,) = fabsight.load(tmp_path / "bins.png")
    assert set(np.unique(wafer.grid)) <= {OFF, PASS, FAIL} and (wafer.grid == FAIL).any()


def test_pictures_without_a_die_grid(tmp_path):
    Image.new("RGB", (300, 200), (40, 160, 60)).save(tmp_path / "green.png")
    with pytest.raises(InputError):
        fabsight.load(tmp_path / "green.png")
    noise = np.random.default_rng(0).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    with pytest.raises(InputError):
        fabsight.load(tmp_path / "noise.png")
