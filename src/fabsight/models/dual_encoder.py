"""CLIP / SigLIP style dual encoders: one loader returns the model with its matching preprocessing.

The shipped `wafer-clip` and any Hugging Face CLIP or SigLIP folder go
through the same code: `transformers` classes, `save_pretrained` layout.
The towers run in ONNX Runtime where they can (`models/onnx_towers.py`);
once a model's graphs are cached it loads without torch or transformers,
and the torch model is loaded only if something asks for it.
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
from fabsight.models.onnx_towers import (RUNTIME_HELP, RUNTIMES, cached_path, load_tower, onnx_installed, onnx_tower,
                                         read_manifest, write_manifest)
from fabsight.models.text_tokens import (TOKENIZER_FILE, FastTokenIds, HFTokenIds, fast_token_settings, file_digest,
                                         tokenizer_libraries)
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


@dataclass(kw_only=True)
class DualEncoder:
    """A loaded model: what it is, how it wants its inputs, and what runs each tower. Vectors come out as numpy."""

    name: str
    folder: Path
    model_type: str  # "clip" or "siglip"
    dim: int  # length of the image and text vectors
    tokens: Any  # `HFTokenIds` or `FastTokenIds`: token ids of texts, special tokens included
    image_size: int
    mean: np.ndarray  # (3,) per-channel normalisation of the model's image processor
    std: np.ndarray
    max_text_tokens: int
    pad_to_max: bool  # SigLIP pools the last position, so its texts are always padded to full length
    logit_scale: float  # image-text similarity -> logit: scale * cosine + bias
    logit_bias: float
    calibration: dict[str, Any]  # fitted on held-out synthetic data; {} for models without one
    has_image_processor: bool  # the folder has one (for photos; wafer maps use the vectorised path)
    pixel_encoding: str = "rgb"  # how wafer maps become pixels (`wafer_pixels.PIXEL_ENCODINGS`)
    image_tower: Any = None  # an `OnnxTower` running the image encoder; None: the torch model runs it
    text_tower: Any = None  # the same for the text encoder
    _model: Any = field(default=None, repr=False)  # transformers CLIPModel or SiglipModel, loaded when first asked
    _image_processor: Any = field(default=None, repr=False)
    _fingerprint: str | None = field(default=None, repr=False)

    @property
    def model(self) -> Any:
        """The transformers model in eval mode; a load from cached graphs imports torch only here."""
        if self._model is None:
            self._model = _torch_model(self.folder)
        return self._model

    @property
    def image_processor(self) -> Any | None:
        if self._image_processor is None and self.has_image_processor:
            self._image_processor = _image_processor(self.folder)
        return self._image_processor

    def fingerprint(self) -> str:
        """A short hash of the weights and config: two loads of one model agree, two different models do not."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.folder)
        return self._fingerprint

    def logit_scale_and_bias(self) -> tuple[float, float]:
        return self.logit_scale, self.logit_bias

    # --- images -----------------------------------------------------------------------
    def wafer_pixels(self, wafers: Sequence[WaferMap | np.ndarray], views: int = 1) -> np.ndarray:
        """(views * N, 3, S, S) float32 normalised pixels for wafer maps, in channels-last memory layout.

        `views` > 1 stacks the maps' symmetric views (`symmetric_views`), view by view.

        Channels-last is a view, not a copy, and it matters for speed: the patch
        convolution then emits (N, tokens, width) already contiguous, where an NCHW
        input leaves the tokens strided and every later layer pays for a copy.
        """
        pixels = model_input(wafers, self.image_size, self.mean, self.std, views,
                             self.pixel_encoding)  # (views * N, S, S, 3)
        return pixels.transpose(0, 3, 1, 2)  # (views * N, 3, S, S), channels-last strides

    def embed_wafers(self, wafers: Sequence[WaferMap | np.ndarray], batch_size: int = 256,
                     views: int = 1) -> np.ndarray:
        """(N, dim) unit vectors; with `views` > 1, the mean of that many symmetric views' vectors.

        A wafer's pattern class does not change when it is turned or mirrored, and
        the model is not exactly invariant, so averaging views is a steadier
        reading of the class (about 8x the compute for 8 views). Where a side
        matters ("a cluster at the left edge", search) one view is right.
        """
        per_pass = max(1, batch_size // views)  # `batch_size` images per forward pass, views included
        return _embed_batches(wafers, per_pass, lambda chunk: self._view_features(chunk, views), self.dim)

    def _view_features(self, wafers: Sequence[WaferMap | np.ndarray], views: int) -> np.ndarray:
        features = self.image_features(self.wafer_pixels(wafers, views))  # (views * B, dim)
        if views == 1:
            return features
        return unit(features).reshape(views, len(wafers), -1).mean(axis=0)  # (B, dim); renormalised later

    def embed_pictures(self, images: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """(N, dim) unit vectors for ordinary pictures (PIL images), through the model's own processor."""
        if self.image_processor is None:
            raise FabsightError(f"model {self.name!r} has no image processor for pictures")

        def run(chunk):
            return self.image_features(self.image_processor(images=list(chunk), return_tensors="np")["pixel_values"])
        return _embed_batches(images, batch_size, run, self.dim)

    def image_features(self, pixel_values: np.ndarray) -> np.ndarray:
        """(N, dim) unnormalised features of prepared (N, 3, S, S) pixels, from ONNX Runtime or torch."""
        if self.image_tower is not None:
            return self.image_tower(pixel_values=pixel_values)
        import torch

        with torch.inference_mode():
            pixels = torch.from_numpy(np.asarray(pixel_values, np.float32))
            return projected(self.model.get_image_features(pixel_values=pixels)).float().numpy()

    # --- texts -----------------------------------------------------------------------
    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, cut to the model's length: one tokenizer pass, one warning for all cut."""
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            raise FabsightError("texts must be non-empty strings")
        ids = self.tokens.ids(texts)
        long = [i for i, row in enumerate(ids) if len(row) > self.max_text_tokens]
        if long:  # rare: the tokenizer cuts them, so end-of-text tokens stay where the model pools
            for i, row in zip(long, self.tokens.truncated([texts[i] for i in long], self.max_text_tokens)):
                ids[i] = row
            warnings.warn(f"{len(long)} text(s) longer than the model's {self.max_text_tokens} tokens were cut to "
                          "fit", FabsightWarning, stacklevel=3)
        return ids

    def _pad(self, ids: Sequence[list[int]]) -> dict[str, np.ndarray]:
        """`input_ids` and `attention_mask` (B, T) int64 arrays, padded as the tokenizer would."""
        width = self.max_text_tokens if self.pad_to_max else max(map(len, ids))
        input_ids = np.full((len(ids), width), self.tokens.pad_id, dtype=np.int64)  # (B, T)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            span = slice(width - len(row), width) if self.tokens.left else slice(0, len(row))
            input_ids[i, span] = row
            mask[i, span] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        texts = list(texts)
        if not texts:
            raise FabsightError("texts must be non-empty strings")
        return self._pad(self._token_ids(texts))

    def embed_texts(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """(N, dim) unit vectors."""
        texts = list(texts)
        ids = self._token_ids(texts) if texts else []  # all at once: one tokenizer call, one warning
        return _embed_batches(ids, batch_size, lambda chunk: self.text_features(self._pad(chunk)), self.dim)

    def text_features(self, tokens: dict[str, np.ndarray]) -> np.ndarray:
        """(N, dim) unnormalised features of padded token ids (`tokenize`), from ONNX Runtime or torch."""
        inputs = {"input_ids": tokens["input_ids"]}
        if not self.pad_to_max:  # SigLIP attends to its padding, as it was trained; CLIP masks it
            inputs["attention_mask"] = tokens["attention_mask"]
        if self.text_tower is not None:
            return self.text_tower(**inputs)
        import torch

        with torch.inference_mode():
            return projected(self.model.get_text_features(
                **{k: torch.from_numpy(v) for k, v in inputs.items()})).float().numpy()


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (as torch's `normalize`: a zero row stays zero)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _embed_batches(items: Sequence[Any], batch_size: int, run, dim: int) -> np.ndarray:
    chunks = [unit(np.asarray(run(items[start:start + batch_size]), np.float32))
              for start in range(0, len(items), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)


def weights_fingerprint(folder: Path) -> str:
    """A short hash of a model folder's weights, config and pixel encoding.

    Hashed once per encoder (SHA-256 reads about 1.4 GB/s here, so a 600 MB
    model costs about 0.4 s): the weights in memory do not change after loading.
    """
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    encoding = [folder / PIXEL_ENCODING_FILE] if (folder / PIXEL_ENCODING_FILE).exists() else []
    for path in [*files, folder / "config.json", *encoding]:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def load_dual_encoder(name_or_path: str = "wafer-clip", runtime: str = "auto") -> DualEncoder:
    """The model and its matching preprocessing, from a shipped name, a folder or a cached Hugging Face id.

    `runtime`: what runs the encoders (`RUNTIMES`; see `models/onnx_towers.py`).
    """
    if runtime not in RUNTIMES:
        raise FabsightError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    require_model_libraries()
    folder = locate(name_or_path, "dual-encoder")
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") not in SUPPORTED:
        raise FabsightError(f"model type {config.get('model_type')!r} is not a dual encoder "
                            f"(supported: {', '.join(SUPPORTED)})", folder)
    have_onnx = onnx_installed()
    if runtime == "onnx" and not have_onnx:
        raise FabsightError("--runtime onnx needs onnxruntime and onnx: pip install onnxruntime onnx (or use "
                            "--runtime torch)")
    if runtime == "torch" or not have_onnx:
        return _from_torch(name_or_path, folder)
    fingerprint = weights_fingerprint(folder)  # once: the cached load and the export both name files by it
    cached = _from_cached_graphs(name_or_path, folder, fingerprint)
    if cached is not None:
        return cached
    encoder = _from_torch(name_or_path, folder, fingerprint)
    try:
        encoder.image_tower, encoder.text_tower = _export_towers(encoder)
    except FabsightError as error:
        if runtime == "onnx":
            raise
        warnings.warn(f"{error}; the model runs in torch instead", FabsightWarning, stacklevel=2)
    return encoder


def _from_torch(name: str, folder: Path, fingerprint: str | None = None) -> DualEncoder:
    """Load with transformers: the model, its tokenizer and image processor."""
    from transformers import AutoTokenizer

    model = _torch_model(folder)
    config = model.config
    scale = float(model.logit_scale.detach().exp())
    bias = float(model.logit_bias.detach()) if getattr(model, "logit_bias", None) is not None else 0.0
    processor = _image_processor(folder)
    return DualEncoder(
        name=name, folder=folder, model_type=config.model_type,
        dim=int(config.projection_dim if config.model_type == "clip" else config.text_config.hidden_size),
        tokens=HFTokenIds(AutoTokenizer.from_pretrained(folder, local_files_only=True)),
        image_size=int(config.vision_config.image_size),
        mean=np.asarray(getattr(processor, "image_mean", None) or [0.5] * 3, np.float32),
        std=np.asarray(getattr(processor, "image_std", None) or [0.5] * 3, np.float32),
        max_text_tokens=int(config.text_config.max_position_embeddings), pad_to_max=config.model_type == "siglip",
        logit_scale=scale, logit_bias=bias, calibration=_calibration(folder), has_image_processor=processor is not None,
        pixel_encoding=_pixel_encoding(folder), _model=model, _image_processor=processor, _fingerprint=fingerprint)


def _export_towers(encoder: DualEncoder) -> tuple[Any, Any]:
    """Both towers in ONNX Runtime (exported first if not cached), and the manifest a later load starts from."""
    fingerprint = encoder.fingerprint()
    size = encoder.image_size
    image = onnx_tower("image", encoder.model, fingerprint, {"pixel_values": np.zeros((2, 3, size, size), np.float32)})
    example = encoder.tokenize(["a wafer map", "an edge ring pattern of failing dies"])
    if encoder.pad_to_max:  # SigLIP's text tower takes no mask (`text_features`)
        del example["attention_mask"]
    text = onnx_tower("text", encoder.model, fingerprint, example)
    settings = fast_token_settings(encoder.tokens.tokenizer, encoder.folder, encoder.max_text_tokens)
    write_manifest(fingerprint, {
        "model_type": encoder.model_type, "dim": encoder.dim, "image_size": size,
        "mean": encoder.mean.tolist(), "std": encoder.std.tolist(), "max_text_tokens": encoder.max_text_tokens,
        "pad_to_max": encoder.pad_to_max, "logit_scale": encoder.logit_scale, "logit_bias": encoder.logit_bias,
        "has_image_processor": encoder.has_image_processor, "tokens": settings})
    return image, text


def _from_cached_graphs(name: str, folder: Path, fingerprint: str) -> DualEncoder | None:
    """Load from the cached graphs and manifest alone (no torch, no transformers); None if they cannot serve.

    None sends the load the full way, which exports again whatever is missing or damaged, and says so.
    """
    manifest = read_manifest(fingerprint)
    try:
        settings = manifest["tokens"] if manifest else {}
        if not settings.get("matches") or settings.get("digest") != file_digest(folder / TOKENIZER_FILE) \
                or settings.get("libraries") != tokenizer_libraries():
            return None
        towers = [load_tower(kind, cached_path(kind, fingerprint)) for kind in ("image", "text")]
        tokens = FastTokenIds(folder / TOKENIZER_FILE, settings["pad_id"], settings["left"],
                              settings["truncation_side"])
        return DualEncoder(
            name=name, folder=folder, model_type=manifest["model_type"], dim=manifest["dim"], tokens=tokens,
            image_size=manifest["image_size"], mean=np.asarray(manifest["mean"], np.float32),
            std=np.asarray(manifest["std"], np.float32), max_text_tokens=manifest["max_text_tokens"],
            pad_to_max=manifest["pad_to_max"], logit_scale=manifest["logit_scale"],
            logit_bias=manifest["logit_bias"], calibration=_calibration(folder),
            has_image_processor=manifest["has_image_processor"], pixel_encoding=_pixel_encoding(folder),
            image_tower=towers[0], text_tower=towers[1], _fingerprint=fingerprint)
    except (FabsightError, OSError, KeyError, TypeError, ValueError):
        return None


def _torch_model(folder: Path) -> Any:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    quiet_default_config_warning()
    transformers_logging.disable_progress_bar()  # a weight-loading bar per command is noise; ours show real work
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return AutoModel.from_pretrained(folder, local_files_only=True).eval()


def _calibration(folder: Path) -> dict[str, Any]:
    path = folder / CALIBRATION_FILE
    return json.loads(path.read_text()) if path.exists() else {}


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


def _image_processor(folder: Path) -> Any | None:
    if not (folder / "preprocessor_config.json").exists():
        return None
    from transformers import AutoImageProcessor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torchvision not installed, using the PIL backend" is expected here
        return AutoImageProcessor.from_pretrained(folder, local_files_only=True)
