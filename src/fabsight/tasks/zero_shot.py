"""Zero-shot classification of wafer maps with a dual encoder and prompt-template ensembles.

Two readings of the same image-label scores:
- `scores`: one distribution over the labels (softmax with a temperature
  fitted on held-out synthetic maps), whose top entry is the pattern;
- `present`: every label whose own probability of being on the wafer
  (sigmoid of the SigLIP logit, Platt-calibrated) passes one half, for
  mixed patterns.
Below `min_confidence` the answer is "uncertain" rather than a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fabsight.errors import FabsightError
from fabsight.knowledge.patterns import PATTERN_NAMES, label_phrase
from fabsight.models.dual_encoder import DualEncoder
from fabsight.wafer.map import WaferMap

UNCERTAIN = "uncertain"
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
        raise FabsightError(f"duplicate labels: {', '.join(repeated)}")
    return labels


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


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def presence(logits: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """(N, L) probability that each label is present, independently."""
    a, b = calibration.get("presence_scale", 1.0), calibration.get("presence_bias", 0.0)
    return 1.0 / (1.0 + np.exp(-(a * logits + b)))


@dataclass(frozen=True, kw_only=True)
class ZeroShotOptions:
    min_confidence: float = 0.5  # below this the answer is "uncertain"; see the model card for the choice
    presence_threshold: float = 0.5


def classify_vectors(encoder: DualEncoder, image_vectors: np.ndarray, label_set: LabelSet,
                     options: ZeroShotOptions = ZeroShotOptions()) -> list[dict[str, Any]]:
    logits = label_logits(encoder, image_vectors, label_set)  # (N, L)
    probabilities = softmax(logits, encoder.calibration.get("temperature", 1.0))
    present = presence(logits, encoder.calibration)
    results = []
    for p, q in zip(probabilities, present):
        top = int(p.argmax())
        results.append({
            "pattern": label_set.labels[top] if p[top] >= options.min_confidence else UNCERTAIN,
            "confidence": round(float(p[top]), 4),
            "scores": {label: round(float(v), 4) for label, v in zip(label_set.labels, p)},
            "present": [label for label, v in zip(label_set.labels, q) if v >= options.presence_threshold],
        })
    return results


def classify_wafers(encoder: DualEncoder, wafers: Sequence[WaferMap], labels: Sequence[str] = PATTERN_NAMES,
                    options: ZeroShotOptions = ZeroShotOptions()) -> list[dict[str, Any]]:
    label_set = encode_labels(encoder, labels)
    return classify_vectors(encoder, encoder.embed_wafers(wafers), label_set, options)
