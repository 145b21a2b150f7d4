"""Build a fresh dual encoder (standard `transformers` classes) and save it in the Hugging Face layout."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.files import follow_umask
from fabsight.models.dual_encoder import SUPPORTED
from fabsight.models.loading import quiet_default_config_warning
from fabsight.models.wafer_pixels import PIXEL_ENCODING_FILE, check_encoding


# Pixel normalisation of models trained here: training applies it, and the saved image processor states it so
# inference applies the same (CLIPImageProcessor's own default is OpenAI's photo statistics, not this).
PIXEL_MEAN = PIXEL_STD = 0.5


@dataclass(frozen=True, kw_only=True)
class DualEncoderShape:
    family: str = "siglip"  # "siglip" or "clip"
    image_size: int = 64
    patch_size: int = 8
    width: int = 192
    layers: int = 4
    heads: int = 4
    text_width: int = 192
    text_layers: int = 4
    max_text_tokens: int = 32
    projection_dim: int = 192  # CLIP only: SigLIP projects to the text width
    mlp_ratio: int = 4  # each layer's MLP width, as a multiple of its transformer width (CLIP's and SigLIP's 4)
    # Exact (erf) GELU, not the configs' default tanh approximation: on CPU torch's tanh form took 12.4 ms against
    # 3.7 ms on a (9472, 512) block, about a fifth of the shipped vision tower's forward time.
    activation: str = "gelu"


def build_dual_encoder(shape: DualEncoderShape, tokenizer: Any):
    """A randomly initialised CLIPModel or SiglipModel sized by `shape`, matching `tokenizer`."""
    quiet_default_config_warning()
    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    if shape.family not in SUPPORTED:
        raise ValueError(f"family must be one of {SUPPORTED}, not {shape.family!r}")
    text = dict(vocab_size=len(tokenizer), hidden_size=shape.text_width,
                intermediate_size=shape.mlp_ratio * shape.text_width,
                num_hidden_layers=shape.text_layers, num_attention_heads=shape.heads,
                max_position_embeddings=shape.max_text_tokens, pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, hidden_act=shape.activation)
    vision = dict(hidden_size=shape.width, intermediate_size=shape.mlp_ratio * shape.width,
                  num_hidden_layers=shape.layers, num_attention_heads=shape.heads, image_size=shape.image_size,
                  patch_size=shape.patch_size, hidden_act=shape.activation)
    if shape.family == "clip":
        return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=shape.projection_dim))
    return SiglipModel(SiglipConfig(text_config=text, vision_config=vision))


def save_weights(model: Any, folder: Path) -> None:
    """`save_pretrained` as safetensors, readable as the user's other files are (safetensors writes 0600)."""
    model.save_pretrained(folder, safe_serialization=True)
    for path in folder.glob("*.safetensors"):
        follow_umask(path)


def save_dual_encoder(model: Any, tokenizer: Any, folder: str | Path, pixel_encoding: str = "rgb") -> Path:
    """`save_pretrained` for model, tokenizer, image processor and pixel encoding: loadable by `load_dual_encoder`."""
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    check_encoding(pixel_encoding)  # before anything is written
    folder = Path(folder)
    size = model.config.vision_config.image_size
    save_weights(model, folder)
    tokenizer.save_pretrained(folder)
    normalise = {"image_mean": [PIXEL_MEAN] * 3, "image_std": [PIXEL_STD] * 3}
    if model.config.model_type == "clip":
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                       **normalise)
    else:
        processor = SiglipImageProcessor(size={"height": size, "width": size}, **normalise)
    processor.save_pretrained(folder)
    (folder / PIXEL_ENCODING_FILE).write_text(json.dumps({"encoding": pixel_encoding}) + "\n")
    return folder
