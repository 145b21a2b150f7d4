"""Measure a trained dual encoder and write its model card (README.md beside the weights)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fabsight.evaluate.harness import machine_description
from fabsight.knowledge.patterns import DEFECT_NAMES
from fabsight.models.dual_encoder import DualEncoder
from fabsight.models.wafer_pixels import PIXEL_ENCODINGS
from fabsight.tasks.zero_shot import CLASS_VIEWS
from fabsight.train.clip_eval import defect_only_scores, mixture_scores, single_label_scores
from fabsight.train.wafer_data import WaferSet


ARCHITECTURES = {"clip": ("CLIP-style", "CLIPModel"), "siglip": ("SigLIP-style", "SiglipModel")}
TRAINING_LIBRARIES = ("torch", "transformers", "tokenizers", "numpy")  # what a bit-for-bit rebuild must match


def library_versions() -> str:
    """'torch 2.13.0+cpu, transformers 5.25.0, ...': the versions a rebuild must have to give the same files."""
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in TRAINING_LIBRARIES)


def measure(encoder: DualEncoder, single: WaferSet, mixed: WaferSet, real: list | None) -> dict[str, Any]:
    """All the card's numbers: held-out synthetic singles and mixtures, and real maps when given."""
    metrics: dict[str, Any] = {
        "synthetic_single": single_label_scores(encoder, single.grids, single.labels),
        "synthetic_mixed": mixture_scores(encoder, mixed.grids, mixed.label_sets),
    }
    if real:
        truth = [w.extra["label"] for w in real]
        metrics["real_nine_classes"] = single_label_scores(encoder, real, truth)
        metrics["real_eight_defects"] = defect_only_scores(encoder, real, truth)
    return metrics


def _row(name: str, data: str, scores: dict[str, Any], key: str = "accuracy") -> str:
    ece = scores.get("ece")
    return (f"| {name} | {data} | {scores['items']} | {scores[key]:.4f} | {scores['macro_f1']:.4f} | "
            f"{'-' if ece is None else f'{ece:.4f}'} |")


def _recalls(scores: dict[str, Any]) -> str:
    return ", ".join(f"{c['label']} {c['recall']:.2f}" for c in scores["per_class"])


def _real_commands(real: str) -> str:
    """How a user gets the real rows from the commands (`fabsight evaluate classify` reads the maps' own labels)."""
    return (f"The real rows from the commands a user runs: `fabsight classify {real} --min-confidence 0 --json > "
            "real9.json`, then `fabsight evaluate classify --preds real9.json`; for the 8 defects, classify with "
            f"`--labels {' '.join(DEFECT_NAMES)}` and evaluate with `--leave-out none`.")


def _step_times(record: dict[str, Any]) -> str:
    """'; median step ...' from the training record (the machine's speed varies: this says how fast it ran)."""
    medians = record.get("median_step_seconds") or {}
    parts = [f"{seconds:.2f} s with {kind}" for kind, seconds in medians.items()]
    processes = record.get("options", {}).get("processes", 1)
    return f"; median step {', '.join(parts)} in {processes} process(es)" if parts else ""


def write_card(folder: str | Path, metrics: dict[str, Any], record: dict[str, Any], command: str) -> Path:
    family = record.get("options", {}).get("family", "clip")
    lines = [
        "# wafer-clip", "",
        f"A {ARCHITECTURES[family][0]} image-text model for wafer maps (`transformers` `{ARCHITECTURES[family][1]}`, "
        "own byte-pair tokenizer), trained from scratch on fabsight's synthetic maps and descriptions only. It "
        "never saw a real wafer in training.", "",
        f"Rebuild: `{command}` (fixed seeds; {record.get('train_seconds', '?')} s of training on "
        f"{machine_description()}{_step_times(record)}; {library_versions()}). With the same library versions on the "
        "same kind of CPU the command gives these files again bit for bit; other CPUs or versions may round "
        "differently.", "",
        f"Written {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. Options: `{json.dumps(record.get('options', {}))}`", "",
        "## Zero-shot quality", "",
        "| set | data | maps | accuracy (exact match for mixtures) | macro-F1 | ECE |", "|---|---|---:|---:|---:|---:|",
        _row("synthetic, single pattern (9 classes)", "held-out seeds", metrics["synthetic_single"]),
        _row("synthetic, mixtures (8 patterns, multi-label)", "held-out seeds", metrics["synthetic_mixed"],
             "exact_match"),
    ]
    if "real_nine_classes" in metrics:
        lines += [
            _row("real WM-811K, 9 classes", "shared wm811k-real public split", metrics["real_nine_classes"]),
            _row("real WM-811K, 8 defect classes", "same, `none` maps left out", metrics["real_eight_defects"]),
            "", f"Per-class recall on real maps (9 classes): {_recalls(metrics['real_nine_classes'])}.",
            "", f"Per-class recall on real maps (8 defects): {_recalls(metrics['real_eight_defects'])}.",
            "", _real_commands(record.get("options", {}).get("real", "REAL.npz")),
        ]
    lines += ["", f"Pixels: {PIXEL_ENCODINGS[record.get('options', {}).get('pixels', 'rgb')]} (`wafer_pixels.json`).",
              "", f"Image vectors: the mean of {CLASS_VIEWS} turned and mirrored views of each map, as `fabsight "
              "classify` uses for the pattern classes. Confidences: softmax over the labels with a temperature fitted "
              "on separate held-out synthetic maps (`calibration.json`); ECE with 15 equal-width bins.", ""]
    path = Path(folder) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    (Path(folder) / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return path
