"""Classify every wafer in files or folders: zero-shot prompts over any labels, or a fitted probe.

Preprocess (read, batch), forward (image vectors), postprocess (`zero_shot.decide`).
Label text vectors are computed once per call, before any image is read,
so the text encoder never runs per image and bad labels fail fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, InputError
from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.models.dual_encoder import DualEncoder, ModelOptions, load_dual_encoder
from fabsight.models.probes import load_probe, warn_if_tuned
from fabsight.models.wafer_pixels import check_views
from fabsight.options import option
from fabsight.tasks.embed import BatchOptions, embedded_batches
from fabsight.tasks.zero_shot import ZeroShotOptions, decide, default_views, encode_labels, label_probabilities
from fabsight.wafer.readers import LoadOptions

Scorer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # (N, dim) -> (N, L) scores, (N, L) presence


@dataclass(frozen=True, kw_only=True)
class ClassifyOptions(ModelOptions, ZeroShotOptions, BatchOptions):
    labels: list[str] | None = option("labels to choose from (default: the nine WM-811K classes); give the PATHs "
                                      "first, or end the labels with --", None, metavar="LABEL")
    labels_file: str | None = option("read the labels from this text file instead, one per line (blank lines and "
                                     "lines starting with # are skipped)", None, metavar="FILE")
    probe: str | None = option("use this probe (from `fabsight train probe`) instead of zero-shot prompts",
                               None, metavar="NAME")
    views: int | None = option("average each wafer's vector over N of its 8 turned and mirrored views (1 to 8; "
                               "N times the compute): default 8 when every label is a pattern class or its "
                               "synonym, 1 for labels of your own (they may name a side); a probe's own (what "
                               "it was fitted with)",
                               None, metavar="N")

    def __post_init__(self) -> None:
        getattr(super(), "__post_init__", lambda: None)()
        if self.views is not None:
            check_views(self.views)  # before any file is read
        if self.labels_file is not None:
            if self.labels is not None:
                raise InputError("--labels and --labels-file do not go together: give the labels one way")
            object.__setattr__(self, "labels", read_labels_file(self.labels_file))  # frozen: set once, here


def read_labels_file(path: str | Path) -> list[str]:
    """The labels in a text file, one per line; blank lines and `#` comments are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # -sig: a byte-order mark from Windows editors is no label
    except FileNotFoundError:
        raise InputError("no such labels file", path) from None
    except IsADirectoryError:
        raise InputError("the labels file is a folder, not a text file", path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"the labels file is not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    except OSError as exc:  # no permission, a broken disk: named, not a traceback
        raise InputError(f"cannot read the labels file ({exc.strerror or exc})", path) from None
    labels = [line.strip() for line in text.splitlines()]
    labels = [label for label in labels if label and not label.startswith("#")]
    if not labels:
        raise InputError("the labels file holds no labels (one per line; blank lines and # comments are skipped)",
                         path)
    return labels


def scorer(encoder: DualEncoder, options: ClassifyOptions) -> tuple[tuple[str, ...], Scorer, str, int]:
    """The labels, a function from image vectors to scores, the method's name, and the views it expects."""
    if options.probe is not None:
        if options.labels is not None:
            raise FabsightError("--labels and --probe do not go together: a probe answers with the labels it was "
                                "fitted on")
        probe = load_probe(encoder, options.probe)

        def by_probe(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = probe.probabilities(vectors)
            return p, p  # one softmax: a label is "present" when its own share passes the threshold
        return probe.labels, by_probe, "probe", probe.views
    warn_if_tuned(encoder, "zero-shot scores are neither calibrated nor measured; classify with --probe NAME")
    label_set = encode_labels(encoder, PATTERN_NAMES if options.labels is None else options.labels)
    return (label_set.labels, lambda vectors: label_probabilities(encoder, vectors, label_set), "zero-shot",
            default_views(label_set.labels))


def classify_files(paths: Sequence[str | Path], options: ClassifyOptions = ClassifyOptions(),
                   load: LoadOptions | None = None, encoder: DualEncoder | None = None) -> dict[str, Any]:
    """One result per wafer: {"model", "method", "probe", "labels", "views", "results", "errors"} (JSON-ready)."""
    encoder = encoder or load_dual_encoder(options.model, options.runtime)
    labels, score, method, views = scorer(encoder, options)
    views = options.views or views
    results: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for batch in embedded_batches(encoder, paths, load or LoadOptions(), options.batch_size, errors, views):
        probabilities, present = score(batch.vectors)  # (B, L) each
        results.extend({**row, **answer} for row, answer in zip(batch.rows, decide(labels, probabilities, present,
                                                                                   options)))
    return {"model": options.model, "method": method, "probe": options.probe, "labels": list(labels),
            "views": views, "results": results, "errors": errors}
