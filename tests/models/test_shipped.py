"""The shipped wafer-clip: installed with the package, loadable offline, and far better than chance."""

import json
from pathlib import Path

import numpy as np
import pytest

from fabsight.cli.app import main
from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.models.registry import shipped
from fabsight.tasks.zero_shot import ZeroShotOptions, classify_wafers
from fabsight.wafer.synth import generate

UNSEEN_SEED = 7_777_777  # no training, calibration or benchmark run draws from it
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "wm811k-real" / "public.npz"


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


def test_classify_then_evaluate_on_the_real_maps_gives_the_numbers_on_the_model_card(tmp_path, capsys):
    if not REAL.exists():
        pytest.skip(f"shared WM-811K data not found at {REAL}")
    card = json.loads((shipped("wafer-clip").folder / "metrics.json").read_text())["real_nine_classes"]
    out = tmp_path / "real.json"
    assert main(["classify", str(REAL), "--min-confidence", "0", "--json"]) == 0
    out.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["evaluate", "classify", "--preds", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["items"] == card["items"] and result["labels"] == card["labels"]
    # the card is measured by the same code; a map or two may flip where the runtime (torch or ONNX) differs
    assert abs(result["accuracy"] - card["accuracy"]) <= 2 / card["items"]
    assert np.abs(np.array(result["confusion"]) - np.array(card["confusion"])).sum() <= 4
