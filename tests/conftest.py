"""Fixtures shared by several test folders: tiny random dual encoders saved like Hugging Face models."""

from pathlib import Path

import pytest

CORPUS = ["a ring of failing dies at the wafer edge", "scratch from upper left to centre",
          "no visible pattern", "dense cluster in the centre, 12% of dies lost", "donut of fails"] * 20


def build_tiny_dual_encoder(family: str, folder: Path) -> Path:
    """A tiny random CLIP or SigLIP in `folder` (nothing downloaded); fixed seed, so the same every time.

    The SigLIP reads the shipped model's "fail-wafer-line" pixels, the CLIP
    "rgb" (as any Hugging Face model does), so every test run with both
    families goes through both encodings.
    """
    import torch

    from fabsight.train.clip_build import DualEncoderShape, build_dual_encoder, save_dual_encoder
    from fabsight.train.tokenizer import train_tokenizer

    torch.set_num_threads(1)  # tiny models: one thread is fastest, and no waiting on a busy second core
    torch.manual_seed(0)
    tokenizer = train_tokenizer(CORPUS, vocab_size=200, max_length=16)
    shape = DualEncoderShape(family=family, image_size=32, patch_size=8, width=32, layers=1, heads=2,
                             text_width=32, text_layers=1, max_text_tokens=16, projection_dim=24)
    encoding = "rgb" if family == "clip" else "fail-wafer-line"
    return save_dual_encoder(build_dual_encoder(shape, tokenizer), tokenizer, folder, encoding)


_built: dict[str, Path] = {}


def _tiny(family: str, tmp_path_factory) -> Path:
    if family not in _built:
        _built[family] = build_tiny_dual_encoder(family, tmp_path_factory.mktemp(f"tiny-{family}"))
    return _built[family]


@pytest.fixture(scope="session", params=["clip", "siglip"])
def tiny_dual_encoder_folder(request, tmp_path_factory):
    """A tiny random CLIP or SigLIP saved like a Hugging Face model (each test runs with both)."""
    return _tiny(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_siglip_folder(tmp_path_factory):
    """The tiny SigLIP alone, for tests where the family does not matter. Do not write into it."""
    return _tiny("siglip", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory):
    return _tiny("clip", tmp_path_factory)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Exported ONNX graphs go to a folder of this test session's, not the user's ~/.cache."""
    import os

    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous
