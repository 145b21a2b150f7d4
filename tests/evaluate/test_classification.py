"""Classification metrics against scikit-learn, ECE by hand, and the `evaluate classify` command."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image

from fabsight.cli.app import main
from fabsight.errors import InputError
from fabsight.evaluate.classification import calibration, classification_scores, presence_scores

CLASSES = ["Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Near-full", "Random", "Scratch", "none"]


@pytest.mark.parametrize("seed", range(5))
def test_scores_equal_scikit_learn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(seed)
    truth = [rng.choice(CLASSES[:7]) for _ in range(200)]  # "Scratch" and "none" are only ever predicted
    predicted = [t if rng.random() < 0.6 else rng.choice(CLASSES[1:]) for t in truth]  # "Center" never predicted
    result = classification_scores(truth, predicted)
    labels = sorted(set(truth) | set(predicted))
    assert result["labels"] == labels
    assert result["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert result["macro_f1"] == pytest.approx(metrics.f1_score(truth, predicted, average="macro", zero_division=0))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                             zero_division=0)
    np.testing.assert_allclose([c["precision"] for c in result["per_class"]], precision)
    np.testing.assert_allclose([c["recall"] for c in result["per_class"]], recall)
    np.testing.assert_allclose([c["f1"] for c in result["per_class"]], f1)
    assert [c["support"] for c in result["per_class"]] == support.tolist()
    np.testing.assert_array_equal(result["confusion"], metrics.confusion_matrix(truth, predicted, labels=labels))


def test_ece_by_hand():
    # 5 bins: (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]; 0.6 and 0.2 fall in the bins they close, 0 in the first
    confidence = np.array([0.0, 0.2, 0.6, 0.6, 0.9, 1.0])
    correct = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    table = calibration(correct, confidence, bins=5)
    assert [b["count"] for b in table["bins"]] == [2, 0, 2, 0, 2]
    # bin 1: acc 0.5, conf 0.1; bin 3: acc 0.5, conf 0.6; bin 5: acc 1, conf 0.95
    assert table["ece"] == pytest.approx(2 / 6 * 0.4 + 2 / 6 * 0.1 + 2 / 6 * 0.05)
    assert table["bins"][1]["accuracy"] is None


def test_perfectly_calibrated_predictions_have_zero_ece():
    truth = ["a"] * 10
    predicted = ["a"] * 8 + ["b"] * 2
    result = classification_scores(truth, predicted, [0.8] * 10, bins=10)
    assert result["ece"] == pytest.approx(0.0)
    assert result["accuracy"] == pytest.approx(0.8)


def test_confidence_out_of_range_is_an_error():
    with pytest.raises(InputError, match="between 0 and 1"):
        classification_scores(["a"], ["a"], [1.5])


@pytest.fixture
def label_files(tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\nw1,Center\nw2,Donut\nw3,Scratch\nw4,Scratch\nw5,none\n", encoding="utf-8")
    preds = tmp_path / "preds.jsonl"
    rows = [{"id": "w1", "label": "Center", "scores": {"Center": 0.9, "Donut": 0.1}},
            {"id": "w2", "label": "Center", "confidence": 0.6},
            {"id": "w3", "label": "Scratch", "confidence": 0.7},
            {"id": "w4", "label": "Scratch", "confidence": 0.95},
            {"id": "w5", "label": "Scratch", "confidence": 0.55}]
    preds.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return truth, preds


def test_classify_command_json_and_png(label_files, tmp_path, capsys):
    truth, preds = label_files
    png = tmp_path / "confusion.png"
    assert main(["evaluate", "classify", "--truth", str(truth), "--preds", str(preds), "--bins", "10",
                 "--confusion-png", str(png), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["labels"] == ["Center", "Donut", "Scratch", "none"]
    assert result["confusion"] == [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 2, 0], [0, 0, 1, 0]]
    assert len(result["calibration"]) == 10 and result["ece"] is not None
    with Image.open(png) as picture:
        assert picture.format == "PNG" and picture.width > 200


def test_classify_command_table(label_files, capsys):
    truth, preds = label_files
    assert main(["evaluate", "classify", "--truth", str(truth), "--preds", str(preds)]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "Confusion matrix" in out and "Scratch" in out


def test_json_object_of_labels_is_accepted(tmp_path, capsys):
    (tmp_path / "t.json").write_text(json.dumps({"1": "a", "2": "b", "3": "b"}))
    (tmp_path / "p.json").write_text(json.dumps({"1": "a", "2": "b", "3": "a"}))
    assert main(["evaluate", "classify", "--truth", str(tmp_path / "t.json"), "--preds", str(tmp_path / "p.json"),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(2 / 3) and result["ece"] is None


@pytest.mark.parametrize("truth_text, preds_text, expected", [
    ("id,label\n1,a\n", "id,label\n1,a\n2,b\n", "1 prediction id(s) are not in the references: '2'"),
    ("id,label\n1,a\n2,b\n", "id,label,confidence\n1,a,0.5\n2,b,\n", "1 of 2 predictions have no confidence"),
    ("id,label\n1,a\n", "id,label,confidence\n1,a,high\n", "confidence 'high' is not a number"),
    ("id,label\n1,a\n1,b\n", "id,label\n1,a\n", "1 id(s) appear more than once: '1'"),
    ("id,label\n1,a\n", "name,label\n1,a\n", "with an 'id' column"),
    ("id,label\n1,a\n", "id,label\n1,\n", "missing or invalid 'label'"),
])
def test_bad_label_files_are_one_line(tmp_path, capsys, truth_text, preds_text, expected):
    (tmp_path / "t.csv").write_text(truth_text)
    (tmp_path / "p.csv").write_text(preds_text)
    assert main(["evaluate", "classify", "--truth", str(tmp_path / "t.csv"), "--preds", str(tmp_path / "p.csv"),
                 "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and expected in err, err


def test_missing_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "classify", "--truth", "x.csv"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: --preds" in capsys.readouterr().err


# --- `fabsight classify --json` output as predictions --------------------------------------------------
def _classify_document(rows, errors=()):
    """A document as `fabsight classify --json` writes it (only the fields the evaluation reads matter)."""
    results = [{"id": key, "source": "maps.npz", "wafer_id": None, "lot": None, "index": i, "label": label,
                "pattern": pattern, "confidence": confidence, "scores": scores, "present": []}
               for i, (key, label, pattern, confidence, scores) in enumerate(rows)]
    return {"model": "wafer-clip", "method": "zero-shot", "probe": None, "labels": ["Center", "Donut", "none"],
            "views": 8, "results": results, "errors": list(errors)}


CLASSIFIED = [  # id, label the map carries, answer, confidence, scores (best first)
    ("m#0", "Center", "Center", 0.9, {"Center": 0.9, "none": 0.1}),
    ("m#1", "Center", "Donut", 0.7, {"Donut": 0.7, "Center": 0.3}),
    ("m#2", "Donut", "uncertain", 0.45, {"Donut": 0.45, "Center": 0.4}),
    ("m#3", "none", "none", 0.8, {"none": 0.8, "Center": 0.2}),
    ("m#4", "none", "uncertain", 0.4, {"Center": 0.4, "none": 0.35}),
]


def _write(path, document):
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_classify_output_is_scored_against_the_labels_its_maps_carry(tmp_path, capsys):
    metrics = pytest.importorskip("sklearn.metrics")
    preds = _write(tmp_path / "out.json", _classify_document(CLASSIFIED))
    assert main(["evaluate", "classify", "--preds", preds, "--bins", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    truth = [row[1] for row in CLASSIFIED]
    answers = [row[2] for row in CLASSIFIED]
    assert result["items"] == 5 and result["accuracy"] == pytest.approx(2 / 5)  # an "uncertain" answer is wrong
    assert result["abstained"] == 2 and result["accuracy_answered"] == pytest.approx(2 / 3)
    assert [c["label"] for c in result["per_class"]] == ["Center", "Donut", "none"]
    assert "uncertain" in result["labels"]  # a column of the confusion matrix, not a class averaged over
    assert result["macro_f1"] == pytest.approx(metrics.f1_score(truth, answers, labels=["Center", "Donut", "none"],
                                                                average="macro", zero_division=0))
    # calibration judges each confidence by the label it belongs to: m#2's best label (Donut) is right
    best = [next(iter(row[4])) for row in CLASSIFIED]
    expected = calibration(np.array([t == b for t, b in zip(truth, best)], float), np.array([r[3] for r in CLASSIFIED]),
                           5)
    assert result["ece"] == pytest.approx(expected["ece"])


def test_leave_out_scores_only_the_other_true_labels(tmp_path, capsys):
    preds = _write(tmp_path / "out.json", _classify_document(CLASSIFIED))
    assert main(["evaluate", "classify", "--preds", preds, "--leave-out", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["items"] == 3 and result["left_out"] == 2 and result["accuracy"] == pytest.approx(1 / 3)
    assert main(["evaluate", "classify", "--preds", preds, "--leave-out", "none"]) == 0
    assert "2 item(s) left out by their true label" in capsys.readouterr().out


def test_per_item_lists_each_truth_and_answer_and_the_table_the_most_confident_misses_first(tmp_path, capsys):
    preds = _write(tmp_path / "out.json", _classify_document(CLASSIFIED))
    assert main(["evaluate", "classify", "--preds", preds, "--json"]) == 0
    assert "per_item" not in json.loads(capsys.readouterr().out)
    assert main(["evaluate", "classify", "--preds", preds, "--per-item", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["per_item"]
    assert [(i["id"], i["label"], i["predicted"], i["confidence"]) for i in items] == [
        (key, label, answer, confidence) for key, label, answer, confidence, _ in CLASSIFIED]
    assert main(["evaluate", "classify", "--preds", preds, "--per-item"]) == 0
    out = capsys.readouterr().out
    assert "Misses (3 of 3)" in out and out.index("m#1") < out.index("m#2") < out.index("m#4")


def test_classify_output_can_be_scored_against_a_truth_file_by_wafer_id(tmp_path, capsys):
    rows = [(key, None, pattern, confidence, scores) for key, _, pattern, confidence, scores in CLASSIFIED]
    preds = _write(tmp_path / "out.json", _classify_document(rows))
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n" + "".join(f"{row[0]},Center\n" for row in CLASSIFIED), encoding="utf-8")
    assert main(["evaluate", "classify", "--truth", str(truth), "--preds", preds, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(1 / 5)


@pytest.mark.parametrize("document, truth, more, expected", [
    (_classify_document([("m#0", None, "Center", 0.9, {"Center": 0.9})]), None, [], "1 of 1 results carry no label"),
    (_classify_document([("a/1", "Center", "Center", 0.9, {}), ("a/1", "Center", "Center", 0.9, {})]), None, [],
     "appear more than once, as when a wafer is read from two files"),
    (_classify_document([]), None, [], "the classify document has no results"),
    ({"model": "m", "labels": [], "results": [{"id": "x", "label": "a"}]}, None, [],
     "result 1 is not a classify result"),
    ({"model": "m", "labels": [], "results": [{"pattern": "a"}]}, None, [], "result 1 has no 'id'"),
    ([{"id": "1", "label": "a"}], None, [], "no --truth given, and this is not a `fabsight classify --json` document"),
    (_classify_document(CLASSIFIED), "id,label\nm#0,Center\n", [], "4 prediction id(s) are not in the references"),
    (_classify_document(CLASSIFIED[:1]), "id,label\nm#0,Center\n", ["--leave-out", "Center"],
     "every scored item's true label is left out"),
])
def test_bad_classify_documents_are_one_line(tmp_path, capsys, document, truth, more, expected):
    argv = ["evaluate", "classify", "--preds", _write(tmp_path / "out.json", document), "--json", *more]
    if truth:
        (tmp_path / "t.csv").write_text(truth, encoding="utf-8")
        argv += ["--truth", str(tmp_path / "t.csv")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and expected in err, err


def test_files_classify_could_not_read_are_named_in_a_warning(tmp_path, capsys):
    document = _classify_document(CLASSIFIED, errors=[{"source": "bad.npz", "error": "not a zip archive"}])
    assert main(["evaluate", "classify", "--preds", _write(tmp_path / "out.json", document), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["items"] == 5 and "1 file(s) in out.json could not be classified" in err


# --- several patterns per map ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_presence_scores_equal_scikit_learn_multilabel(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(seed)
    patterns = CLASSES[:6]
    truth = [frozenset(rng.sample(patterns[:5], rng.randint(1, 3))) for _ in range(150)]  # patterns[5] never true
    found = [frozenset(p for p in patterns if (p in t) == (rng.random() < 0.8)) for t in truth]
    result = presence_scores(truth, found, patterns)
    as_matrix = lambda sets: np.array([[p in s for p in patterns] for s in sets], dtype=int)  # noqa: E731
    y_true, y_found = as_matrix(truth), as_matrix(found)
    assert result["exact_match"] == pytest.approx(metrics.accuracy_score(y_true, y_found))  # subset accuracy
    precision, recall, f1, support = metrics.precision_recall_fscore_support(y_true, y_found, zero_division=0)
    np.testing.assert_allclose([result["per_pattern"][p]["f1"] for p in patterns], f1)
    np.testing.assert_allclose([result["per_pattern"][p]["precision"] for p in patterns], precision)
    np.testing.assert_allclose([result["per_pattern"][p]["recall"] for p in patterns], recall)
    assert [result["per_pattern"][p]["support"] for p in patterns] == support.tolist()
    assert result["macro_f1"] == pytest.approx(f1[:5].mean())  # over the patterns that are ever true


MIXED = [  # id, label the map carries, answer, present
    ("g#0", "Edge-Ring+Scratch", "Edge-Ring", ["Edge-Ring", "Scratch"]),
    ("g#1", "Center+Loc", "Center", ["Center"]),
    ("g#2", "Donut", "Donut", ["Donut", "Loc"]),
]


def test_maps_labelled_with_several_patterns_are_scored_by_what_classify_found_present(tmp_path, capsys):
    rows = [(key, label, pattern, 0.9, {pattern: 0.9}) for key, label, pattern, _ in MIXED]
    document = _classify_document(rows)
    for result, (*_, present) in zip(document["results"], MIXED):
        result["present"] = present
    preds = _write(tmp_path / "out.json", document)
    assert main(["evaluate", "classify", "--preds", preds, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "multi-label" and result["items"] == 3 and result["exact_match"] == pytest.approx(1 / 3)
    loc = result["per_pattern"]["Loc"]  # true on g#1, found on g#2 only
    assert (loc["support"], loc["predicted"], loc["f1"]) == (1, 1, 0.0)
    assert result["per_pattern"]["Scratch"]["f1"] == 1.0
    assert main(["evaluate", "classify", "--preds", preds, "--per-item"]) == 0
    out = capsys.readouterr().out
    assert "exact match" in out and "Misses (2 of 2)" in out and "g#0" not in out  # g#0's set was found exactly
    assert main(["evaluate", "classify", "--preds", preds, "--confusion-png", str(tmp_path / "c.png")]) == 2
    assert "no confusion matrix" in capsys.readouterr().err and not (tmp_path / "c.png").exists()
    del document["results"][0]["present"]
    assert main(["evaluate", "classify", "--preds", _write(tmp_path / "old.json", document), "--json"]) == 2
    assert "needs its 'present' list" in capsys.readouterr().err


def test_label_files_join_several_patterns_with_a_plus(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("id,label\n1,Center+Loc\n2,Scratch\n", encoding="utf-8")
    (tmp_path / "p.csv").write_text("id,label\n1,Loc + Center\n2,Scratch+Loc\n", encoding="utf-8")
    assert main(["evaluate", "classify", "--truth", str(tmp_path / "t.csv"), "--preds", str(tmp_path / "p.csv"),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "multi-label" and result["exact_match"] == 0.5
