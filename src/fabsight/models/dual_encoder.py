"""CLIP / SigLIP style dual encoders: one loader returns the model with its matching preprocessing.

The shipped `wafer-clip` and any Hugging Face CLIP or SigLIP folder go
through the same code: `transformers` classes, `save_pretrained` layout.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, FabsightWarning
from fabsight.models.loading import locate, projected, quiet_default_config_warning, require_model_libraries
from fabsight.models.onnx_vision import RUNTIME_HELP, RUNTIMES, onnx_image_tower, onnx_installed
from fabsight.models.wafer_pixels import PIXEL_ENCODING_FILE, check_encoding, model_input
from fabsight.options import option
from fabsight.wafer.map import WaferMap

SUPPORTED = ("clip", "siglip")
CALIBRATION_FILE = "calibration.json"
MODEL_HELP = ("a shipped model (wafer-clip), a saved model folder, or a Hugging Face id already on this machine "
              "(nothing is downloaded)")


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """Which dual encoder a task runs; the CLI derives `--model` from this."""

    model: str = option(MODEL_HELP, "wafer-clip", metavar="NAME|PATH")
    runtime: str = option(RUNTIME_HELP, "auto", choices=RUNTIMES)


@dataclass
class DualEncoder:
    name: str
    folder: Path
    model: Any  # transformers CLIPModel or SiglipModel, in eval mode
    tokenizer: Any
    image_processor: Any | None  # for photos; wafer maps use the vectorised path
    image_size: int
    mean: np.ndarray  # (3,) per-channel normalisation of the model's image processor
    std: np.ndarray
    max_text_tokens: int
    pad_to_max: bool  # SigLIP pools the last position, so its texts are always padded to full length
    calibration: dict[str, Any]  # fitted on held-out synthetic data; {} for models without one
    image_tower: Any = None  # an `OnnxImageTower` running the image encoder; None: the torch model runs it
    pixel_encoding: str = "rgb"  # how wafer maps become pixels (`wafer_pixels.PIXEL_ENCODINGS`)
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    @property
    def model_type(self) -> str:
        return self.model.config.model_type

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim if self.model_type == "clip"
                   else self.model.config.text_config.hidden_size)

    def fingerprint(self) -> str:
        """A short hash of the weights and config: two loads of one model agree, two different models do not.

        Hashed at the first call and kept for this encoder (SHA-256 reads about 1.4 GB/s
        here, so a 600 MB model costs about 0.4 s a call otherwise): the weights in
        memory do not change after loading. The ONNX path makes that first call at load.
        """
        if self._fingerprint is not None:
            return self._fingerprint
        digest = hashlib.sha256()
        files = sorted(self.folder.glob("*.safetensors")) + sorted(self.folder.glob("*.bin"))
        encoding = [self.folder / PIXEL_ENCODING_FILE] if (self.folder / PIXEL_ENCODING_FILE).exists() else []
        for path in [*files, self.folder / "config.json", *encoding]:
            with open(path, "rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
        self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def logit_scale_and_bias(self) -> tuple[float, float]:
        scale = float(self.model.logit_scale.detach().exp())
        bias = float(self.model.logit_bias.detach()) if getattr(self.model, "logit_bias", None) is not None else 0.0
        return scale, bias

    # --- images -----------------------------------------------------------------------
    def wafer_tensor(self, wafers: Sequence[WaferMap | np.ndarray], views: int = 1):
        """(views * N, 3, S, S) float32 normalised pixels for wafer maps, in channels-last memory layout.

        `views` > 1 stacks the maps' symmetric views (`symmetric_views`), view by view.

        Channels-last is a view, not a copy, and it matters for speed: the patch
        convolution then emits (N, tokens, width) already contiguous, where an NCHW
        input leaves the tokens strided and every later layer pays for a copy.
        """
        import torch

        pixels = model_input(wafers, self.image_size, self.mean, self.std, views,
                             self.pixel_encoding)  # (views * N, S, S, 3)
        return torch.from_numpy(pixels).permute(0, 3, 1, 2)  # (views * N, 3, S, S), channels-last strides

    def embed_wafers(self, wafers: Sequence[WaferMap | np.ndarray], batch_size: int = 256,
                     views: int = 1) -> np.ndarray:
        """(N, dim) unit vectors; with `views` > 1, the mean of that many symmetric views' vectors.

        A wafer's pattern class does not change when it is turned or mirrored, and
        the model is not exactly invariant, so averaging views is a steadier
        reading of the class (about 8x the compute for 8 views). Where a side
        matters ("a cluster at the left edge", search) one view is right.
        """
        per_pass = max(1, batch_size // views)  # `batch_size` images per forward pass, views included
        return self._embed_batches(wafers, per_pass, lambda chunk: self._view_features(chunk, views))

    def _view_features(self, wafers: Sequence[WaferMap | np.ndarray], views: int):
        import torch

        features = self.image_features(self.wafer_tensor(wafers, views))  # (views * B, dim)
        if views == 1:
            return features
        unit = torch.nn.functional.normalize(features.float(), dim=-1)
        return unit.reshape(views, len(wafers), -1).mean(dim=0)  # (B, dim); `_embed_batches` renormalises

    def embed_pictures(self, images: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """(N, dim) unit vectors for ordinary pictures (PIL images), through the model's own processor."""
        if self.image_processor is None:
            raise FabsightError(f"model {self.name!r} has no image processor for pictures")

        def run(chunk):
            return self.image_features(self.image_processor(images=list(chunk), return_tensors="pt")["pixel_values"])
        return self._embed_batches(images, batch_size, run)

    def image_features(self, pixel_values):
        """(N, dim) unnormalised features of prepared (N, 3, S, S) pixels, from ONNX Runtime or torch."""
        if self.image_tower is not None:
            return self.image_tower(pixel_values)
        return projected(self.model.get_image_features(pixel_values=pixel_values))

    # --- texts -----------------------------------------------------------------------
    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, cut to the model's length: one tokenizer pass, one warning for all cut."""
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            raise FabsightError("texts must be non-empty strings")
        ids = self.tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]
        long = [i for i, row in enumerate(ids) if len(row) > self.max_text_tokens]
        if long:  # rare: the tokenizer cuts them, so end-of-text tokens stay where the model pools
            cut = self.tokenizer([texts[i] for i in long], truncation=True, max_length=self.max_text_tokens)
            for i, row in zip(long, cut["input_ids"]):
                ids[i] = row
            warnings.warn(f"{len(long)} text(s) longer than the model's {self.max_text_tokens} tokens were cut to "
                          "fit", FabsightWarning, stacklevel=3)
        return ids

    def _pad(self, ids: Sequence[list[int]]) -> dict[str, Any]:
        """`input_ids` and `attention_mask` (B, T) tensors, padded as the tokenizer would."""
        import torch

        width = self.max_text_tokens if self.pad_to_max else max(map(len, ids))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = np.full((len(ids), width), pad, dtype=np.int64)  # (B, T)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        left = self.tokenizer.padding_side == "left"
        for i, row in enumerate(ids):
            span = slice(width - len(row), width) if left else slice(0, len(row))
            input_ids[i, span] = row
            mask[i, span] = 1
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}

    def tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        texts = list(texts)
        if not texts:
            raise FabsightError("texts must be non-empty strings")
        return self._pad(self._token_ids(texts))

    def embed_texts(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """(N, dim) unit vectors."""
        texts = list(texts)
        ids = self._token_ids(texts) if texts else []  # all at once: one tokenizer call, one warning

        def run(chunk):
            tokens = self._pad(chunk)
            kwargs = {"input_ids": tokens["input_ids"]}
            if not self.pad_to_max:
                kwargs["attention_mask"] = tokens["attention_mask"]
            return projected(self.model.get_text_features(**kwargs))
        return self._embed_batches(ids, batch_size, run)

    def _embed_batches(self, items: Sequence[Any], batch_size: int, run) -> np.ndarray:
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(items), batch_size):
                features = run(items[start:start + batch_size])  # (B, dim)
                chunks.append(torch.nn.functional.normalize(features.float(), dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)


def load_dual_encoder(name_or_path: str = "wafer-clip", runtime: str = "auto") -> DualEncoder:
    """The model and its matching preprocessing, from a shipped name, a folder or a cached Hugging Face id.

    `runtime`: what runs the image encoder (`RUNTIMES`; see `models/onnx_vision.py`).
    """
    if runtime not in RUNTIMES:
        raise FabsightError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    require_model_libraries()
    quiet_default_config_warning()
    folder = locate(name_or_path, "dual-encoder")
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") not in SUPPORTED:
        raise FabsightError(f"model type {config.get('model_type')!r} is not a dual encoder "
                            f"(supported: {', '.join(SUPPORTED)})", folder)
    import torch
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a weight-loading bar per command is noise; ours show real work
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    processor = _image_processor(AutoImageProcessor, folder)
    vision = model.config.vision_config
    calibration_path = folder / CALIBRATION_FILE
    encoder = DualEncoder(
        name=name_or_path, folder=folder, model=model, tokenizer=tokenizer, image_processor=processor,
        image_size=int(vision.image_size),
        mean=np.asarray(getattr(processor, "image_mean", None) or [0.5] * 3, np.float32),
        std=np.asarray(getattr(processor, "image_std", None) or [0.5] * 3, np.float32),
        max_text_tokens=int(model.config.text_config.max_position_embeddings),
        pad_to_max=model.config.model_type == "siglip",
        calibration=json.loads(calibration_path.read_text()) if calibration_path.exists() else {},
        pixel_encoding=_pixel_encoding(folder),
    )
    encoder.image_tower = _image_tower(encoder, runtime)
    return encoder


def _image_tower(encoder: DualEncoder, runtime: str) -> Any:
    """The ONNX Runtime image tower `runtime` asks for, or None for torch."""
    if runtime == "torch" or (runtime == "auto" and not onnx_installed()):
        return None
    if runtime == "onnx" and not onnx_installed():
        raise FabsightError("--runtime onnx needs onnxruntime and onnx: pip install onnxruntime onnx (or use "
                            "--runtime torch)")
    try:
        return onnx_image_tower(encoder.model, encoder.fingerprint(), encoder.image_size)
    except FabsightError as error:
        if runtime == "onnx":
            raise
        warnings.warn(f"{error}; the image encoder runs in torch instead", FabsightWarning, stacklevel=3)
        return None


def _pixel_encoding(folder: Path) -> str:
    """The encoding a model trained here names in its folder; "rgb" for any other model."""
    path = folder / PIXEL_ENCODING_FILE
    if not path.exists():
        return "rgb"
    try:
        return check_encoding(json.loads(path.read_text())["encoding"])
    except (ValueError, KeyError, TypeError, FabsightError) as error:
        raise FabsightError(f"unreadable pixel encoding ({error}); the model cannot be fed the pixels it was "
                            "trained on", path) from error


def _image_processor(auto_class: Any, folder: Path) -> Any | None:
    if not (folder / "preprocessor_config.json").exists():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torchvision not installed, using the PIL backend" is expected here
        return auto_class.from_pretrained(folder, local_files_only=True)
