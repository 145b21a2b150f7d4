"""The shipped wafer-clip: installed with the package, loadable offline, and far better than chance."""

import json

import numpy as np

from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.models.registry import shipped
from fabsight.tasks.zero_shot import ZeroShotOptions, classify_wafers
from fabsight.wafer.synth import generate

UNSEEN_SEED = 7_777_777  # no training, calibration or benchmark run draws from it


def test_shipped_model_has_weights_calibration_and_card():
    folder = shipped("wafer-clip").folder
    for name in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json",
                 "calibration.json", "wafer_pixels.json", "README.md"):
        assert (folder / name).exists(), name
    assert sum(p.stat().st_size for p in folder.iterdir()) < 30 * 2**20
    assert json.loads((folder / "calibration.json").read_text())["labels"] == list(PATTERN_NAMES)


def test_shipped_model_classifies_unseen_synthetic_maps_well_above_chance():
    encoder = load_dual_encoder("wafer-clip")
    samples = [s for name in PATTERN_NAMES for s in generate(name, n=4, seed=UNSEEN_SEED)]
    results = classify_wafers(encoder, [s.wafer for s in samples], options=ZeroShotOptions(min_confidence=0.0))
    accuracy = np.mean([r["pattern"] == s.label for r, s in zip(results, samples)])
    assert accuracy > 3 / len(PATTERN_NAMES)  # three times chance: a broken or mismatched model falls far below
    for r in results:
        assert abs(sum(r["scores"].values()) - 1) < 1e-3 and 0 <= r["confidence"] <= 1
