"""How far do the real labels carry? The supervised CNN trained on real WM-811K maps, by lot-grouped folds.

    python benchmarks/real_label_reference.py        # 5 folds; about 10 minutes on 2 cores (2026-12-07)

A measuring instrument for the 90% goal on real maps, nothing ships:
`supervised_baseline.py`'s CNN, pixels and 8-view averaging, trained on
real maps instead of synthetic ones. The maps are split into folds by lot
(maps without a lot name each count as their own lot), so no wafer is
judged by a model that saw its lot; each fold is judged by a CNN trained
on the others. If this model, which learns the labellers' own boundaries,
does no better than wafer-clip zero-shot, the labels (and the maps) are
the limit; if it does much better, the synthetic training is. The
zero-shot row is wafer-clip on the same maps in the same run, the probe
row `train probe`'s head fitted on the same folds' labels, and the
fine-tuned row `train probe --fine-tune`: wafer-clip's own image tower
trained with that head on the same folds' labels. How far the shipped
model carries once it may learn the labellers' boundaries.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from fabsight.evaluate.classification import DEFAULT_BINS, calibration
from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import DEFECT_NAMES, PATTERN_NAMES
from fabsight.train.clip_train import ClipTrainOptions
from fabsight.train.probe_fit import log_softmax
from probe_adaptation import REAL, Tuning, real_maps
from supervised_baseline import pixels, probabilities, row, train


def lot_folds(lots: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(N,) fold per map: whole lots dealt round-robin over the folds in a random order."""
    order = np.random.default_rng(seed).permutation(np.unique(lots))
    fold_of = {lot: i % folds for i, lot in enumerate(order)}
    return np.array([fold_of[lot] for lot in lots])


def cross_validated(x, y, fold: np.ndarray, args) -> np.ndarray:
    """(N, classes) 8-view probabilities, each map's from the CNN trained without its fold."""
    p = np.zeros((len(y), len(PATTERN_NAMES)))
    for k in range(args.folds):
        train_rows, test_rows = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        net = train(x[train_rows], y[train_rows], args.steps, args.batch_size, args.width, args.seed + k, "cnn",
                    args.learning_rate)
        p[test_rows] = probabilities(net, x[test_rows])
        print(f"fold {k + 1} of {args.folds} done", file=sys.stderr, flush=True)
    return p


def fine_tuned(model: str, wafers, y: np.ndarray, fold: np.ndarray, probes: list, args) -> np.ndarray:
    """(N, 9) 8-view probabilities, each map's from wafer-clip fine-tuned without its fold, as `fabsight train
    probe --fine-tune` does it (its functions): from the fold's probe (`probes[k]`, fitted on frozen vectors), the
    image tower and that head trained together."""
    from fabsight.models.dual_encoder import load_dual_encoder
    from fabsight.train.fine_tune import FineTuneOptions

    options = FineTuneOptions(tune_steps=args.tune_steps, tune_batch=args.batch_size,
                              tune_learning_rate=args.tune_learning_rate)
    tuning = Tuning(load_dual_encoder(model, "torch"), wafers, options)
    p = np.zeros((len(wafers), len(PATTERN_NAMES)))
    for k in range(args.folds):
        train_rows, test_rows = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        p[test_rows] = np.exp(log_softmax(tuning.test_logits(probes[k], y, train_rows, test_rows, args.seed + k)))
        print(f"fine-tuned fold {k + 1} of {args.folds} done", file=sys.stderr, flush=True)
    return p


def zero_shot_and_probe(model: str, wafers, y: np.ndarray, fold: np.ndarray, folds: int
                        ) -> tuple[np.ndarray, np.ndarray, list]:
    """(N, 9) wafer-clip's calibrated zero-shot scores over `PATTERN_NAMES`, 8 views, as `classify` gives them,
    each map's scores from the probe `train probe` fits (its functions, its defaults) without its fold, and the
    probe of each fold."""
    from fabsight.models.dual_encoder import load_dual_encoder
    from fabsight.tasks.zero_shot import CLASS_VIEWS, encode_labels, label_probabilities
    from fabsight.train.probe import fit_probe_head, zero_shot_head

    encoder = load_dual_encoder(model)
    vectors = encoder.embed_wafers(wafers, 256, CLASS_VIEWS)
    zero = label_probabilities(encoder, vectors, encode_labels(encoder, PATTERN_NAMES))[0]
    prior, probed, probes = zero_shot_head(encoder, list(PATTERN_NAMES)), np.zeros_like(zero), []
    for k in range(folds):
        train_rows, test_rows = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        probes.append(fit_probe_head(vectors[train_rows], y[train_rows], len(PATTERN_NAMES), prior, None)[0])
        probed[test_rows] = np.exp(log_softmax(probes[k].logits(vectors[test_rows])))
    return zero, probed, probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", default=REAL, help="labelled real maps (.npz with lot_name, as wm811k-real)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1500, help="CNN optimiser steps per fold (0: no CNN row)")
    parser.add_argument("--batch-size", type=int, default=64, help="maps per step")
    parser.add_argument("--width", type=int, default=16, help="CNN channels of the first block (then 2x, 4x)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--model", default="wafer-clip", help="the zero-shot model compared on the same maps")
    parser.add_argument("--tune-steps", type=int, default=300, help="fine-tuning steps per fold (0: no such row)")
    parser.add_argument("--tune-learning-rate", type=float, default=3e-4, help="the image tower's peak rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and of each fold's training")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    started = time.monotonic()
    wafers, _, _, lots = real_maps(args.real, defects_only=False)
    truth = [w.extra["label"] for w in wafers]
    x = pixels(wafers, ClipTrainOptions.pixels)
    y = torch.tensor([PATTERN_NAMES.index(label) for label in truth])
    fold = lot_folds(lots, args.folds, args.seed)
    supervised = cross_validated(x, y, fold, args) if args.steps else None
    minutes = (time.monotonic() - started) / 60
    zero, probed, probes = zero_shot_and_probe(args.model, wafers, y.numpy(), fold, args.folds)
    started = time.monotonic()
    tuned = fine_tuned(args.model, wafers, y.numpy(), fold, probes, args) if args.tune_steps else None
    tune_minutes = (time.monotonic() - started) / 60
    defects = [i for i, label in enumerate(truth) if label in DEFECT_NAMES]

    table = BenchmarkTable("Trained on real maps by lot-grouped folds, against zero-shot (reference for the real-map "
                           "goal)",
                           ["model", "set", "maps", "accuracy", "macro-F1"])
    rows = []
    methods = [(f"{args.model}, zero-shot", zero), (f"{args.model} + probe fitted on real maps ({args.folds} folds)",
                                                     probed)]
    if supervised is not None:
        methods.insert(0, (f"CNN trained on real maps ({args.folds} folds)", supervised))
    if tuned is not None:
        methods.append((f"{args.model} fine-tuned on real maps ({args.folds} folds)", tuned))
    for name, p in methods:
        for values, scores in (row("real WM-811K, 9 classes", truth, p, PATTERN_NAMES),
                               row("real WM-811K, 8 defect classes", [truth[i] for i in defects], p[defects],
                                   DEFECT_NAMES)):
            table.add_row({"model": name, **values})
            rows.append((name, values["set"], scores))
    truth_index = np.array([PATTERN_NAMES.index(label) for label in truth])
    eces = ", ".join(f"{name} {calibration(p.argmax(1) == truth_index, p.max(1))['ece']:.3f}" for name, p in methods)
    table.note(f"Expected calibration error over the 9 classes (the top score's confidence, {DEFAULT_BINS} "
               f"equal-width bins): {eces}.")
    for name, subset, scores in rows:
        recall = ", ".join(f"{c['label']} {c['recall']:.2f}" for c in scores["per_class"])
        table.note(f"Recall per class, {name}, {subset}: {recall}.")
    sizes = ", ".join(str(int((fold == k).sum())) for k in range(args.folds))
    table.note(f"Folds by lot (maps without a lot name are their own lot): {sizes} maps; "
               f"{torch.get_num_threads()} thread(s).")
    if supervised is not None:
        table.note(f"Each fold's CNN: {args.steps} steps of {args.batch_size}, width {args.width}, peak learning rate "
                   f"{args.learning_rate:g}, one random turned or mirrored view per step, "
                   f"'{ClipTrainOptions.pixels}' pixels; scored on the mean of 8 views. {minutes:.1f} minutes.")
    table.note("Probe: the head `fabsight train probe` fits (mean of 8 views, started from and pulled toward the "
               "zero-shot classifier, the pull chosen by cross-validation within the training folds).")
    if tuned is not None:
        table.note(f"Fine-tuned: as `fabsight train probe --fine-tune` does it, {args.model}'s image tower and the "
                   f"probe's head trained together from the probe above, {args.tune_steps} steps of "
                   f"{args.batch_size} per fold, peak rate {args.tune_learning_rate:g} (head 10x), the same folds; "
                   f"{tune_minutes:.1f} minutes.")
    how = "zero-shot, probe, fine-tuned" if tuned is not None else "zero-shot, probe"
    cnn = "supervised CNN (supervised_baseline.py) and " if supervised is not None else ""
    table.report(model=f"{cnn}{args.model} ({how})",
                 data=args.real, seed=args.seed, json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
