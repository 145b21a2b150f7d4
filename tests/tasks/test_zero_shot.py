import numpy as np
import pytest

from fabsight.errors import FabsightError
from fabsight.knowledge.patterns import UNCERTAIN
from fabsight.tasks.zero_shot import ZeroShotOptions, check_labels, decide


def test_decide_reports_the_best_labels_first_and_uncertain_below_the_threshold():
    labels = ("a", "b", "c")
    p = np.array([[0.2, 0.7, 0.1], [0.4, 0.35, 0.25]])
    sure, unsure = decide(labels, p, p, ZeroShotOptions(min_confidence=0.5, presence_threshold=0.3))
    assert sure["pattern"] == "b" and sure["confidence"] == 0.7
    assert list(sure["scores"]) == ["b", "a", "c"]
    assert sure["present"] == ["b"]
    assert unsure["pattern"] == UNCERTAIN and unsure["confidence"] == 0.4
    assert unsure["present"] == ["a", "b"]  # in label order


def test_top_scores_keeps_the_n_best_and_zero_keeps_all():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(50), size=4)
    labels = tuple(f"l{i}" for i in range(50))
    for row, probs in zip(decide(labels, p, p, ZeroShotOptions(top_scores=3)), p):
        best = np.argsort(-probs)[:3]
        assert list(row["scores"]) == [labels[i] for i in best]
        assert row["pattern"] in (labels[best[0]], UNCERTAIN)
    assert all(len(r["scores"]) == 50 for r in decide(labels, p, p, ZeroShotOptions(top_scores=0)))


@pytest.mark.parametrize("kwargs", [{"min_confidence": 1.5}, {"presence_threshold": -0.1}, {"top_scores": -1}])
def test_options_out_of_range_are_refused(kwargs):
    with pytest.raises(FabsightError):
        ZeroShotOptions(**kwargs)


def test_labels_must_be_distinct_and_non_empty():
    with pytest.raises(FabsightError, match="empty"):
        check_labels([])
    with pytest.raises(FabsightError, match="duplicate labels.*scratch"):
        check_labels(["Scratch", "donut", "scratch "])
    with pytest.raises(FabsightError, match="blank"):
        check_labels(["ring", "  "])
    assert check_labels([" ring "]) == ("ring",)
