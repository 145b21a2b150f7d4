"""Find a model's files on this machine: shipped name, local folder, or Hugging Face id in the local cache.

Nothing is ever downloaded: fabsight runs offline. A model that is not here
gets an error saying how to put it here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fabsight.errors import FabsightError
from fabsight.models.registry import SHIPPED, shipped


def projected(output: Any) -> Any:
    """The projected embedding of a `get_image_features` / `get_text_features` call: transformers 5 returns an
    output object whose pooler_output it is, older versions the tensor itself."""
    return output if hasattr(output, "shape") else output.pooler_output


def require_model_libraries() -> None:
    """A clear message instead of a ModuleNotFoundError when the `ml` extra is not installed."""
    import importlib.util

    missing = [name for name in ("torch", "transformers", "tokenizers", "safetensors")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise FabsightError(f"models need {', '.join(missing)}, which are not installed: "
                            "pip install 'fabsight[ml]' (it pins the CPU build torch==2.13.0)")


def quiet_default_config_warning() -> None:
    """transformers 5 builds a default SiglipTextConfig inside `to_dict`, and that default trips its own
    token-id check (CLIP's ids 49406/49407 against a 32000 vocabulary): a warning about a config that is not
    ours, on every load and save. Only that module's warnings are silenced."""
    import logging

    logging.getLogger("transformers.configuration_utils").setLevel(logging.ERROR)


def locate(name_or_path: str, family: str) -> Path:
    """The local folder holding the model's `config.json` and weights."""
    entry = shipped(name_or_path)
    if entry is not None:
        if entry.family != family:
            raise FabsightError(f"model {name_or_path!r} is a {entry.family} model, not a {family} model")
        if not (entry.folder / "config.json").exists():
            raise FabsightError(f"the shipped model {name_or_path!r} is missing from this installation "
                                f"({entry.folder}); rebuild it with `{entry.rebuild}`")
        return entry.folder
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FabsightError("folder has no config.json: not a saved Hugging Face model", path)
        return path
    if path.exists():
        raise FabsightError("is a file; pass the folder that holds config.json and the weights", path)
    return _from_hub_cache(name_or_path)


def _from_hub_cache(model_id: str) -> Path:
    """A Hugging Face id resolved from the local cache only."""
    choices = ", ".join(m.name for m in SHIPPED)
    if model_id.count("/") != 1 or model_id.startswith(("/", ".", "~")):
        raise FabsightError(f"unknown model {model_id!r}: not a shipped model ({choices}), a model folder, "
                            "or a Hugging Face id such as openai/clip-vit-base-patch32 already on this machine "
                            "(fabsight never downloads)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError, OSError):
        raise FabsightError(
            f"model {model_id!r} is not on this machine and fabsight never downloads. On a machine with "
            f"internet run `hf download {model_id}` and copy its Hugging Face cache folder here (or pass "
            f"the model's folder as --model PATH). Shipped models: {choices}") from None
