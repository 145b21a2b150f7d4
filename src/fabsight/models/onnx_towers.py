"""A dual encoder's towers run by ONNX Runtime: the same vectors as torch, in less time, and a quick start.

Why: torch runs the shipped model's small transformer op by op, and on CPU
much of its time goes to memory-bound steps between the matrix products
(layer norm, GELU, softmax, reshapes). ONNX Runtime optimises the exported
graph and fuses some of them. On this project's 2-core machine, in four
paired runs of `benchmarks/embed_throughput.py`, the whole embedding path
(pixels included) ran 1.14x to 1.32x faster than with the torch model, with
vectors equal to torch's to about 1e-5. (ONNX Runtime's transformer graph
optimiser, tried on top, fused nothing more that mattered: no faster.)

Both towers are exported once per model (`torch.onnx.export`), and beside
them a manifest records what loading the model found (its type, sizes,
logit scale and bias, how its tokenizer pads). With all three cached, a
model loads without importing torch or transformers, which take most of a
command's start-up (`load_dual_encoder`). Every file is named by the
weights' fingerprint and both libraries' versions, so a changed model or
library never reuses a stale one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, FabsightWarning
from fabsight.models.loading import projected
from fabsight.progress import spinner

RUNTIMES = ("auto", "torch", "onnx")
RUNTIME_HELP = ("what runs the encoders: onnx (ONNX Runtime, faster on CPU; the model is exported once and "
                "cached), torch, or auto (onnx where onnxruntime and onnx are installed and the export works, "
                "else torch)")
TOWERS = {"image": "image encoder", "text": "text encoder"}


def cache_folder() -> Path:
    """Where exported graphs are kept: $XDG_CACHE_HOME/fabsight/onnx (default ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fabsight" / "onnx"


def onnx_installed() -> bool:
    """onnxruntime runs the graph; onnx is what torch's exporter writes it with."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def cached_path(kind: str, fingerprint: str, suffix: str = ".onnx") -> Path:
    """The cache file of one model's `kind` ("image", "text" or "model", the manifest) for these libraries.

    Versions from package metadata: reading torch.__version__ would import torch, which a cached load avoids.
    """
    return cache_folder() / f"{kind}-{fingerprint}-torch{version('torch')}-ort{version('onnxruntime')}{suffix}"


@dataclass
class OnnxTower:
    session: Any  # onnxruntime.InferenceSession
    path: Path

    def __post_init__(self) -> None:
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        """Named inputs (the graph's own; others are ignored) -> (N, dim) features, as the torch model gives."""
        feed = {name: np.ascontiguousarray(inputs[name]) for name in self.input_names}  # pixels come channels-last
        return self.session.run(None, feed)[0]


def onnx_tower(kind: str, model: Any, fingerprint: str, example: dict[str, np.ndarray]) -> OnnxTower:
    """The cached graph of `model`'s `kind` tower in an ONNX Runtime session, exported first if not yet cached.

    `example`: named example inputs; their first axis is the batch, free in the graph.
    """
    path = cached_path(kind, fingerprint)
    if not path.exists():
        _export(kind, model, example, path)
        return load_tower(kind, path)  # just exported: exporting again would fail the same way
    try:
        return load_tower(kind, path)
    except FabsightError as error:  # a damaged cached file: export it again
        warnings.warn(f"cached {error}; exporting it again", FabsightWarning, stacklevel=2)
        _export(kind, model, example, path)
        return load_tower(kind, path)


def load_tower(kind: str, path: Path) -> OnnxTower:
    """The graph at `path` in a session; whatever ONNX Runtime raises becomes a FabsightError (auto then runs torch)."""
    try:
        return OnnxTower(_session(path), path)
    except Exception as error:  # noqa: BLE001 - ONNX Runtime's load errors have no common base class
        raise FabsightError(f"ONNX graph of the {TOWERS[kind]} {path} could not be loaded "
                            f"({type(error).__name__}: {error})") from error


def _threads() -> int:
    """The thread budget torch would use: its own setting if torch is loaded, else OMP_NUM_THREADS, else ONNX
    Runtime's default (0: one per physical core, as torch's default)."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    with contextlib.suppress(KeyError, ValueError):
        return max(0, int(os.environ["OMP_NUM_THREADS"]))
    return 0


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = _threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its optimiser's notes are not for users
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tower_module(kind: str, model: Any) -> Any:
    """The module that is exported: pixels or token ids (and mask) -> projected features (N, dim)."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            if kind == "image":
                return projected(self.model.get_image_features(pixel_values=inputs[0]))
            mask = {"attention_mask": inputs[1]} if len(inputs) > 1 else {}
            return projected(self.model.get_text_features(input_ids=inputs[0], **mask))

    return Tower(model).eval()


def _export(kind: str, model: Any, example: dict[str, np.ndarray], path: Path) -> None:
    """Export to a temporary name, then rename: a crash mid-export never leaves a half graph under `path`."""
    import torch

    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    names = list(example)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # inside: a cache that cannot be written is an export failure
        with spinner(f"exporting the {TOWERS[kind]} to ONNX (once per model; cached)"), warnings.catch_warnings(), \
                torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracing notes are not for users
            # The TorchScript exporter (dynamo=False): for the shipped model 0.3-0.7 CPU-s against 7.0 for the
            # torch.export-based one, which also needs onnxscript. torch is pinned, so its deprecation is not a
            # surprise waiting to happen.
            inputs = tuple(torch.from_numpy(value) for value in example.values())
            torch.onnx.export(_tower_module(kind, model), inputs, str(partial), input_names=names,
                              output_names=["features"], dynamic_axes={name: _free_axes(kind) for name in names},
                              dynamo=False)
        os.replace(partial, path)
    except Exception as error:
        with contextlib.suppress(OSError):  # nothing to remove, or no folder to remove it from
            partial.unlink()
        raise FabsightError(f"could not export the {TOWERS[kind]} to ONNX ({type(error).__name__}: {error})") \
            from error


def _free_axes(kind: str) -> dict[int, str]:
    """The batch is free in both graphs, and so is a text's length (CLIP pads a batch to its longest text)."""
    return {0: "batch", 1: "tokens"} if kind == "text" else {0: "batch"}


def write_manifest(fingerprint: str, manifest: dict[str, Any]) -> None:
    """What a cached load needs besides the graphs; written whole or not at all (a temporary name, then renamed).

    Not being able to write it only costs speed (the next load imports torch), so that is not an error.
    """
    path = cached_path("model", fingerprint, ".json")
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(manifest, indent=1))
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()


def read_manifest(fingerprint: str) -> dict[str, Any] | None:
    """The manifest of a model whose graphs were exported with these libraries; None if absent or unreadable."""
    try:
        manifest = json.loads(cached_path("model", fingerprint, ".json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None
