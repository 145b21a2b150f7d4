"""Classification metrics: accuracy, macro-F1, per-class precision and recall, confusion matrix, ECE.

Written with numpy on the confusion matrix rather than taken from
scikit-learn: every number here is a ratio of two counts of that matrix,
a few lines that are easy to check, and scikit-learn would add a large
dependency (with its own compiled stack) for them. The tests check every
number against scikit-learn on random labels, so the conventions are
scikit-learn's:

- the classes are the sorted union of true and predicted labels;
- precision of a class never predicted, recall of a class never true, and
  F1 when both are 0, are 0 (scikit-learn's `zero_division=0`);
- macro-F1 is the unweighted mean of the per-class F1 scores (not the F1 of
  macro precision and macro recall).

Maps with several patterns (`presence_scores`): exact match of each map's
set (scikit-learn's subset accuracy) and per-pattern precision, recall and
F1 of presence, macro-averaged over the patterns that are ever true.

Expected calibration error (Guo et al., 2017) uses equal-width bins over
[0, 1], 15 by default as in that paper: bin i holds confidences in
(i/M, (i+1)/M], with 0 in the first bin; ECE = sum over bins of
(bin size / n) * |accuracy(bin) - mean confidence(bin)|.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import InputError
from fabsight.evaluate.external import eval_extra_missing

DEFAULT_BINS = 15


def confusion_matrix(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """counts[i, j]: items of true class labels[i] predicted as labels[j]."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)  # (classes, classes)
    np.add.at(counts, ([index[t] for t in truth], [index[p] for p in predicted]), 1)
    return counts


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def calibration(correct: np.ndarray, confidence: np.ndarray, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Expected calibration error and the reliability table (equal-width bins, see the module doc)."""
    if bins < 1:
        raise InputError(f"the number of calibration bins must be at least 1, not {bins}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], confidence, side="left")  # (n,) bin of each item, (lo, hi]
    table, ece = [], 0.0
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        accuracy = float(correct[members].mean()) if count else None
        mean_confidence = float(confidence[members].mean()) if count else None
        if count:
            ece += count / len(confidence) * abs(accuracy - mean_confidence)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
                      "accuracy": accuracy, "confidence": mean_confidence})
    return {"ece": float(ece), "bins": table}


def classification_scores(truth: Sequence[str], predicted: Sequence[str],
                          confidence: Sequence[float] | None = None, *, bins: int = DEFAULT_BINS,
                          abstain: str | None = None, confident_of: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1, confusion matrix and (with confidences) ECE.

    `abstain` names a prediction that declines to answer ("uncertain"): it
    counts as wrong and has a column in the confusion matrix, but is not a
    class in the per-class scores and macro averages (scikit-learn's
    `labels=` without it). `confident_of` is the label each confidence
    belongs to where that is not the prediction (an abstention's best label):
    calibration is scored on it.
    """
    if bins < 1:
        raise InputError(f"the number of calibration bins must be at least 1, not {bins}")
    if len(truth) != len(predicted):
        raise InputError(f"{len(truth)} true labels but {len(predicted)} predictions")
    if not truth:
        raise InputError("nothing to score: no labelled items")
    labels = sorted(set(truth) | set(predicted))
    counts = confusion_matrix(truth, predicted, labels)
    hits = np.diag(counts)  # (classes,)
    support, predicted_count = counts.sum(axis=1), counts.sum(axis=0)
    precision, recall = _ratio(hits, predicted_count), _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    true_classes = set(truth)
    scored = np.array([label != abstain or label in true_classes for label in labels])  # (classes,) averaged over
    result: dict[str, Any] = {
        "items": len(truth),
        "accuracy": float(hits.sum() / len(truth)),
        "macro_f1": float(f1[scored].mean()),
        "macro_precision": float(precision[scored].mean()),
        "macro_recall": float(recall[scored].mean()),
        "labels": labels,
        "per_class": [{"label": label, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s),
                       "predicted": int(c)}
                      for label, p, r, f, s, c, kept in zip(labels, precision, recall, f1, support,
                                                             predicted_count, scored) if kept],
        "confusion": counts.tolist(),
        "ece": None,
        "calibration": None,
    }
    if abstain is not None:
        answered = [(t, p) for t, p in zip(truth, predicted) if p != abstain]
        result["abstained"] = len(truth) - len(answered)
        result["accuracy_answered"] = sum(t == p for t, p in answered) / len(answered) if answered else None
    if confidence is not None:
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.shape != (len(truth),):
            raise InputError(f"{len(truth)} predictions but {conf.size} confidences")
        if not np.all((conf >= 0) & (conf <= 1)):
            raise InputError("confidences must lie between 0 and 1")
        judged = predicted if confident_of is None else confident_of
        correct = np.asarray([t == p for t, p in zip(truth, judged)], dtype=np.float64)
        table = calibration(correct, conf, bins)
        result["ece"], result["calibration"] = table["ece"], table["bins"]
    return result


def presence_scores(truth: Sequence[frozenset[str]], found: Sequence[frozenset[str]],
                    patterns: Sequence[str] | None = None) -> dict[str, Any]:
    """Multi-label scores: exact match of each item's set of patterns, and per-pattern precision, recall and F1.

    Macro-F1 averages the patterns that occur in the truth (a pattern never
    true has no recall to speak of), as the model card's mixture row does.
    """
    if len(truth) != len(found):
        raise InputError(f"{len(truth)} true label sets but {len(found)} predicted sets")
    if not truth:
        raise InputError("nothing to score: no labelled items")
    patterns = sorted(set().union(*truth, *found)) if patterns is None else list(patterns)
    per_pattern = {}
    for name in patterns:
        is_true = np.array([name in t for t in truth])
        is_found = np.array([name in f for f in found])
        hits = int((is_true & is_found).sum())
        precision = hits / is_found.sum() if is_found.sum() else 0.0
        recall = hits / is_true.sum() if is_true.sum() else 0.0
        per_pattern[name] = {"f1": 2 * precision * recall / (precision + recall) if hits else 0.0,
                             "precision": float(precision), "recall": float(recall), "support": int(is_true.sum()),
                             "predicted": int(is_found.sum())}
    supported = [v["f1"] for v in per_pattern.values() if v["support"]]
    return {"items": len(truth), "exact_match": float(np.mean([f == t for f, t in zip(found, truth)])),
            "per_pattern": per_pattern, "macro_f1": float(np.mean(supported)) if supported else 0.0}


def true_rows(result: dict[str, Any]) -> list[int]:
    """Rows of the confusion matrix worth showing: classes with true items (a predicted-only row is all zeros)."""
    return [i for i, row in enumerate(result["confusion"]) if any(row)]


def save_confusion_png(result: dict[str, Any], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Draw the confusion matrix of a `classification_scores` result (rows: truth, columns: predicted)."""
    try:  # a bare Figure draws with Agg and leaves pyplot and the user's backend alone
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise eval_extra_missing("matplotlib", exc) from None

    from fabsight.files import atomic_write

    labels, shown = result["labels"], true_rows(result)
    counts = np.asarray(result["confusion"])[shown]  # (true classes, labels)
    size = max(4.0, 0.55 * len(labels) + 2.5)
    figure = Figure(figsize=(size, size * len(shown) / len(labels) + 0.6), dpi=120)
    axes = figure.add_subplot()
    shade = counts / counts.sum(axis=1, keepdims=True)  # colour: share of the true class
    axes.imshow(shade, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(shown)):
        for j in range(len(labels)):
            axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                      color="white" if shade[i, j] > 0.5 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(shown)), [labels[i] for i in shown])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{title} (accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f})", fontsize=9)
    figure.tight_layout()
    path = Path(path)
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png")
    return path
