"""Token ids without transformers: the same as the model's own tokenizer, or not used."""

import shutil

from fabsight.models.registry import shipped
from fabsight.models.text_tokens import PROBE_TEXTS, FastTokenIds, HFTokenIds, fast_token_settings


def shipped_tokenizer():
    from transformers import AutoTokenizer

    folder = shipped("wafer-clip").folder
    return folder, AutoTokenizer.from_pretrained(folder)


def test_the_shipped_tokenizer_file_gives_the_ids_transformers_gives():
    folder, tokenizer = shipped_tokenizer()
    settings = fast_token_settings(tokenizer, folder, 32)
    assert settings["matches"] and settings["pad_id"] == tokenizer.pad_token_id
    fast = FastTokenIds(folder / "tokenizer.json", settings["pad_id"], settings["left"])
    hf = HFTokenIds(tokenizer)
    texts = PROBE_TEXTS + ["Edge-Loc cluster at the 3 o'clock edge", "NEAR FULL"]
    assert fast.ids(texts) == hf.ids(texts)
    assert fast.truncated(texts, 8) == hf.truncated(texts, 8)
    assert max(map(len, fast.truncated(texts, 8))) == 8 and max(map(len, fast.ids(texts))) > 32


class AddsAWord:
    """A transformers-like tokenizer with a rule of its own (a word added) that tokenizer.json does not hold."""

    pad_token_id = 0
    padding_side = "right"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, texts, **kwargs):
        return self.tokenizer([f"{t} ring" for t in texts], **kwargs)


def test_a_tokenizer_with_rules_of_its_own_is_not_stood_in_for():
    folder, tokenizer = shipped_tokenizer()
    assert not fast_token_settings(AddsAWord(tokenizer), folder, 32)["matches"]


def test_without_a_tokenizer_file_nothing_stands_in(tmp_path):
    folder, tokenizer = shipped_tokenizer()
    shutil.copy(folder / "config.json", tmp_path)
    assert not fast_token_settings(tokenizer, tmp_path, 32)["matches"]
