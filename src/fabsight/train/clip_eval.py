"""Zero-shot quality of a dual encoder: single patterns, mixtures, and real labelled maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fabsight.evaluate.classification import classification_scores, presence_scores
from fabsight.knowledge.patterns import DEFECT_NAMES, PATTERN_NAMES
from fabsight.models.dual_encoder import DualEncoder
from fabsight.tasks.zero_shot import ZeroShotOptions, classify_vectors, default_views, encode_labels


def _predict(encoder: DualEncoder, wafers: Sequence[Any], labels: Sequence[str], views: int | None = None
             ) -> list[dict[str, Any]]:
    """`views` None: as `fabsight classify` chooses for these labels."""
    label_set = encode_labels(encoder, labels)
    # min_confidence 0: score the model's best guess; "uncertain" is measured separately.
    vectors = encoder.embed_wafers(wafers, views=views or default_views(label_set.labels))
    return classify_vectors(encoder, vectors, label_set, ZeroShotOptions(min_confidence=0.0))


def single_label_scores(encoder: DualEncoder, wafers: Sequence[Any], truth: Sequence[str],
                        labels: Sequence[str] = PATTERN_NAMES, views: int | None = None) -> dict[str, Any]:
    results = _predict(encoder, wafers, labels, views)
    predicted = [r["pattern"] for r in results]
    return classification_scores(list(truth), predicted, [r["confidence"] for r in results])


def defect_only_scores(encoder: DualEncoder, wafers: Sequence[Any], truth: Sequence[str]) -> dict[str, Any]:
    """The eight defect classes only (maps labelled none left out, "none" not offered as an answer)."""
    keep = [i for i, t in enumerate(truth) if t != "none"]
    return single_label_scores(encoder, [wafers[i] for i in keep], [truth[i] for i in keep], DEFECT_NAMES)


def mixture_scores(encoder: DualEncoder, wafers: Sequence[Any], label_sets: Sequence[frozenset[str]],
                   views: int | None = None) -> dict[str, Any]:
    """Exact match of the set of present patterns, and per-pattern F1 of presence."""
    results = _predict(encoder, wafers, DEFECT_NAMES, views)
    return presence_scores(label_sets, [frozenset(r["present"]) for r in results], DEFECT_NAMES)
