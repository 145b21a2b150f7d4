"""`fabsight train probe`: adapt a model to a fab's own labelled maps with a small head on frozen vectors.

Where each map's label comes from (`--labels-from`):

- `label`: the map's own label, `WaferMap.extra["label"]` (WM-811K style
  arrays and pickles, e.g. `wm811k-real/public.npz`);
- `truth`: the synthetic ground truth, `extra["truth"]["label"]` (maps from
  `fabsight generate`; mixtures are their own class, "Edge-Ring+Scratch");
- `csv`: a CSV file (`--labels-csv`) with a header and columns `id` and
  `label`, the id as `classify --json` and a search index give it (the
  same file serves `fabsight evaluate classify --truth`, and as there an
  id given twice is an error); or columns
  `source`, `wafer_id` (may be blank or left out) and `label`, where
  `source` is the file as fabsight reports it (e.g. in `classify --json`),
  or a path relative to the CSV's folder, or a bare file name, and a blank
  `wafer_id` labels every wafer in that file (a file and wafer id given
  twice is an error).

With `--fine-tune DIR` the model's image tower is then trained with the
head on the same maps (`fabsight.train.fine_tune`), and the tuned model is
written to DIR with the probe inside: `classify --model DIR --probe NAME`.
Its held-out accuracy is measured the same way and set beside the frozen
probe's; a warning says when fine-tuning did worse.

Maps without a label are left out with one warning. The head is fitted on
all labelled maps; its held-out accuracy is that of the same recipe fitted
without a stratified `--held-out` share, measured on that share.

The recipe (`benchmarks/probe_adaptation.py` measured it on real WM-811K
maps): each map's vector is the mean of its 8 turned and mirrored views,
as zero-shot classification of pattern classes does (`--views 1` for
classes that depend on where on the wafer a pattern sits); the head starts
from the model's zero-shot classifier over the same labels and is pulled
toward it (`--prior`), so a handful of labelled maps cannot make it much
worse than zero-shot; how hard it is pulled (`--l2`) is chosen by
cross-validation on the labelled maps unless given.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, FabsightWarning, InputError
from fabsight.evaluate.io import csv_table, read_text, records_by_id
from fabsight.models.dual_encoder import ModelOptions, load_dual_encoder
from fabsight.models.probes import INFO_FILE, MODEL_PROBES, model_fingerprint, probe_folder, save_probe
from fabsight.models.wafer_pixels import check_views
from fabsight.options import option
from fabsight.tasks.embed import BatchOptions, embedded_batches
from fabsight.tasks.zero_shot import CLASS_VIEWS, encode_labels, softmax_weights
from fabsight.train.fine_tune import (FineTuneOptions, check_destination, fine_tune, restore_tower, save_tuned_model,
                                     tower_state)
from fabsight.train.probe_fit import L2_GRID, Head, accuracy, choose_l2, fit_head, stratified_split
from fabsight.wafer.map import WaferMap
from fabsight.wafer.readers import LoadOptions

LABEL_SOURCES = ("label", "truth", "csv")
PRIORS = ("zero-shot", "none")
Labeler = Callable[[dict[str, Any], WaferMap], str | None]


@dataclass(frozen=True, kw_only=True)
class ProbeTrainOptions(ModelOptions, BatchOptions, LoadOptions, FineTuneOptions):
    data: list[str] = option("labelled wafer-map files or folders", metavar="PATH")
    out: str = option("name of the probe; it is saved next to the model (see `fabsight classify --probe`)",
                      metavar="NAME")
    labels_from: str = option("where each map's label comes from: its own label (WM-811K arrays), its "
                              "synthetic truth, or a CSV (--labels-csv)", "label", choices=LABEL_SOURCES)
    labels_csv: str | None = option("CSV with columns id, label or source, wafer_id, label (with --labels-from csv)",
                                    None, metavar="FILE")
    held_out: float = option("share of each class held out to measure accuracy", 0.2)
    views: int = option("average each map's vector over N of its 8 turned and mirrored views, when fitting and "
                        "when classifying with the probe (1: your classes depend on where a pattern sits)",
                        CLASS_VIEWS, metavar="N")
    prior: str = option("what the head starts from and is pulled toward: the model's zero-shot classifier over "
                        "the same labels, or nothing (labels the model's text cannot read)", "zero-shot",
                        choices=PRIORS)
    l2: float | None = option("how hard the head is pulled toward the prior (larger: nearer it, less fitted); "
                              f"default: chosen by 5-fold cross-validation among {', '.join(map(str, L2_GRID))}",
                              None)
    seed: int = option("seed of the held-out split, the cross-validation folds and fine-tuning's batches", 0)
    overwrite: bool = option("replace an existing probe of the same name (with --fine-tune: a tuned model in DIR)",
                             False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.held_out < 1.0:
            raise FabsightError(f"held-out must be at least 0 and below 1, not {self.held_out}")
        check_views(self.views)
        if self.l2 is not None and self.l2 < 0:
            raise FabsightError(f"l2 must be 0 or more, not {self.l2}")
        if (self.labels_from == "csv") != (self.labels_csv is not None):
            raise FabsightError("--labels-from csv and --labels-csv FILE go together")
        if self.fine_tune and self.runtime == "onnx":
            raise FabsightError("--fine-tune trains the model in torch; --runtime onnx does not go with it")


def _clean(value: Any) -> str | None:
    """A label as text; empty values (WM-811K's [] for unlabelled maps) are None."""
    if isinstance(value, (list, tuple, np.ndarray)):
        flat = np.asarray(value, dtype=object).ravel()
        value = flat[0] if flat.size == 1 else None
    text = "" if value is None else str(value).strip()
    return text or None


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header (lower case) and the rows (keys lower case, a missing cell "") of a labels CSV."""
    header, rows = csv_table(read_text(path), path)
    return [name.lower() for name in header], [{k.lower(): v or "" for k, v in row.items()} for row in rows]


def _labels_by_id(rows: list[dict[str, str]], path: Path) -> Labeler:
    """Labels by wafer id; an id given twice is an error, as `evaluate classify --truth` makes it."""
    for line, row in enumerate(rows, 2):
        if not row["id"] or _clean(row["label"]) is None:
            raise InputError(f"line {line}: id and label must not be blank", path)
    table = {key: _clean(row["label"]) for key, row in records_by_id(rows, path, "label").items()}
    return lambda identity, wafer: table.get(identity["id"])


def csv_labeler(path: str | Path) -> Labeler:
    """Labels from a CSV `id,label` or `source,wafer_id,label` (see the module docstring for how rows match maps)."""
    path = Path(path)
    header, rows = _read_csv(path)
    if {"id", "label"} <= set(header):
        return _labels_by_id(rows, path)
    if not {"source", "label"} <= set(header):
        raise InputError(f"labels CSV needs a header with columns id, label (ids as `classify --json` gives them) "
                         f"or source, wafer_id, label; found {header}", path)
    table: dict[tuple[str, str], str] = {}
    first_line: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows, 2):
        source, label = row["source"], _clean(row["label"])
        if not source or label is None:
            raise InputError(f"line {line}: source and label must not be blank", path)
        wafer_id = row.get("wafer_id", "")
        if (source, wafer_id) in first_line:
            raise InputError(f"line {line}: {source} {wafer_id or '(every wafer)'} is labelled a second time (first "
                             f"on line {first_line[source, wafer_id]})", path)
        first_line[source, wafer_id] = line
        keys = {source} if Path(source).name == source else {source, str((path.parent / source).resolve())}
        for key in keys:
            table[(key, wafer_id)] = label

    def lookup(identity: dict[str, Any], wafer: WaferMap) -> str | None:
        file = Path(identity["source"])
        wafer_id = wafer.wafer_id or ""
        for key in (identity["source"], str(file.resolve()), file.name):
            label = table.get((key, wafer_id)) or table.get((key, ""))
            if label:
                return label
        return None
    return lookup


def labeler(options: ProbeTrainOptions) -> Labeler:
    if options.labels_from == "csv":
        return csv_labeler(options.labels_csv)  # type: ignore[arg-type]
    if options.labels_from == "truth":
        return lambda identity, wafer: _clean((wafer.extra.get("truth") or {}).get("label"))
    return lambda identity, wafer: _clean(wafer.extra.get("label"))


@dataclass
class LabelledMaps:
    vectors: np.ndarray  # (N, dim) image vectors of the labelled maps
    labels: list[str]
    unlabelled: int  # maps read that had no label
    wafers: list[WaferMap] | None  # the maps themselves, kept only when they are needed again (fine-tuning)


def _labelled_maps(encoder, options: ProbeTrainOptions, errors: list, keep_wafers: bool) -> LabelledMaps:
    label_of = labeler(options)
    chunks, labels, unlabelled, wafers = [], [], 0, []
    for batch in embedded_batches(encoder, options.data, options, options.batch_size, errors, options.views):
        found = [label_of(row, wafer) for row, wafer in zip(batch.rows, batch.wafers)]
        keep = [i for i, label in enumerate(found) if label is not None]
        unlabelled += len(found) - len(keep)
        chunks.append(batch.vectors[keep])
        labels.extend(found[i] for i in keep)
        if keep_wafers:
            wafers.extend(batch.wafers[i] for i in keep)
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), np.float32)
    return LabelledMaps(vectors, labels, unlabelled, wafers if keep_wafers else None)


def zero_shot_head(encoder, labels: list[str]) -> Head | None:
    """The model's zero-shot classifier over `labels` as a head: its calibrated softmax, as `classify` gives it.

    None where the labels cannot be prompts (two differing only in case).
    """
    try:
        label_set = encode_labels(encoder, labels)
    except FabsightError as exc:
        warnings.warn(f"no zero-shot prior for these labels ({exc}); the head starts from nothing",
                      FabsightWarning, stacklevel=3)
        return None
    return Head(softmax_weights(encoder, label_set).astype(np.float32), np.zeros(len(labels), np.float32))


def fit_probe_head(vectors: np.ndarray, y: np.ndarray, classes: int, prior: Head | None,
                   l2: float | None, seed: int = 0) -> tuple[Head, float]:
    """The head and the penalty it was fitted with (`l2`, or the cross-validated choice when None)."""
    chosen = choose_l2(vectors, y, classes, prior, seed=seed) if l2 is None else l2
    return fit_head(vectors, y, classes, chosen, prior=prior), chosen


def train_probe(options: ProbeTrainOptions) -> dict[str, Any]:
    """Embed the labelled maps, fit the head, save it next to the model (or fine-tune and save a tuned model
    with the probe inside, with --fine-tune); JSON-ready summary."""
    out = check_destination(options.fine_tune, options.overwrite) if options.fine_tune else None
    encoder = load_dual_encoder(options.model, "torch" if out else options.runtime)  # ONNX Runtime cannot train
    folder = probe_folder(encoder, options.out)
    if out is None and (folder / INFO_FILE).exists() and not options.overwrite:
        raise FabsightError(f"probe {options.out!r} already exists for model {options.model!r}; pass --overwrite "
                            "to replace it, or choose another name", folder)
    errors: list[dict[str, str]] = []
    maps = _labelled_maps(encoder, options, errors, keep_wafers=out is not None)
    if maps.unlabelled:
        warnings.warn(f"{maps.unlabelled} map(s) had no label (from {options.labels_from}) and were left out",
                      FabsightWarning, stacklevel=2)
    counts = Counter(maps.labels)
    if len(counts) < 2:
        found = f"only {', '.join(counts)}" if counts else "no labelled maps"
        raise FabsightError(f"a probe needs labelled maps of at least two classes; found {found} "
                            f"(labels from {options.labels_from})")
    classes = sorted(counts)
    vectors, y = maps.vectors, np.array([classes.index(label) for label in maps.labels])
    prior = zero_shot_head(encoder, classes) if options.prior == "zero-shot" else None
    train, held = stratified_split(y, options.held_out, options.seed)
    check, _ = fit_probe_head(vectors[train], y[train], len(classes), prior, options.l2, options.seed)
    head, l2 = fit_probe_head(vectors, y, len(classes), prior, options.l2, options.seed)
    info = {
        "name": options.out, "labels": classes, "model": options.model, "model_folder": str(encoder.folder.resolve()),
        "model_sha256": model_fingerprint(encoder.folder), "dim": encoder.dim,
        "head": "multinomial logistic regression on frozen, normalised image vectors",
        "views": options.views, "prior": options.prior if prior is not None else "none", "l2": l2,
        "l2_from": "given" if options.l2 is not None else "cross-validation",
        "train_maps": len(y), "train_accuracy": accuracy(head, vectors, y),
        "held_out_maps": len(held), "held_out_accuracy": accuracy(check, vectors[held], y[held]),
        "class_counts": dict(sorted(counts.items())), "labels_from": options.labels_from,
        "data": list(options.data), "held_out": options.held_out, "seed": options.seed,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if out is not None:
        info, folder = _fine_tuned(encoder, maps.wafers, y, (train, held), (check, head), info, options, out)
    else:
        save_probe(folder, head.weight, head.bias, info)
    return {**info, "folder": str(folder), "unlabelled": maps.unlabelled, "errors": errors}


def _fine_tuned(encoder, wafers: list[WaferMap], y: np.ndarray, split: tuple[np.ndarray, np.ndarray],
                probes: tuple[Head, Head], info: dict[str, Any], options: ProbeTrainOptions,
                out: Path) -> tuple[dict[str, Any], Path]:
    """Fine-tune from each probe (held-out check first, then on every map) and save the tuned model with its
    probe inside: the probe's record (comparing the held-out maps' accuracy with the frozen probe's) and folder."""
    (train, held), (check, head) = split, probes
    start = tower_state(encoder)
    tuned_check = None
    if len(held):
        tuned = fine_tune(encoder, [wafers[i] for i in train], y[train], check, options, options.views, options.seed)
        held_vectors = encoder.embed_wafers([wafers[i] for i in held], options.batch_size, options.views)
        tuned_check = accuracy(tuned, held_vectors, y[held])
        restore_tower(encoder, start)
    tuned = fine_tune(encoder, wafers, y, head, options, options.views, options.seed)
    tuned_vectors = encoder.embed_wafers(wafers, options.batch_size, options.views)
    frozen = {"model": options.model, "model_sha256": info["model_sha256"],
              "held_out_accuracy": info["held_out_accuracy"], "train_accuracy": info["train_accuracy"]}
    tuning = {"steps": options.tune_steps, "batch": options.tune_batch, "learning_rate": options.tune_learning_rate,
              "started_from": f"the probe fitted on the frozen model's vectors (l2 {info['l2']:g})"}
    record = {"base_model": options.model, "base_model_folder": info["model_folder"],
              "base_model_sha256": info["model_sha256"], "probe": options.out, **tuning,
              "data": info["data"], "labels_from": options.labels_from, "seed": options.seed,
              "created": info["created"]}
    info = {**info, "model": str(out), "model_folder": str(out.resolve()),
            "head": "multinomial logistic regression, trained with the image tower (fine-tuned)",
            "train_accuracy": accuracy(tuned, tuned_vectors, y), "held_out_accuracy": tuned_check,
            "fine_tune": tuning, "frozen_probe": frozen}
    if tuned_check is not None and tuned_check < frozen["held_out_accuracy"]:  # the same held-out maps
        warnings.warn(f"the fine-tuned model reads the held-out maps worse than the probe on the frozen model "
                      f"({tuned_check:.3f} against {frozen['held_out_accuracy']:.3f}); the probe without --fine-tune "
                      "is the better choice for these maps", FabsightWarning, stacklevel=3)

    def write_probe(folder: Path) -> None:
        save_probe(folder / MODEL_PROBES / options.out, tuned.weight, tuned.bias,
                   {**info, "model_sha256": model_fingerprint(folder)})
    save_tuned_model(encoder, out, record, write_probe)
    return info, out / MODEL_PROBES / options.out
