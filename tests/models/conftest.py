import pytest

from fabsight.train.clip_build import DualEncoderShape, build_dual_encoder, save_dual_encoder
from fabsight.train.tokenizer import train_tokenizer

CORPUS = ["a ring of failing dies at the wafer edge", "scratch from upper left to centre",
          "no visible pattern", "dense cluster in the centre, 12% of dies lost", "donut of fails"] * 20


@pytest.fixture(scope="session", params=["clip", "siglip"])
def tiny_dual_encoder_folder(request, tmp_path_factory):
    """A tiny random CLIP or SigLIP saved like a Hugging Face model (nothing downloaded)."""
    import torch

    torch.manual_seed(0)
    tokenizer = train_tokenizer(CORPUS, vocab_size=200, max_length=16)
    shape = DualEncoderShape(family=request.param, image_size=32, patch_size=8, width=32, layers=1, heads=2,
                             text_width=32, text_layers=1, max_text_tokens=16, projection_dim=24)
    folder = tmp_path_factory.mktemp(f"tiny-{request.param}")
    return save_dual_encoder(build_dual_encoder(shape, tokenizer), tokenizer, folder)
