import json
import math

import numpy as np
import pytest

from fabsight.errors import FabsightError
from fabsight.knowledge.patterns import PATTERN_NAMES
from fabsight.tasks.classify import ClassifyOptions, classify_files
from fabsight.tasks.zero_shot import TEMPLATES
from fabsight.wafer.npz import save_npz
from fabsight.wafer.synth import generate

pytestmark = pytest.mark.filterwarnings("ignore:.*cut to fit")  # the tiny model reads 16 tokens


@pytest.fixture
def wafer_files(tmp_path):
    def make(n):
        folder = tmp_path / f"w{n}"
        for i, sample in enumerate(generate("any", n=n, seed=11)):
            save_npz(sample.wafer, folder / f"{i:03d}.npz")
        return folder
    return make


def test_one_result_per_wafer_over_the_nine_classes_by_default(siglip, mixed_folder):
    result = classify_files([mixed_folder], ClassifyOptions(top_scores=0), encoder=siglip)
    assert result["labels"] == list(PATTERN_NAMES) and result["method"] == "zero-shot"
    assert len(result["results"]) >= 5 and len(result["errors"]) == 1
    for row in result["results"]:
        assert {"source", "wafer_id", "lot", "pattern", "confidence", "scores", "present"} <= set(row)
        assert set(row["scores"]) == set(PATTERN_NAMES)
        assert sum(row["scores"].values()) == pytest.approx(1.0, abs=1e-3)
        assert row["confidence"] == max(row["scores"].values())


def test_ten_thousand_labels_run_the_text_encoder_once_per_batch_of_prompts_not_per_image(
        siglip, wafer_files, monkeypatch):
    labels = [f"pattern number {i}" for i in range(10_000)]
    calls = []
    real = siglip.text_features

    def counting(tokens):
        calls.append(tokens["input_ids"].shape[0])
        return real(tokens)
    monkeypatch.setattr(siglip, "text_features", counting)
    result = classify_files([wafer_files(6)], ClassifyOptions(labels=labels, batch_size=1), encoder=siglip)
    prompts = len(labels) * len(TEMPLATES)
    assert len(calls) == math.ceil(prompts / 512) and sum(calls) == prompts  # batches of prompts, once in all
    assert len(result["results"]) == 6 and len(result["labels"]) == 10_000
    assert all(len(r["scores"]) == 10 for r in result["results"])  # top 10, not 10,000 numbers per wafer


@pytest.mark.parametrize("labels, message", [([], "empty"), (["ring", "Ring"], "duplicate"), (["ok", ""], "blank")])
def test_bad_label_lists_fail_before_any_file_is_read(siglip, labels, message, monkeypatch):
    from fabsight.tasks import embed

    monkeypatch.setattr(embed, "load_many", lambda *a, **k: pytest.fail("files read before labels were checked"))
    with pytest.raises(FabsightError, match=message):
        classify_files(["anything.npz"], ClassifyOptions(labels=labels), encoder=siglip)


def test_a_probe_and_labels_together_are_refused(siglip):
    with pytest.raises(FabsightError, match="--labels and --probe"):
        classify_files([], ClassifyOptions(labels=["a"], probe="p"), encoder=siglip)


def test_min_confidence_one_makes_every_answer_uncertain(siglip, mixed_folder):
    result = classify_files([mixed_folder], ClassifyOptions(min_confidence=1.0), encoder=siglip)
    assert {r["pattern"] for r in result["results"]} == {"uncertain"}
    assert np.all([r["confidence"] < 1.0 for r in result["results"]])


def test_views_default_to_eight_for_pattern_classes_and_one_for_labels_that_may_name_a_side(siglip, wafer_files,
                                                                                            monkeypatch):
    asked = []
    real = siglip.embed_wafers
    monkeypatch.setattr(siglip, "embed_wafers", lambda wafers, batch_size=256, views=1: asked.append(views)
                        or real(wafers, batch_size, views))
    folder = wafer_files(2)
    for labels, views, expected in ((None, None, 8), (["scratch", "edge ring", "no pattern"], None, 8),
                                    (["cluster at the left edge", "scratch"], None, 1), (None, 2, 2)):
        asked.clear()
        result = classify_files([folder], ClassifyOptions(labels=labels, views=views), encoder=siglip)
        assert result["views"] == expected and set(asked) == {expected}, (labels, views)


@pytest.mark.parametrize("views", [0, 9])
def test_views_outside_one_to_eight_are_refused(views):
    with pytest.raises(FabsightError, match="views must be 1 to 8"):
        ClassifyOptions(views=views)


def test_each_result_names_its_wafer_as_an_index_does_and_the_label_its_data_carries(siglip, wafer_files, tmp_path):
    import fabsight
    from fabsight.evaluate import evaluate_classification_files, evaluate_classify_result
    from fabsight.wafer.naming import wafer_key, where_from

    folder = wafer_files(6)
    result = classify_files([folder], ClassifyOptions(), encoder=siglip)
    files = sorted(folder.iterdir())
    assert [row["source"] for row in result["results"]] == [str(f) for f in files]
    for row, file in zip(result["results"], files):
        (wafer,) = fabsight.load(file)
        assert row["id"] == wafer_key(wafer, where_from(file), 0) and row["label"] == wafer.extra["truth"]["label"]
    # the result scores as it stands, in memory or as JSON: the truth is the label each map carries
    (tmp_path / "out.json").write_text(json.dumps(result), encoding="utf-8")
    from_file, in_memory = evaluate_classification_files(None, tmp_path / "out.json"), evaluate_classify_result(result)
    right = [row["pattern"] == row["label"] for row in result["results"]]
    assert from_file["items"] == 6 and from_file["accuracy"] == pytest.approx(sum(right) / 6)
    assert {**in_memory, "preds": None, "truth": None} == {**from_file, "preds": None, "truth": None}
