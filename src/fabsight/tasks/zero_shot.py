"""Zero-shot classification of wafer maps with a dual encoder and prompt-template ensembles.

Two readings of the same image-label scores:
- `scores`: one distribution over the labels (softmax with a temperature
  fitted on held-out synthetic maps), whose top entry is the pattern; the
  `top_scores` best labels are reported, best first;
- `present`: every label whose own probability of being on the wafer
  (sigmoid of the image-label logit, Platt-calibrated) reaches
  `presence_threshold` (one half by default), for mixed patterns.
Below `min_confidence` the answer is "uncertain" rather than a guess.
`decide` turns any (N, L) probabilities into these answers, so a fitted
probe (`fabsight.models.probes`) answers in the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fabsight.errors import FabsightError
from fabsight.knowledge.patterns import PATTERN_NAMES, UNCERTAIN, by_name, label_phrase
from fabsight.models.dual_encoder import DualEncoder
from fabsight.options import option
from fabsight.wafer.map import WaferMap

CLASS_VIEWS = 8  # symmetric views averaged per wafer when every label is a pattern class (see `default_views`)
TEMPLATES = (
    "a wafer map with a {} pattern",
    "wafer map showing {}",
    "{} on a wafer",
    "a wafer whose failing dies form {}",
    "{}",
)


@dataclass(frozen=True)
class LabelSet:
    """Labels with their ensembled text vectors, computed once and reused for every image."""

    labels: tuple[str, ...]
    vectors: np.ndarray  # (L, dim) unit vectors


def check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    labels = tuple(label.strip() for label in labels)
    if not labels:
        raise FabsightError("the label list is empty: give at least one label, e.g. --labels scratch 'edge ring'")
    if any(not label for label in labels):
        raise FabsightError("labels must not be blank")
    seen, repeated = set(), []
    for label in labels:
        key = label.casefold()
        if key in seen and label not in repeated:
            repeated.append(label)
        seen.add(key)
    if repeated:
        raise FabsightError(f"duplicate labels (compared ignoring case): {', '.join(repeated)}")
    return labels


def default_views(labels: Sequence[str]) -> int:
    """`CLASS_VIEWS` when every label is a pattern class or its synonym, whose truth no turn or mirror changes; else 1.

    A label of the user's own may name a side ("cluster at the left edge"),
    which averaging turned views would blur.
    """
    return CLASS_VIEWS if all(by_name(label) is not None for label in labels) else 1


def encode_labels(encoder: DualEncoder, labels: Sequence[str], templates: Sequence[str] = TEMPLATES) -> LabelSet:
    """Each label's vector is the normalised mean of its prompts' vectors (one text-encoder pass in all)."""
    labels = check_labels(labels)
    prompts = [template.format(label_phrase(label)) for label in labels for template in templates]
    vectors = encoder.embed_texts(prompts).reshape(len(labels), len(templates), -1).mean(axis=1)  # (L, dim)
    return LabelSet(labels, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def label_logits(encoder: DualEncoder, image_vectors: np.ndarray, label_set: LabelSet) -> np.ndarray:
    """(N, L) model logits: scale * cosine + bias."""
    scale, bias = encoder.logit_scale_and_bias()
    return scale * image_vectors @ label_set.vectors.T + bias


def softmax_weights(encoder: DualEncoder, label_set: LabelSet) -> np.ndarray:
    """(L, dim) W with softmax(vectors @ W.T) equal to `label_probabilities`' calibrated softmax.

    The logits' bias is the same for every label, so it cancels in the softmax;
    a fitted probe starts from this linear map (`fabsight.train.probe`).
    """
    scale, _ = encoder.logit_scale_and_bias()
    return scale / encoder.calibration.get("temperature", 1.0) * label_set.vectors


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def presence(logits: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """(N, L) probability that each label is present, independently."""
    from scipy.special import expit  # no overflow warning for very negative logits

    a, b = calibration.get("presence_scale", 1.0), calibration.get("presence_bias", 0.0)
    return expit(a * logits + b)


@dataclass(frozen=True, kw_only=True)
class ZeroShotOptions:
    """How scores become an answer; shared by zero-shot prompts and fitted probes. The CLI derives its flags."""

    min_confidence: float = option('below this top score the pattern is "uncertain" (0 to 1)', 0.5)
    presence_threshold: float = option("a label is listed as present when its own probability reaches this "
                                       "(0 to 1)", 0.5)
    top_scores: int = option("keep the N best labels' scores per wafer, best first (0: every label)", 10,
                             metavar="N")

    def __post_init__(self) -> None:
        getattr(super(), "__post_init__", lambda: None)()  # options combine by inheritance: let each check
        for name in ("min_confidence", "presence_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FabsightError(f"{name.replace('_', '-')} must be between 0 and 1, not {value}")
        if self.top_scores < 0:
            raise FabsightError(f"top-scores must be 0 (every label) or more, not {self.top_scores}")


def label_probabilities(encoder: DualEncoder, image_vectors: np.ndarray, label_set: LabelSet
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) calibrated softmax over the labels, and (N, L) independent presence probabilities."""
    logits = label_logits(encoder, image_vectors, label_set)  # (N, L)
    return softmax(logits, encoder.calibration.get("temperature", 1.0)), presence(logits, encoder.calibration)


def decide(labels: Sequence[str], probabilities: np.ndarray, present: np.ndarray,
           options: ZeroShotOptions = ZeroShotOptions()) -> list[dict[str, Any]]:
    """One answer per row of (N, L) probabilities: pattern (or "uncertain"), confidence, top scores, present.

    Only the `top_scores` best labels are turned into Python objects, so a list
    of thousands of labels costs array work, not a dict of thousands per wafer.
    """
    n, count = probabilities.shape
    k = count if options.top_scores == 0 else min(options.top_scores, count)
    best = np.argpartition(-probabilities, k - 1, axis=1)[:, :k] if k < count else np.tile(np.arange(count), (n, 1))
    order = np.take_along_axis(probabilities, best, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
    best = np.take_along_axis(best, order, axis=1)  # (N, k) label indices, best first
    is_present = present >= options.presence_threshold  # (N, L)
    results = []
    for p, top, here in zip(probabilities, best, is_present):
        confidence = float(p[top[0]])
        results.append({
            "pattern": labels[top[0]] if confidence >= options.min_confidence else UNCERTAIN,
            "confidence": round(confidence, 4),
            "scores": {labels[i]: round(float(p[i]), 4) for i in top},
            "present": [labels[i] for i in np.flatnonzero(here)],
        })
    return results


def classify_vectors(encoder: DualEncoder, image_vectors: np.ndarray, label_set: LabelSet,
                     options: ZeroShotOptions = ZeroShotOptions()) -> list[dict[str, Any]]:
    probabilities, present = label_probabilities(encoder, image_vectors, label_set)
    return decide(label_set.labels, probabilities, present, options)


def classify_wafers(encoder: DualEncoder, wafers: Sequence[WaferMap], labels: Sequence[str] = PATTERN_NAMES,
                    options: ZeroShotOptions = ZeroShotOptions()) -> list[dict[str, Any]]:
    label_set = encode_labels(encoder, labels)  # once, before any image: the text encoder never runs per image
    vectors = encoder.embed_wafers(wafers, views=default_views(label_set.labels))
    return classify_vectors(encoder, vectors, label_set, options)
