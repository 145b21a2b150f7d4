"""Fit the confidence calibration of a dual encoder on held-out synthetic maps.

Two fits, both one- or two-parameter maps of the model's logits, so they
cannot overfit a few thousand maps:
- temperature scaling of the softmax over the nine classes (single-pattern maps);
- Platt scaling of each label's own sigmoid (single and mixed maps), for "is this pattern present".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.models.dual_encoder import DualEncoder
from fabsight.tasks.zero_shot import CLASS_VIEWS, encode_labels, label_logits, softmax
from fabsight.train.wafer_data import WaferSet


def _log_softmax_nll(logits: np.ndarray, targets: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)[np.arange(len(targets)), targets]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood (searched on a log scale)."""
    fit = minimize_scalar(lambda log_t: _log_softmax_nll(logits, targets, float(np.exp(log_t))),
                          bounds=(np.log(1e-3), np.log(1e3)), method="bounded")
    return float(np.exp(fit.x))


def fit_platt(logits: np.ndarray, present: np.ndarray) -> tuple[float, float]:
    """(a, b) so that sigmoid(a * logit + b) is the probability that the label is present."""
    x, y = logits.ravel(), present.ravel().astype(np.float64)

    def loss(params: np.ndarray) -> float:
        z = params[0] * x + params[1]
        return float(np.mean(np.logaddexp(0.0, z) - y * z))  # binary cross-entropy, numerically stable

    fit = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B")
    return float(fit.x[0]), float(fit.x[1])


def fit_calibration(encoder: DualEncoder, single: WaferSet, mixed: WaferSet) -> dict[str, Any]:
    """Calibration for the nine WM-811K labels, to be saved as the model's calibration.json."""
    label_set = encode_labels(encoder, PATTERN_NAMES)
    index = {name: i for i, name in enumerate(PATTERN_NAMES)}

    def logits(wafers: WaferSet) -> np.ndarray:  # the views `fabsight classify` averages for these labels
        return label_logits(encoder, encoder.embed_wafers(wafers.grids, views=CLASS_VIEWS), label_set)

    single_logits = logits(single)
    targets = np.array([index[label] for label in single.labels])
    temperature = fit_temperature(single_logits, targets)
    both_logits = np.concatenate([single_logits, logits(mixed)])
    present = np.zeros_like(both_logits)
    for row, labels in enumerate(single.label_sets + mixed.label_sets):
        for name in labels or {"none"}:
            present[row, index[name]] = 1.0
    scale, bias = fit_platt(both_logits, present)
    return {"labels": list(PATTERN_NAMES), "temperature": temperature, "presence_scale": scale,
            "presence_bias": bias, "views": CLASS_VIEWS,
            "fitted_on": {"single_maps": len(single), "mixed_maps": len(mixed)}}
