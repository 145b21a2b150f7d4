"""The image encoder run by ONNX Runtime: torch's vectors, exported once, cached safely, refused clearly."""

import numpy as np
import pytest
from PIL import Image

import fabsight.models.dual_encoder as dual_encoder
import fabsight.models.onnx_vision as onnx_vision
from fabsight.errors import FabsightError, FabsightWarning
from fabsight.models.dual_encoder import load_dual_encoder


def random_wafers(n, seed=0):
    """Round die grids of varied sizes with random fails (uint8 states: 0 off-wafer, 1 pass, 2 fail)."""
    rng = np.random.default_rng(seed)
    grids = []
    for rows, cols in rng.integers(18, 60, size=(n, 2)):
        yy, xx = np.indices((rows, cols))
        on = ((2 * yy + 1 - rows) / rows) ** 2 + ((2 * xx + 1 - cols) / cols) ** 2 <= 1
        grids.append(np.where(on, np.where(rng.random((rows, cols)) < 0.2, 2, 1), 0).astype(np.uint8))
    return grids


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "fabsight" / "onnx"


def test_onnx_gives_the_vectors_torch_gives(tiny_dual_encoder_folder, cache):
    on_onnx = load_dual_encoder(str(tiny_dual_encoder_folder), "onnx")
    on_torch = load_dual_encoder(str(tiny_dual_encoder_folder), "torch")
    assert on_onnx.image_tower is not None and on_torch.image_tower is None
    wafers = random_wafers(9, seed=2)
    for views in (1, 8):  # uneven batches too: the graph's batch size is free
        np.testing.assert_allclose(on_onnx.embed_wafers(wafers, batch_size=4, views=views),
                                   on_torch.embed_wafers(wafers, batch_size=4, views=views), atol=1e-5)
    pictures = [Image.fromarray(np.full((40, 50, 3), 90 * i, np.uint8)) for i in range(3)]
    np.testing.assert_allclose(on_onnx.embed_pictures(pictures), on_torch.embed_pictures(pictures), atol=1e-5)


def test_the_graph_is_exported_once_and_reused(tiny_siglip_folder, cache, monkeypatch):
    first = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    assert first.image_tower.path.parent == cache and [p.name for p in cache.iterdir()] == [first.image_tower.path.name]
    fingerprint = first.fingerprint()
    assert fingerprint in first.image_tower.path.name

    def no_export(*args):
        raise AssertionError("exported again although the graph is cached")
    monkeypatch.setattr(onnx_vision, "_export", no_export)
    again = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    assert again.image_tower.path == first.image_tower.path


def test_a_damaged_cached_graph_is_exported_again(tiny_siglip_folder, cache):
    path = load_dual_encoder(str(tiny_siglip_folder), "onnx").image_tower.path
    path.write_bytes(path.read_bytes()[:1000])  # as a full disk or a copy cut short would leave it
    with pytest.warns(FabsightWarning, match="could not be loaded.*exporting it again"):
        encoder = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    reference = load_dual_encoder(str(tiny_siglip_folder), "torch")
    wafers = random_wafers(3, seed=5)
    np.testing.assert_allclose(encoder.embed_wafers(wafers), reference.embed_wafers(wafers), atol=1e-5)


def test_an_export_that_fails_midway_leaves_no_graph_and_auto_falls_back_to_torch(tiny_siglip_folder, cache,
                                                                                   monkeypatch):
    import torch

    def crash(module, args, f, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half a graph")
        raise RuntimeError("disk full")
    monkeypatch.setattr(torch.onnx, "export", crash)
    with pytest.raises(FabsightError, match="could not export the image encoder to ONNX.*disk full"):
        load_dual_encoder(str(tiny_siglip_folder), "onnx")
    assert not cache.exists() or not any(cache.iterdir())  # neither a graph nor a partial file is left
    with pytest.warns(FabsightWarning, match="runs in torch instead"):
        encoder = load_dual_encoder(str(tiny_siglip_folder), "auto")
    assert encoder.image_tower is None
    assert encoder.embed_wafers(random_wafers(2)).shape == (2, encoder.dim)


def test_a_graph_that_exports_but_will_not_load_makes_auto_run_torch_after_one_export(tiny_siglip_folder, cache,
                                                                                       monkeypatch):
    exports = []
    real_export = onnx_vision._export
    monkeypatch.setattr(onnx_vision, "_export", lambda *args: exports.append(args) or real_export(*args))

    def refuse(path):
        raise RuntimeError("opset not supported")
    monkeypatch.setattr(onnx_vision, "_session", refuse)
    with pytest.warns(FabsightWarning, match="could not be loaded.*opset not supported.*runs in torch instead"):
        encoder = load_dual_encoder(str(tiny_siglip_folder), "auto")
    assert encoder.image_tower is None and len(exports) == 1  # not exported a second time to fail again
    # now the graph is cached, so onnx takes it for damaged and exports once more before it gives up
    with pytest.raises(FabsightError, match="could not be loaded.*opset not supported"), \
            pytest.warns(FabsightWarning, match="exporting it again"):
        load_dual_encoder(str(tiny_siglip_folder), "onnx")
    assert len(exports) == 2


def test_a_cache_that_cannot_be_written_makes_auto_run_torch(tiny_siglip_folder, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.warns(FabsightWarning, match="could not export.*runs in torch instead"):
        assert load_dual_encoder(str(tiny_siglip_folder), "auto").image_tower is None
    with pytest.raises(FabsightError, match="could not export the image encoder to ONNX"):
        load_dual_encoder(str(tiny_siglip_folder), "onnx")


def test_without_onnxruntime_auto_runs_torch_and_onnx_says_how_to_install(tiny_siglip_folder, cache, monkeypatch):
    monkeypatch.setattr(dual_encoder, "onnx_installed", lambda: False)
    assert load_dual_encoder(str(tiny_siglip_folder), "auto").image_tower is None
    with pytest.raises(FabsightError, match="pip install onnxruntime onnx"):
        load_dual_encoder(str(tiny_siglip_folder), "onnx")


def test_an_unknown_runtime_is_refused_before_anything_loads():
    with pytest.raises(FabsightError, match="runtime must be one of auto, torch, onnx, not 'tensorrt'"):
        load_dual_encoder("no-such-model", "tensorrt")
