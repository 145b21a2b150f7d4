"""Probes: small classification heads fitted on a model's frozen image vectors (`fabsight train probe`).

A probe is a folder holding `head.safetensors` (`weight` (L, dim) and `bias`
(L,), float32: probabilities are softmax(vectors @ weight.T + bias)) and
`probe.json` (labels, the model it was fitted on with a SHA-256 of its
weights, accuracies, data, date). It lives next to its model:

- a model given by path: `<model folder>/probes/NAME/`;
- a shipped model or a Hugging Face id: `$FABSIGHT_HOME/probes/<model>/NAME/`
  (default `$XDG_DATA_HOME/fabsight`, else `~/.local/share/fabsight`), so the
  installed package and the Hugging Face cache are never written to.

A probe loads only onto the exact weights it was fitted on: another model's
vectors would give confident nonsense.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, FabsightWarning
from fabsight.files import atomic_write, ensure_folder
from fabsight.models import registry
from fabsight.models.dual_encoder import DualEncoder
from fabsight.models.wafer_pixels import SYMMETRIES

HOME_ENV = "FABSIGHT_HOME"
HEAD_FILE = "head.safetensors"
INFO_FILE = "probe.json"
FORMAT = "fabsight.probe/1"
MODEL_PROBES = "probes"  # the folder of a model given by path that holds its probes
TUNE_RECORD = "fine_tune.json"  # in a model folder written by `train probe --fine-tune`: how it was made
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def fabsight_home() -> Path:
    """The user's fabsight data folder."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(data).expanduser() / "fabsight"


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise FabsightError(f"a probe name is 1 to 64 letters, digits, '.', '_' or '-' (starting with a letter or "
                            f"digit), not {name!r}; the probe is saved next to its model, so give a name, not a path")
    return name


def _inside_package(folder: Path) -> bool:
    return folder.resolve().is_relative_to(registry.WEIGHTS.resolve())


def probes_root(encoder: DualEncoder) -> Path:
    """The folder that holds this model's probes (see the module docstring)."""
    by_path = registry.shipped(encoder.name) is None and Path(encoder.name).expanduser().is_dir()
    if by_path and not _inside_package(encoder.folder):
        return encoder.folder / MODEL_PROBES
    model = encoder.folder.name if by_path else encoder.name
    return fabsight_home() / "probes" / re.sub(r"[^A-Za-z0-9._-]+", "--", model)


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FabsightError("no .safetensors weights in the model folder to identify the model by", folder)
    return files


@lru_cache(maxsize=16)
def _sha256(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in files:
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_fingerprint(folder: Path) -> str:
    """SHA-256 of the model's weight files (cached per file size and time: a probe check costs one hash)."""
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in _weight_files(folder))
    return _sha256(stats)


@dataclass(frozen=True)
class Probe:
    name: str
    folder: Path
    labels: tuple[str, ...]
    weight: np.ndarray  # (L, dim)
    bias: np.ndarray  # (L,)
    info: dict[str, Any]

    @property
    def views(self) -> int:
        """Symmetric views averaged per wafer when it was fitted (1 for probes from before views were recorded)."""
        return int(self.info.get("views", 1))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(N, L) softmax of the head over (N, dim) image vectors."""
        logits = vectors @ self.weight.T + self.bias  # (N, L)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def warn_if_tuned(encoder: DualEncoder, advice: str) -> None:
    """Texts against maps on a model from `train probe --fine-tune`: its image tower was trained away from its
    text tower, so say so, with `advice` on what to do instead."""
    if (encoder.folder / TUNE_RECORD).exists():
        warnings.warn(f"{encoder.name} is fine-tuned for its probes ({', '.join(available(encoder)) or 'none'}) and "
                      f"its texts no longer match its maps as measured: {advice}", FabsightWarning, stacklevel=3)


def available(encoder: DualEncoder) -> list[str]:
    root = probes_root(encoder)
    return sorted(p.name for p in root.iterdir() if (p / INFO_FILE).exists()) if root.is_dir() else []


def probe_folder(encoder: DualEncoder, name: str) -> Path:
    """Where probe `name` of this model lives (whether or not it exists yet)."""
    return probes_root(encoder) / check_name(name)


def save_probe(folder: Path, weight: np.ndarray, bias: np.ndarray, info: dict[str, Any]) -> Path:
    """Write the head and its JSON, each atomically; returns the folder."""
    from safetensors.numpy import save

    ensure_folder(folder)
    with atomic_write(folder / HEAD_FILE) as handle:
        handle.write(save({"weight": np.ascontiguousarray(weight, np.float32),
                           "bias": np.ascontiguousarray(bias, np.float32)}, metadata={"format": FORMAT}))
    with atomic_write(folder / INFO_FILE, "w") as handle:
        json.dump({"format": FORMAT, **info}, handle, indent=1, ensure_ascii=False)
    return folder


def _missing(encoder: DualEncoder, name: str) -> FabsightError:
    names = available(encoder)
    choices = f"available: {', '.join(names)}" if names else \
        f"it has none yet; fit one with `fabsight train probe --model {encoder.name} --data PATH... --out NAME`"
    return FabsightError(f"no probe named {name!r} for model {encoder.name!r} (looked in {probes_root(encoder)}); "
                         + choices)


def load_probe(encoder: DualEncoder, name: str) -> Probe:
    """Probe `name` of this model (or a probe folder given by path), checked against the model's weights."""
    given = Path(name).expanduser()
    folder = given if (os.sep in name or name.startswith(".")) and given.is_dir() else None
    if folder is None:
        if not NAME_RE.fullmatch(name or "") or not (probe_folder(encoder, name) / INFO_FILE).exists():
            raise _missing(encoder, name)
        folder = probe_folder(encoder, name)
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        tensors = load_file(folder / HEAD_FILE)
        weight, bias, labels = tensors["weight"], tensors["bias"], tuple(info["labels"])
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise FabsightError(f"not a readable probe ({type(exc).__name__}: {exc})", folder) from None
    fingerprint = model_fingerprint(encoder.folder)
    if info.get("model_sha256") != fingerprint:
        raise FabsightError(
            f"probe {folder.name!r} was fitted on model {info.get('model')!r} (weights sha256 "
            f"{str(info.get('model_sha256'))[:12]}), not on {encoder.name!r} ({fingerprint[:12]}): its scores would "
            f"mean nothing here. Fit one for this model with `fabsight train probe --model {encoder.name} ...`",
            folder)
    views = info.get("views", 1)
    if not isinstance(views, int) or not 1 <= views <= SYMMETRIES:
        raise FabsightError(f"probe views must be a whole number from 1 to {SYMMETRIES}, not {views!r}", folder)
    if weight.shape != (len(labels), encoder.dim) or bias.shape != (len(labels),):
        raise FabsightError(f"probe head has shape {weight.shape} for {len(labels)} labels; model {encoder.name!r} "
                            f"makes {encoder.dim}-d vectors", folder)
    return Probe(folder.name, folder, labels, weight.astype(np.float32), bias.astype(np.float32), info)
