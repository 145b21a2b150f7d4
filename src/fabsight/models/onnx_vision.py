"""A dual encoder's image tower run by ONNX Runtime: the same vectors as torch, in less time on CPU.

Why: torch runs the shipped model's small transformer op by op, and on CPU
much of its time goes to memory-bound steps between the matrix products
(layer norm, GELU, softmax, reshapes). ONNX Runtime optimises the exported
graph and fuses some of them. On this project's 2-core machine, in four
paired runs of `benchmarks/embed_throughput.py`, the whole embedding path
(pixels included) ran 1.14x to 1.32x faster than with the torch model, with
vectors equal to torch's to about 1e-5. (ONNX Runtime's transformer graph
optimiser, tried on top, fused nothing more that mattered: no faster.)

The graph is exported once per model (`torch.onnx.export`) and kept in a
cache folder under a name that holds the weights' fingerprint and both
libraries' versions, so a changed model or library never reuses a stale one.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, FabsightWarning
from fabsight.models.loading import projected
from fabsight.progress import spinner

RUNTIMES = ("auto", "torch", "onnx")
RUNTIME_HELP = ("what runs the image encoder: onnx (ONNX Runtime, faster on CPU; the model is exported once and "
                "cached), torch, or auto (onnx where onnxruntime and onnx are installed and the export works, "
                "else torch)")


def cache_folder() -> Path:
    """Where exported graphs are kept: $XDG_CACHE_HOME/fabsight/onnx (default ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fabsight" / "onnx"


def onnx_installed() -> bool:
    """onnxruntime runs the graph; onnx is what torch's exporter writes it with."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _image_tower(model: Any) -> Any:
    """The module that is exported: pixels (N, 3, S, S) -> projected image features (N, dim)."""
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            return projected(self.model.get_image_features(pixel_values=pixel_values))

    return ImageTower(model).eval()


@dataclass
class OnnxImageTower:
    session: Any  # onnxruntime.InferenceSession
    path: Path

    def __call__(self, pixel_values: Any):
        """(N, 3, S, S) torch pixels -> (N, dim) torch features, as the torch model gives."""
        import torch

        pixels = np.ascontiguousarray(pixel_values.numpy(), dtype=np.float32)  # wafer pixels arrive channels-last
        return torch.from_numpy(self.session.run(None, {"pixel_values": pixels})[0])


def onnx_image_tower(model: Any, fingerprint: str, image_size: int) -> OnnxImageTower:
    """The cached graph of `model`'s image tower in an ONNX Runtime session, exported first if not yet cached."""
    import onnxruntime
    import torch

    path = cache_folder() / f"image-{fingerprint}-torch{torch.__version__}-ort{onnxruntime.__version__}.onnx"
    if not path.exists():
        _export(model, image_size, path)
        return _load(path)  # just exported: exporting again would fail the same way
    try:
        return _load(path)
    except FabsightError as error:  # a damaged cached file: export it again
        warnings.warn(f"cached {error}; exporting it again", FabsightWarning, stacklevel=2)
        _export(model, image_size, path)
        return _load(path)


def _load(path: Path) -> OnnxImageTower:
    """The graph at `path` in a session; whatever ONNX Runtime raises becomes a FabsightError (auto then runs torch)."""
    try:
        return OnnxImageTower(_session(path), path)
    except Exception as error:  # noqa: BLE001 - ONNX Runtime's load errors have no common base class
        raise FabsightError(f"ONNX graph {path} could not be loaded ({type(error).__name__}: {error})") from error


def _session(path: Path) -> Any:
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the same thread budget as torch would use
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its optimiser's notes are not for users
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _export(model: Any, image_size: int, path: Path) -> None:
    """Export to a temporary name, then rename: a crash mid-export never leaves a half graph under `path`."""
    import torch

    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    example = torch.zeros(2, 3, image_size, image_size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # inside: a cache that cannot be written is an export failure
        with spinner("exporting the image encoder to ONNX (once per model; cached)"), warnings.catch_warnings(), \
                torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracing notes are not for users
            # The TorchScript exporter (dynamo=False): for the shipped model 0.3-0.7 CPU-s against 7.0 for the
            # torch.export-based one, which also needs onnxscript. torch is pinned, so its deprecation is not a
            # surprise waiting to happen.
            torch.onnx.export(_image_tower(model), (example,), str(partial), input_names=["pixel_values"],
                              output_names=["features"], dynamic_axes={"pixel_values": {0: "batch"}},
                              dynamo=False)
        os.replace(partial, path)
    except Exception as error:
        with contextlib.suppress(OSError):  # nothing to remove, or no folder to remove it from
            partial.unlink()
        raise FabsightError(f"could not export the image encoder to ONNX ({type(error).__name__}: {error})") from error
