"""Without the evaluation extra, each metric says what to install instead of failing with an ImportError."""

from __future__ import annotations

import pytest

from fabsight.errors import FabsightError
from fabsight.evaluate.captions import CaptionOptions, score_captions
from fabsight.evaluate.classification import classification_scores, save_confusion_png
from fabsight.evaluate.speech import speech_scores


@pytest.mark.parametrize("module, call", [
    ("pycocoevalcap.tokenizer",
     lambda: score_captions({"1": ["a"], "2": ["b"]}, {"1": "a", "2": "b"}, CaptionOptions(skip_meteor=True))),
    ("pycocoevalcap.bleu.bleu",
     lambda: score_captions({"1": ["a"], "2": ["b"]}, {"1": "a", "2": "b"},
                            CaptionOptions(tokenizer="python", skip_meteor=True))),
    ("jiwer", lambda: speech_scores({"1": "a"}, {"1": "a"})),
    ("matplotlib.figure", lambda: save_confusion_png(classification_scores(["a"], ["a"]), "never.png")),
])
def test_missing_package_names_the_extra(monkeypatch, module, call):
    monkeypatch.setitem(__import__("sys").modules, module, None)
    with pytest.raises(FabsightError, match=r"pip install 'fabsight\[eval\]'"):
        call()
