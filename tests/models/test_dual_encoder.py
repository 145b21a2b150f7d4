import numpy as np
import pytest
from PIL import Image

from fabsight.errors import FabsightError, FabsightWarning
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.models.wafer_pixels import MODEL_PALETTE, grid_to_square, symmetric_views, wafer_pixels
from fabsight.wafer.map import WaferMap


def random_wafers(n, seed=0):
    rng = np.random.default_rng(seed)
    wafers = []
    for _ in range(n):
        rows, cols = rng.integers(18, 60, size=2)
        yy, xx = np.indices((rows, cols))
        on = ((yy - rows / 2 + 0.5) / (rows / 2)) ** 2 + ((xx - cols / 2 + 0.5) / (cols / 2)) ** 2 <= 1
        grid = np.where(on, np.where(rng.random((rows, cols)) < 0.2, 2, 1), 0).astype(np.uint8)
        wafers.append(WaferMap(grid))
    return wafers


def test_loads_from_a_folder_with_matching_preprocessing(tiny_dual_encoder_folder):
    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))
    assert encoder.model_type in ("clip", "siglip")
    assert encoder.image_size == 32
    vectors = encoder.embed_wafers(random_wafers(5))
    assert vectors.shape == (5, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_vectors(tiny_dual_encoder_folder):
    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))
    wafers = random_wafers(7, seed=1)
    together = encoder.embed_wafers(wafers, batch_size=7)
    one_by_one = np.concatenate([encoder.embed_wafers([w]) for w in wafers])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    # Pixels of the next batch are made while the current one runs: order and an uneven last batch hold.
    np.testing.assert_allclose(encoder.embed_wafers(wafers, batch_size=3), together, atol=1e-5)
    np.testing.assert_allclose(encoder.embed_wafers(wafers, batch_size=4, views=2),
                               encoder.embed_wafers(wafers, batch_size=14, views=2), atol=1e-5)
    texts = ["edge ring", "a scratch from the upper left to the centre of the wafer", "none"]
    np.testing.assert_allclose(encoder.embed_texts(texts),
                               np.concatenate([encoder.embed_texts([t]) for t in texts]), atol=1e-5)


def test_symmetric_views_are_the_eight_turns_and_mirrors_in_order():
    states = np.random.default_rng(0).integers(0, 3, size=(2, 5, 5))  # no symmetry of its own (checked below)
    views = symmetric_views(states, 8).reshape(8, 2, 5, 5)
    np.testing.assert_array_equal(views[0], states)
    np.testing.assert_array_equal(views[1], states[:, :, ::-1])
    np.testing.assert_array_equal(views[2], np.rot90(states, 1, axes=(1, 2)))
    assert len({v.tobytes() for v in views[:, 0]}) == 8
    assert symmetric_views(states, 1) is states
    for bad in (0, 9):
        with pytest.raises(FabsightError, match="views must be 1 to 8"):
            symmetric_views(states, bad)


def test_averaged_views_are_the_mean_of_each_view_and_do_not_change_when_the_wafer_turns(tiny_dual_encoder_folder):
    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))
    size = encoder.image_size  # full square grids of the model's size: resampling leaves them as they are
    grids = np.random.default_rng(2).integers(1, 3, size=(3, size, size)).astype(np.uint8)
    averaged = encoder.embed_wafers(list(grids), views=8)
    each = encoder.embed_wafers(list(symmetric_views(grids, 8))).reshape(8, 3, -1).mean(axis=0)
    np.testing.assert_allclose(averaged, each / np.linalg.norm(each, axis=1, keepdims=True), atol=1e-5)
    turned = encoder.embed_wafers([np.rot90(g) for g in grids], views=8)  # same set of eight views
    np.testing.assert_allclose(turned, averaged, atol=1e-5)
    assert np.abs(encoder.embed_wafers(list(grids)) - averaged).max() > 1e-3  # one view differs: the mean did something


def test_long_text_is_cut_with_a_warning(tiny_dual_encoder_folder):
    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))
    with pytest.warns(FabsightWarning, match="cut to fit"):
        vectors = encoder.embed_texts(["ring " * 100])
    assert vectors.shape == (1, encoder.dim)


def test_pictures_go_through_the_models_own_processor(tiny_dual_encoder_folder):
    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    assert encoder.embed_pictures([picture, picture]).shape == (2, encoder.dim)


@pytest.mark.parametrize("texts", [[], [""], ["   "]])
def test_empty_texts_are_refused(tiny_dual_encoder_folder, texts):
    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))
    with pytest.raises(FabsightError, match="non-empty"):
        encoder.tokenize(texts)


def test_unknown_and_missing_models_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FabsightError, match="not on this machine.*never downloads"):
        load_dual_encoder("openai/clip-vit-base-patch32")
    with pytest.raises(FabsightError, match="unknown model 'no-such-model'.*wafer-clip"):
        load_dual_encoder("no-such-model")
    with pytest.raises(FabsightError, match="no config.json"):
        load_dual_encoder(str(tmp_path))


def test_pixels_crop_padding_and_stretch_to_square():
    grid = np.zeros((40, 30), np.uint8)
    grid[5:15, 5:25] = 1  # a 10 x 20 block of dies in a padded array
    grid[5:15, 5:15] = 2
    square = grid_to_square(grid, 8)
    assert square.shape == (8, 8, 3) and square.dtype == np.uint8
    assert (square[:, :4] == MODEL_PALETTE[2]).all() and (square[:, 4:] == MODEL_PALETTE[1]).all()
    assert wafer_pixels([grid, WaferMap(grid)], 8).shape == (2, 8, 8, 3)


def fail_share(picture):
    """Share of failing dies under each pixel of a picture of passing and failing dies only (no off-wafer)."""
    pass_red, fail_red = float(MODEL_PALETTE[1, 0]), float(MODEL_PALETTE[2, 0])
    return (picture[..., 0].astype(float) - pass_red) / (fail_red - pass_red)


@pytest.mark.parametrize("row", range(60))
def test_a_one_die_line_on_a_wafer_wider_than_the_picture_stays_visible(row):
    grid = np.ones((60, 60), np.uint8)
    grid[row] = 2  # a one-die scratch: nearest-neighbour sampling to 48 pixels would drop 12 of these rows
    share = fail_share(grid_to_square(grid, 48))
    assert share.max(axis=1).max() >= 0.39  # the die row is 0.8 pixels tall: at least half of it lands in one pixel
    assert share.mean() == pytest.approx(1 / 60, abs=0.002)  # and the picture keeps the failing area


@pytest.mark.parametrize("shape", [(1, 1), (7, 48), (48, 48), (49, 95), (115, 60), (130, 3)])
def test_each_pixel_is_the_mean_colour_of_the_area_it_covers(shape):
    grid = np.random.default_rng(sum(shape)).integers(1, 3, size=shape).astype(np.uint8)
    size = 48
    # Oracle: blow every die up to size x size sub-pixels, then average size x size blocks: exact area means.
    fine = np.repeat(np.repeat(MODEL_PALETTE[grid].astype(float), size, axis=0), size, axis=1)
    expected = fine.reshape(size, shape[0], size, shape[1], 3).mean(axis=(1, 3))
    assert np.abs(grid_to_square(grid, size) - expected).max() <= 0.5 + 1e-3  # rounded to whole colour levels


def test_a_wafer_smaller_than_the_picture_keeps_its_fail_share():
    grid = np.ones((26, 31), np.uint8)
    grid[np.random.default_rng(5).random(grid.shape) < 0.3] = 2
    share = fail_share(grid_to_square(grid, 48))
    assert share.mean() == pytest.approx((grid == 2).mean(), abs=0.005)


def test_tokens_are_what_the_tokenizer_itself_gives(tiny_dual_encoder_folder):
    from transformers import AutoTokenizer

    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))
    texts = ["edge ring", "a scratch from the upper left to the centre of the wafer " * 3, "none", "donut of fails"]
    with pytest.warns(FabsightWarning, match="1 text"):
        ours = encoder.tokenize(texts)
    theirs = AutoTokenizer.from_pretrained(tiny_dual_encoder_folder)(
        texts, padding="max_length" if encoder.pad_to_max else True, truncation=True,
        max_length=encoder.max_text_tokens, return_tensors="pt")
    assert ours["input_ids"].tolist() == theirs["input_ids"].tolist()
    assert ours["attention_mask"].tolist() == theirs["attention_mask"].tolist()


def test_missing_model_libraries_are_named_with_the_install_command(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    with pytest.raises(FabsightError, match=r"models need torch.*pip install 'fabsight\[ml\]'"):
        load_dual_encoder("wafer-clip")


def test_a_model_trained_here_is_fed_at_inference_the_pixels_it_was_trained_on(tiny_dual_encoder_folder):
    from fabsight.train.clip_train import pixels

    encoder = load_dual_encoder(str(tiny_dual_encoder_folder))  # CLIP and SigLIP, saved by save_dual_encoder
    wafers = random_wafers(3, seed=4)
    assert encoder.pixel_encoding == ("rgb" if encoder.model_type == "clip" else "fail-wafer-line")
    np.testing.assert_array_equal(encoder.wafer_pixels(wafers),
                                  pixels([w.display_grid() for w in wafers], encoder.image_size,
                                         encoder.pixel_encoding).numpy())


def test_saved_weights_are_readable_as_the_users_other_files(tiny_dual_encoder_folder):
    import os

    mask = os.umask(0)
    os.umask(mask)
    assert (tiny_dual_encoder_folder / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_fingerprint_names_the_weights_that_were_loaded(tmp_path, tiny_clip_folder):
    import shutil

    folder = shutil.copytree(tiny_clip_folder, tmp_path / "model")
    encoder = load_dual_encoder(str(folder), runtime="torch")
    before = encoder.fingerprint()
    assert load_dual_encoder(str(folder), runtime="torch").fingerprint() == before  # two loads agree
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")  # another model written over this one on disk
    assert encoder.fingerprint() == before  # the loaded weights did not change, nor does their name
    assert load_dual_encoder(str(folder), runtime="torch").fingerprint() != before
