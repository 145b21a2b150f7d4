"""Zero-shot quality of a wafer image-text model: held-out synthetic maps and the real WM-811K maps.

    python benchmarks/wafer_clip_quality.py                      # the shipped wafer-clip
    python benchmarks/wafer_clip_quality.py --model PATH --confusion real-confusion.png

Synthetic maps come from seeds no training run draws from (`BENCHMARK_SEED`,
the same sets `fabsight train clip` measures for the model card). Real maps
are read and classified by `fabsight.tasks.classify.classify_files`, the code
behind `fabsight classify`, with the default nine labels (and the eight defect
labels for the defect-only row); the truth is each map's WM-811K label.
Accuracy scores the best label (as `--min-confidence 0` would); the "answered"
rows apply the CLI's default threshold, under which a wafer is "uncertain".
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fabsight.evaluate.classification import classification_scores, save_confusion_png
from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import DEFECT_NAMES, PATTERN_NAMES
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.tasks.classify import ClassifyOptions, classify_files
from fabsight.tasks.zero_shot import CLASS_VIEWS, UNCERTAIN
from fabsight.train.clip_eval import mixture_scores, single_label_scores
from fabsight.train.clip_train import BENCHMARK_SEED
from fabsight.train.wafer_data import draw_wafer_set

REAL = "../shared/data/wm811k-real/public.npz"
COLUMNS = ["set", "maps", "accuracy", "macro-F1", "ECE", "answered", "accuracy when answered"]


def real_rows(encoder, path: str, model: str, confusion: str | None, views: int | None
              ) -> tuple[list[dict], dict[str, dict]]:
    import fabsight

    truth = [w.extra["label"] for w in fabsight.load(path)]
    rows, per_class = [], {}
    for name, labels in (("real WM-811K, 9 classes", PATTERN_NAMES), ("real WM-811K, 8 defect classes", DEFECT_NAMES)):
        best = classify_files([path], ClassifyOptions(model=model, labels=list(labels), min_confidence=0.0,
                                                      views=views), encoder=encoder)["results"]
        default = classify_files([path], ClassifyOptions(model=model, labels=list(labels), views=views),
                                 encoder=encoder)["results"]
        keep = [i for i, t in enumerate(truth) if t in labels]
        scores = classification_scores([truth[i] for i in keep], [best[i]["pattern"] for i in keep],
                                       [best[i]["confidence"] for i in keep])
        answered = [i for i in keep if default[i]["pattern"] != UNCERTAIN]
        rows.append({"set": name, "maps": len(keep), "accuracy": scores["accuracy"], "macro-F1": scores["macro_f1"],
                     "ECE": scores.get("ece"), "answered": len(answered) / len(keep),
                     "accuracy when answered": sum(default[i]["pattern"] == truth[i] for i in answered)
                     / max(1, len(answered))})
        per_class[name] = scores
        if confusion and labels is DEFECT_NAMES:
            save_confusion_png(scores, confusion, title=f"{model} on real WM-811K maps (8 defect classes)")
    return rows, per_class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="wafer-clip")
    parser.add_argument("--single", type=int, default=1800, help="held-out single-pattern synthetic maps")
    parser.add_argument("--mixed", type=int, default=600, help="held-out mixed synthetic maps")
    parser.add_argument("--real", default=REAL, help="real labelled maps (.npz); '' to skip")
    parser.add_argument("--confusion", default=None, help="write the real 8-defect confusion matrix PNG here")
    parser.add_argument("--views", type=int, default=None,
                        help="symmetric views averaged per wafer (default: as fabsight classify, 8 for these labels)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    encoder = load_dual_encoder(args.model)
    table = BenchmarkTable("Zero-shot pattern classification", COLUMNS)
    single = draw_wafer_set(args.single, 0, BENCHMARK_SEED)
    mixed = draw_wafer_set(0, args.mixed, BENCHMARK_SEED)
    synthetic = single_label_scores(encoder, single.grids, single.labels, views=args.views)
    table.add_row({"set": "synthetic held-out, 9 classes", "maps": synthetic["items"],
                   "accuracy": synthetic["accuracy"], "macro-F1": synthetic["macro_f1"], "ECE": synthetic.get("ece")})
    mixtures = mixture_scores(encoder, mixed.grids, mixed.label_sets, views=args.views)
    table.add_row({"set": "synthetic held-out mixtures (exact match; macro-F1 per pattern)",
                   "maps": mixtures["items"], "accuracy": mixtures["exact_match"], "macro-F1": mixtures["macro_f1"]})
    per_class = {"synthetic held-out, 9 classes": synthetic}
    if args.real and Path(args.real).exists():
        rows, real_classes = real_rows(encoder, args.real, args.model, args.confusion, args.views)
        for row in rows:
            table.add_row(row)
        per_class.update(real_classes)
    for name, scores in per_class.items():
        table.note(f"Recall per class, {name}: " + ", ".join(f"{c['label']} {c['recall']:.2f}"
                                                              for c in scores["per_class"]) + ".")
    if args.confusion:
        table.note(f"Confusion matrix (real, 8 defect classes): {args.confusion}")
    table.note(f"Views averaged per wafer: {args.views or CLASS_VIEWS} (turned and mirrored copies; "
               "`fabsight classify --views`).")
    table.note("ECE: 15 equal-width bins over the top label's calibrated confidence. 'answered': share not "
               "'uncertain' at the CLI's default --min-confidence.")
    table.report(model=args.model, data=f"held-out synthetic (seed {BENCHMARK_SEED}); {args.real or 'no real maps'}",
                 seed=BENCHMARK_SEED, json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
