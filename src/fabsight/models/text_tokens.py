"""Token ids for a dual encoder's texts: from the model's transformers tokenizer, or from its tokenizer.json alone.

Why two: importing transformers takes seconds, and a model whose tokenizer
is a `tokenizers` file (the shipped one, and most Hugging Face CLIP and
SigLIP) gives the same ids through `tokenizers` directly. Whether it does is
checked once, when the model's graphs are exported (`matches`), on texts
chosen to stress it; a model that differs keeps the transformers tokenizer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKENIZER_FILE = "tokenizer.json"
# Texts that tell tokenizers apart: case, punctuation, spacing, accents, digits, other scripts, a long one.
PROBE_TEXTS = ["edge ring", "A Scratch from the UPPER-left to the centre, 12.5% of dies lost!", "no visible pattern",
               "  spaced   out\twords \n", "ümlaut café naïve", "数字 123 4.5%", "don't", "<|endoftext|> pad",
               "a donut of fails around the centre " * 12]


@dataclass
class HFTokenIds:
    """Ids from a transformers tokenizer."""

    tokenizer: Any

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    @property
    def left(self) -> bool:
        return self.tokenizer.padding_side == "left"

    def ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]

    def truncated(self, texts: list[str], max_tokens: int) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=max_tokens)["input_ids"]


@dataclass
class FastTokenIds:
    """Ids from a `tokenizers` file, without transformers: special tokens added, no padding (the encoder pads)."""

    path: Path
    pad_id: int
    left: bool
    truncation_side: str = "right"
    _plain: Any = field(default=None, init=False, repr=False)
    _cut: dict[int, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        from tokenizers import Tokenizer

        self._plain = Tokenizer.from_file(str(self.path))
        self._plain.no_padding()
        self._plain.no_truncation()

    def ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._plain.encode_batch(texts, add_special_tokens=True)]

    def truncated(self, texts: list[str], max_tokens: int) -> list[list[int]]:
        if max_tokens not in self._cut:
            from tokenizers import Tokenizer

            cut = Tokenizer.from_str(self._plain.to_str())
            cut.enable_truncation(max_tokens, direction=self.truncation_side)
            self._cut[max_tokens] = cut
        return [e.ids for e in self._cut[max_tokens].encode_batch(texts, add_special_tokens=True)]


def tokenizer_libraries() -> dict[str, str]:
    """The versions the ids were compared under: a new release of either may tokenize differently."""
    from importlib.metadata import version

    return {name: version(name) for name in ("tokenizers", "transformers")}


def file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def fast_token_settings(tokenizer: Any, folder: Path, max_tokens: int) -> dict[str, Any]:
    """How `FastTokenIds` would stand in for `tokenizer` (a transformers tokenizer) of the model in `folder`.

    "matches" is true only if it gives the same ids on `PROBE_TEXTS`, whole and cut to `max_tokens`; it holds
    for the tokenizer file with `digest` under these `libraries`.
    """
    path = folder / TOKENIZER_FILE
    hf = HFTokenIds(tokenizer)
    settings = {"matches": False, "pad_id": hf.pad_id, "left": hf.left,
                "truncation_side": getattr(tokenizer, "truncation_side", "right")}
    if not path.exists():
        return settings
    try:
        fast = FastTokenIds(path, settings["pad_id"], settings["left"], settings["truncation_side"])
        matches = (fast.ids(PROBE_TEXTS) == hf.ids(PROBE_TEXTS)
                   and fast.truncated(PROBE_TEXTS, max_tokens) == hf.truncated(PROBE_TEXTS, max_tokens))
    except Exception:  # noqa: BLE001 - a file `tokenizers` cannot read just keeps the transformers tokenizer
        return settings
    return {**settings, "matches": bool(matches), "digest": file_digest(path), "libraries": tokenizer_libraries()}
