"""Truth and predictions for `fabsight evaluate classify`: label files, and `fabsight classify --json` output.

A classify document scores as it stands: `fabsight classify maps.npz --json
> out.json` then `fabsight evaluate classify --preds out.json` scores the
model on labelled maps (WM-811K arrays, generated maps) with no file
written by hand. Each result's `id` is the wafer's key, its `pattern` the
prediction, its `present` the patterns found, and its `label` (when the
data carries one) the truth. A true label that joins patterns with '+'
makes every item scored by its set of patterns (`presence_scores`), else
each is scored by one label (`classification_scores`).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.errors import FabsightWarning, InputError
from fabsight.evaluate.classification import DEFAULT_BINS, classification_scores, presence_scores
from fabsight.evaluate.io import align_ids, preview, read_json_data, read_records, records_by_id, records_from_json
from fabsight.knowledge.patterns import MIXTURE, UNCERTAIN
from fabsight.options import option

FORMAT_HELP = ("CSV (header row: id,label[,confidence]), JSON Lines or a JSON list of {id, label[, confidence]"
               "[, scores: {label: probability}]}, or a JSON object {id: label}; the confidence (0..1) of a "
               "prediction defaults to its largest score; a label may join several patterns with '+'")


@dataclass(frozen=True, kw_only=True)
class ClassifyOptions:
    bins: int = option("equal-width confidence bins for the expected calibration error", DEFAULT_BINS)
    leave_out: list[str] = option("score only items whose true label is none of these (e.g. `none`, to score the "
                                  "defect classes alone)", [], nargs="+", metavar="LABEL")


# --- `fabsight classify --json` documents ----------------------------------------------------------
def is_classify_document(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("results"), list) and {"model", "labels"} <= set(data)


def _result(row: Any, number: int, path: Path | None) -> dict[str, Any]:
    if not isinstance(row, dict) or "pattern" not in row:
        raise InputError(f"result {number} is not a classify result (an object with 'pattern')", path)
    if not row.get("id"):
        raise InputError(f"result {number} has no 'id' (written by an older fabsight): run classify again", path)
    return row


def prediction_records(data: dict[str, Any], path: Path | None) -> dict[str, dict[str, Any]]:
    """Predictions by wafer id: {"label": pattern, "confidence", "top": the best-scored label, "present"}.

    `top` differs from `label` where classify answered "uncertain": the
    confidence is that of the best label, so calibration is scored on it.
    """
    rows = [_result(row, number, path) for number, row in enumerate(data["results"], 1)]
    if not rows:
        raise InputError("no predictions: the classify document has no results", path)
    repeated = [key for key, count in Counter(str(row["id"]) for row in rows).items() if count > 1]
    if repeated:
        raise InputError(f"{len(repeated)} wafer id(s) appear more than once, as when a wafer is read from two files "
                         f"(a map's .npz and its .png, both named): classify one copy of each: "
                         f"{preview(repeated)}", path)
    failed = data.get("errors") or []
    if failed:
        where = f"in {path.name} " if path else ""
        warnings.warn(f"{len(failed)} file(s) {where}could not be classified and are not scored",
                      FabsightWarning, stacklevel=2)
    return {str(row["id"]): {"label": row["pattern"], "confidence": row.get("confidence"),
                             "top": next(iter(row.get("scores") or {}), row["pattern"]),
                             "present": row.get("present")} for row in rows}


def carried_truth(data: dict[str, Any], path: Path | None) -> dict[str, dict[str, Any]]:
    """The label each classified map carries, by wafer id; every result must carry one."""
    rows = data["results"]
    unlabelled = [str(row.get("id")) for row in rows if not row.get("label")]
    if unlabelled:
        raise InputError(f"{len(unlabelled)} of {len(rows)} results carry no label of their own (labels come with "
                         f"WM-811K arrays and generated maps): give the true labels with --truth FILE: "
                         f"{preview(unlabelled)}", path)
    return {str(row["id"]): {"label": row["label"]} for row in rows}


# --- label files, and scoring --------------------------------------------------------------------
def _label(record: dict[str, Any], path: Path | None, key: str) -> str:
    value = record.get("label")
    if value is None or isinstance(value, (dict, list, bool)) or str(value).strip() == "":
        raise InputError(f"id {key!r}: missing or invalid 'label' (expected {FORMAT_HELP})", path)
    return str(value)


def _confidence(record: dict[str, Any], path: Path | None, key: str) -> float | None:
    value = record.get("confidence")
    if value in (None, ""):
        scores = record.get("scores")
        if scores is None:
            return None
        if not isinstance(scores, dict) or not scores or \
                not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values()):
            raise InputError(f"id {key!r}: 'scores' must be an object {{label: probability}}", path)
        value = max(scores.values())
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"id {key!r}: confidence {value!r} is not a number", path) from None
    if not 0.0 <= number <= 1.0:
        raise InputError(f"id {key!r}: confidence {number} is not between 0 and 1", path)
    return number


def read_labels(path: str | Path, role: str) -> dict[str, dict[str, Any]]:
    path = Path(path)
    records = records_by_id(read_records(path, "label"), path, role)
    if not records:
        raise InputError(f"no {role}s", path)
    return records


def read_predictions(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """Predictions by id, and the whole document where the file is `fabsight classify --json` output."""
    data = None if path.suffix.lower() in (".csv", ".tsv") else read_json_data(path)
    if is_classify_document(data):
        return prediction_records(data, path), data
    records = read_records(path, "label") if data is None else records_from_json(data, path, "label")
    predictions = records_by_id(records, path, "prediction")
    if not predictions:
        raise InputError("no predictions", path)
    return predictions, None


def _split(label: str) -> frozenset[str]:
    return frozenset(part.strip() for part in label.split(MIXTURE) if part.strip())


def _pattern_set(record: dict[str, Any], classified: bool, path: Path | None, key: str) -> frozenset[str]:
    """The patterns predicted present: `present` of a classify result, else the label split at '+'."""
    if not classified:
        return _split(_label(record, path, key))
    present = record.get("present")
    if not isinstance(present, list) or not all(isinstance(name, str) for name in present):
        raise InputError(f"id {key!r}: a classify result needs its 'present' list to be scored against several "
                         f"patterns per map", path)
    return frozenset(present)


def _true_labels(truth_path: Path | None, preds_path: Path,
                 document: dict[str, Any] | None) -> tuple[dict[str, dict[str, Any]], Path]:
    if truth_path is not None:
        return read_labels(truth_path, "truth"), truth_path
    if document is None:
        raise InputError("no --truth given, and this is not a `fabsight classify --json` document whose maps carry "
                         "labels", preds_path)
    return carried_truth(document, preds_path), preds_path


def _single_label(truth: list[str], ids: list[str], preds: dict[str, dict[str, Any]], path: Path | None,
                  classified: bool, bins: int) -> dict[str, Any]:
    """`classification_scores`, with "per_item": each id's truth, prediction and confidence."""
    predicted = [_label(preds[key], path, key) for key in ids]
    confidences = [_confidence(preds[key], path, key) for key in ids]
    given = [c is not None for c in confidences]
    if any(given) and not all(given):
        missing = [key for key, g in zip(ids, given) if not g]
        raise InputError(f"{len(missing)} of {len(ids)} predictions have no confidence (give one for all or none): "
                         f"{preview(missing)}", path)
    abstain, confident_of = (UNCERTAIN, [preds[key]["top"] for key in ids]) if classified else (None, None)
    scores = classification_scores(truth, predicted, confidences if all(given) else None, bins=bins,
                                   abstain=abstain, confident_of=confident_of)
    return {**scores, "per_item": [{"id": key, "label": t, "predicted": p, "confidence": c}
                                   for key, t, p, c in zip(ids, truth, predicted, confidences)]}


def _evaluate(preds: dict[str, dict[str, Any]], truth: dict[str, dict[str, Any]], classified: bool,
              preds_path: Path | None, truth_path: Path | None, options: ClassifyOptions) -> dict[str, Any]:
    aligned = align_ids(preds, truth, preds_path)
    true = {key: _label(truth[key], truth_path, key) for key in aligned}
    ids = [key for key in aligned if true[key] not in options.leave_out]
    if not ids:
        raise InputError(f"every scored item's true label is left out ({', '.join(options.leave_out)})", truth_path)
    where = {"truth": None if truth_path is None else str(truth_path),
             "preds": None if preds_path is None else str(preds_path),
             "references_without_prediction": len(truth) - len(aligned), "left_out": len(aligned) - len(ids)}
    if any(MIXTURE in true[key] for key in ids):
        found = [_pattern_set(preds[key], classified, preds_path, key) for key in ids]
        per_item = [{"id": key, "label": true[key], "present": sorted(f), "exact": f == _split(true[key])}
                    for key, f in zip(ids, found)]
        return {"mode": "multi-label", **presence_scores([_split(true[key]) for key in ids], found), **where,
                "per_item": per_item}
    result = _single_label([true[key] for key in ids], ids, preds, preds_path, classified, options.bins)
    return {"mode": "single-label", **result, **where}


def evaluate_classification_files(truth_path: str | Path | None, preds_path: str | Path,
                                  options: ClassifyOptions = ClassifyOptions()) -> dict[str, Any]:
    """Scores of the predicted ids against the truth (see FORMAT_HELP), "mode" saying which kind.

    With no truth file, `preds_path` must be a `fabsight classify --json`
    document, and the labels its maps carry are the truth. Where a true
    label names several patterns ("Edge-Ring+Scratch") every item is scored
    by its set of patterns (`presence_scores`), else by one label each
    (`classification_scores`).
    """
    preds_path = Path(preds_path)
    preds, document = read_predictions(preds_path)
    truth, truth_path = _true_labels(None if truth_path is None else Path(truth_path), preds_path, document)
    return _evaluate(preds, truth, document is not None, preds_path, truth_path, options)


def evaluate_classify_result(result: dict[str, Any], truth_path: str | Path | None = None,
                             options: ClassifyOptions = ClassifyOptions()) -> dict[str, Any]:
    """`evaluate_classification_files` for a `classify_files` result held in memory."""
    preds = prediction_records(result, None)  # first: it checks the results that carried_truth reads
    truth_file = None if truth_path is None else Path(truth_path)
    truth = carried_truth(result, None) if truth_file is None else read_labels(truth_file, "truth")
    return _evaluate(preds, truth, True, None, truth_file, options)
