"""A `fabsight classify --json` document read as predictions, and the labels its maps carry read as truth.

So that `fabsight classify maps.npz --json > out.json` followed by
`fabsight evaluate classify --preds out.json` scores the model on labelled
maps (WM-811K arrays, generated maps) with no file written by hand: each
result's `id` is the wafer's key, its `pattern` the prediction, and its
`label` (when the data carries one) the truth.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from fabsight.errors import FabsightWarning, InputError
from fabsight.evaluate.io import preview


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
                         f"(a generated map's .npz and .png): classify one copy of each: {preview(repeated)}", path)
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
