"""Both encoders run by ONNX Runtime: torch's vectors, exported once, cached safely, refused clearly, and a cached
model loaded without torch."""

import json

import numpy as np
import pytest
from PIL import Image

import fabsight.models.dual_encoder as dual_encoder
import fabsight.models.onnx_towers as onnx_towers
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
    assert on_onnx.text_tower is not None and on_torch.text_tower is None
    wafers = random_wafers(9, seed=2)
    for views in (1, 8):  # uneven batches too: the graph's batch size is free
        np.testing.assert_allclose(on_onnx.embed_wafers(wafers, batch_size=4, views=views),
                                   on_torch.embed_wafers(wafers, batch_size=4, views=views), atol=1e-5)
    pictures = [Image.fromarray(np.full((40, 50, 3), 90 * i, np.uint8)) for i in range(3)]
    np.testing.assert_allclose(on_onnx.embed_pictures(pictures), on_torch.embed_pictures(pictures), atol=1e-5)
    texts = ["edge ring", "a scratch from the upper left to the centre of the wafer", "none"]  # CLIP: 3 lengths
    np.testing.assert_allclose(on_onnx.embed_texts(texts), on_torch.embed_texts(texts), atol=1e-5)
    np.testing.assert_allclose(on_onnx.embed_texts(texts[:1]), on_torch.embed_texts(texts[:1]), atol=1e-5)


def test_the_graph_is_exported_once_and_reused(tiny_siglip_folder, cache, monkeypatch):
    first = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    graphs = {first.image_tower.path, first.text_tower.path}
    assert {p for p in cache.iterdir() if p.suffix == ".onnx"} == graphs and len(list(cache.iterdir())) == 3
    fingerprint = first.fingerprint()
    assert all(fingerprint in path.name for path in cache.iterdir())  # the two graphs and the manifest

    def no_export(*args):
        raise AssertionError("exported again although the graph is cached")
    monkeypatch.setattr(onnx_towers, "_export", no_export)
    again = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    assert again.image_tower.path == first.image_tower.path and again.text_tower.path == first.text_tower.path


def test_a_damaged_cached_graph_is_exported_again(tiny_siglip_folder, cache):
    path = load_dual_encoder(str(tiny_siglip_folder), "onnx").image_tower.path
    path.write_bytes(path.read_bytes()[:1000])  # as a full disk or a copy cut short would leave it
    with pytest.warns(FabsightWarning, match="image encoder .* could not be loaded.*exporting it again"):
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
    real_export = onnx_towers._export
    monkeypatch.setattr(onnx_towers, "_export", lambda *args: exports.append(args) or real_export(*args))

    def refuse(path):
        raise RuntimeError("opset not supported")
    monkeypatch.setattr(onnx_towers, "_session", refuse)
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


CACHED_LOAD = """
import json, sys
import numpy as np
from fabsight.models.dual_encoder import load_dual_encoder
encoder = load_dual_encoder(sys.argv[1], "auto")
wafers = [np.load(sys.argv[2])[name] for name in ("a", "b")]
print(json.dumps({"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "images": encoder.embed_wafers(wafers, views=8).tolist(),
                  "texts": encoder.embed_texts(["edge ring", "no visible pattern"]).tolist()}))
"""


def test_a_cached_model_loads_without_torch_and_gives_the_same_vectors(tiny_dual_encoder_folder, cache, tmp_path):
    import os
    import subprocess
    import sys

    wafers = random_wafers(2, seed=7)
    np.savez(tmp_path / "wafers.npz", a=wafers[0], b=wafers[1])
    first = load_dual_encoder(str(tiny_dual_encoder_folder), "auto")  # exports the graphs and the manifest
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", CACHED_LOAD, str(tiny_dual_encoder_folder),
                          str(tmp_path / "wafers.npz")], capture_output=True, text=True, env=env, check=True)
    cached = json.loads(run.stdout)
    assert not cached["torch"] and not cached["transformers"]
    np.testing.assert_allclose(cached["images"], first.embed_wafers(wafers, views=8), atol=1e-6)
    np.testing.assert_allclose(cached["texts"], first.embed_texts(["edge ring", "no visible pattern"]), atol=1e-6)


def test_a_cached_load_has_everything_the_full_load_has(tiny_dual_encoder_folder, cache):
    from fabsight.models.text_tokens import FastTokenIds, HFTokenIds

    full = load_dual_encoder(str(tiny_dual_encoder_folder), "onnx")
    cached = load_dual_encoder(str(tiny_dual_encoder_folder), "onnx")
    assert isinstance(full.tokens, HFTokenIds) and isinstance(cached.tokens, FastTokenIds)
    for name in ("model_type", "dim", "image_size", "max_text_tokens", "pad_to_max", "logit_scale", "logit_bias",
                 "calibration", "pixel_encoding", "has_image_processor"):
        assert getattr(cached, name) == getattr(full, name), name
    np.testing.assert_array_equal(cached.mean, full.mean)
    np.testing.assert_array_equal(cached.std, full.std)
    texts = ["edge ring", "a scratch from the upper left to the centre of the wafer " * 3]  # the second is cut
    with pytest.warns(FabsightWarning, match="1 text"):
        ours = cached.tokenize(texts)
    with pytest.warns(FabsightWarning, match="1 text"):
        theirs = full.tokenize(texts)
    np.testing.assert_array_equal(ours["input_ids"], theirs["input_ids"])
    # the torch model and the image processor are still there for whoever asks (loaded then)
    assert cached._model is None and cached.model.config.model_type == full.model_type
    pictures = [Image.fromarray(np.full((40, 50, 3), 90, np.uint8))]
    np.testing.assert_allclose(cached.embed_pictures(pictures), full.embed_pictures(pictures), atol=1e-6)


def test_a_tokenizer_that_tokenizers_reads_differently_keeps_the_transformers_one(tiny_siglip_folder, cache):
    from fabsight.models.text_tokens import HFTokenIds

    first = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    [manifest_path] = cache.glob("model-*.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["tokens"]["matches"]
    manifest["tokens"]["matches"] = False  # as for a tokenizer with Python-side rules that tokenizer.json lacks
    manifest_path.write_text(json.dumps(manifest))
    again = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    assert isinstance(again.tokens, HFTokenIds) and again.text_tower.path == first.text_tower.path


@pytest.mark.parametrize("damage", ["manifest", "text graph"])
def test_a_damaged_cache_entry_is_made_again_by_the_full_load(tiny_siglip_folder, cache, damage):
    from fabsight.models.text_tokens import FastTokenIds

    first = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    path = next(cache.glob("model-*.json")) if damage == "manifest" else first.text_tower.path
    path.write_bytes(path.read_bytes()[:100])  # cut short
    if damage == "manifest":
        again = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    else:
        with pytest.warns(FabsightWarning, match="text encoder .* could not be loaded.*exporting it again"):
            again = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    texts = ["edge ring", "no visible pattern"]
    np.testing.assert_allclose(again.embed_texts(texts), first.embed_texts(texts), atol=1e-6)
    assert isinstance(load_dual_encoder(str(tiny_siglip_folder), "onnx").tokens, FastTokenIds)  # mended
