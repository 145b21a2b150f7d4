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
zero-shot row is wafer-clip on the same maps in the same run, and the
fine-tuned row wafer-clip's own image tower trained on the same folds'
labels (with a linear head started from its zero-shot classifier): how far
the shipped model carries once it may learn the labellers' boundaries.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import DEFECT_NAMES, PATTERN_NAMES
from fabsight.train.clip_train import ClipTrainOptions
from probe_adaptation import REAL, real_maps
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


def fine_tuned(model: str, wafers, y: np.ndarray, fold: np.ndarray, args) -> np.ndarray:
    """(N, 9) 8-view probabilities, each map's from wafer-clip's image tower fine-tuned without its fold.

    The head starts as the zero-shot classifier over `PATTERN_NAMES` (the label
    vectors scaled as the calibrated softmax scales them, as `train probe`
    starts); tower and head train together (AdamW, cosine decay, the head at
    ten times the tower's rate), one random turned or mirrored view per map
    per step. Written here, not in the package: a measurement, nothing ships.
    """
    import torch

    from fabsight.models.dual_encoder import load_dual_encoder
    from fabsight.models.loading import projected
    from fabsight.tasks.zero_shot import CLASS_VIEWS, encode_labels, softmax_weights

    encoder = load_dual_encoder(model, "torch")
    views = torch.from_numpy(np.ascontiguousarray(encoder.wafer_pixels(wafers, CLASS_VIEWS)))  # (8N, 3, S, S)
    start_head = torch.from_numpy(softmax_weights(encoder, encode_labels(encoder, PATTERN_NAMES)).astype(np.float32))
    start_tower = {k: v.clone() for k, v in encoder.model.vision_model.state_dict().items()}
    n, labels = len(wafers), torch.as_tensor(y)
    p = np.zeros((n, len(PATTERN_NAMES)))

    def features(x):
        return torch.nn.functional.normalize(projected(encoder.model.get_image_features(pixel_values=x)), dim=-1)

    for k in range(args.folds):
        torch.manual_seed(args.seed + k)
        rng = np.random.default_rng(args.seed + k)
        encoder.model.vision_model.load_state_dict(start_tower)
        head = torch.nn.Parameter(start_head.clone())
        rates = (args.tune_learning_rate, 10 * args.tune_learning_rate)
        optimiser = torch.optim.AdamW([{"params": list(encoder.model.vision_model.parameters()), "lr": rates[0]},
                                       {"params": [head], "lr": rates[1]}], weight_decay=0.01)
        train_rows, test_rows = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        encoder.model.train()
        for step in range(args.tune_steps):
            rows = rng.choice(train_rows, args.batch_size)
            picked = torch.from_numpy(rng.integers(CLASS_VIEWS, size=args.batch_size) * n + rows)
            loss = torch.nn.functional.cross_entropy(features(views[picked]) @ head.T, labels[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            for group, rate in zip(optimiser.param_groups, rates):
                group["lr"] = rate * 0.5 * (1 + np.cos(np.pi * (step + 1) / args.tune_steps))
        encoder.model.eval()
        with torch.inference_mode():
            picked = torch.from_numpy(np.concatenate([v * n + test_rows for v in range(CLASS_VIEWS)]))
            mean = features(views[picked]).reshape(CLASS_VIEWS, len(test_rows), -1).mean(0)
            p[test_rows] = torch.softmax(torch.nn.functional.normalize(mean, dim=-1) @ head.T, -1).numpy()
        print(f"fine-tuned fold {k + 1} of {args.folds} done", file=sys.stderr, flush=True)
    return p


def zero_shot(model: str, wafers) -> np.ndarray:
    """(N, 9) wafer-clip's calibrated zero-shot scores over `PATTERN_NAMES`, 8 views, as `classify` gives them."""
    from fabsight.models.dual_encoder import load_dual_encoder
    from fabsight.tasks.zero_shot import CLASS_VIEWS, encode_labels, label_probabilities

    encoder = load_dual_encoder(model)
    return label_probabilities(encoder, encoder.embed_wafers(wafers, 256, CLASS_VIEWS),
                               encode_labels(encoder, PATTERN_NAMES))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", default=REAL, help="labelled real maps (.npz with lot_name, as wm811k-real)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1500, help="optimiser steps per fold")
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
    supervised = cross_validated(x, y, fold, args)
    minutes = (time.monotonic() - started) / 60
    started = time.monotonic()
    tuned = fine_tuned(args.model, wafers, y.numpy(), fold, args) if args.tune_steps else None
    tune_minutes = (time.monotonic() - started) / 60
    defects = [i for i, label in enumerate(truth) if label in DEFECT_NAMES]

    table = BenchmarkTable("Supervised CNN on real maps, lot-grouped folds (reference for the real-map goal)",
                           ["model", "set", "maps", "accuracy", "macro-F1"])
    rows = []
    methods = [(f"CNN trained on real maps ({args.folds} folds)", supervised),
               (f"{args.model}, zero-shot", zero_shot(args.model, wafers))]
    if tuned is not None:
        methods.append((f"{args.model} fine-tuned on real maps ({args.folds} folds)", tuned))
    for name, p in methods:
        for values, scores in (row("real WM-811K, 9 classes", truth, p, PATTERN_NAMES),
                               row("real WM-811K, 8 defect classes", [truth[i] for i in defects], p[defects],
                                   DEFECT_NAMES)):
            table.add_row({"model": name, **values})
            rows.append((name, values["set"], scores))
    for name, subset, scores in rows:
        recall = ", ".join(f"{c['label']} {c['recall']:.2f}" for c in scores["per_class"])
        table.note(f"Recall per class, {name}, {subset}: {recall}.")
    sizes = ", ".join(str(int((fold == k).sum())) for k in range(args.folds))
    table.note(f"Folds by lot (maps without a lot name are their own lot): {sizes} maps. Each fold's CNN: "
               f"{args.steps} steps of {args.batch_size}, width {args.width}, peak learning rate "
               f"{args.learning_rate:g}, one random turned or mirrored view per step, '{ClipTrainOptions.pixels}' "
               f"pixels; scored on the mean of 8 views. {minutes:.1f} minutes; {torch.get_num_threads()} thread(s).")
    if tuned is not None:
        table.note(f"Fine-tuned: {args.model}'s image tower and a head started from its zero-shot classifier, "
                   f"{args.tune_steps} steps of {args.batch_size} per fold, peak rate {args.tune_learning_rate:g} "
                   f"(head 10x), the same folds and views; {tune_minutes:.1f} minutes.")
    how = "zero-shot, fine-tuned" if tuned is not None else "zero-shot"
    table.report(model=f"supervised CNN (supervised_baseline.py) and {args.model} ({how})",
                 data=args.real, seed=args.seed, json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
