"""Search metrics: a case computed by hand, pytrec_eval (trec_eval's code) as the oracle, and the command."""

from __future__ import annotations

import json
import random

import pytest

from fabsight.cli.app import main
from fabsight.errors import InputError
from fabsight.evaluate.retrieval import ranking, retrieval_scores

QRELS = {"q1": {"d1": 1, "d2": 0, "d3": 2, "d9": 1}, "q2": {"d5": 1}, "q3": {"d7": 0}}
RUN = {"q1": ["d2", "d1", "d4", "d3"], "q2": ["d6", "d5"], "q3": ["d7"]}


def test_hand_computed_case():
    result = retrieval_scores(QRELS, RUN, ks=[1, 2, 5])
    # q1: relevant d1, d3, d9 (3); ranks: d2 no, d1 yes (1/2), d4 no, d3 yes (2/4); d9 never retrieved
    # q2: relevant d5; rank 2.  q3: no relevant document -> not scored
    assert result["queries"] == 2 and result["queries_without_relevant"] == 1
    assert result["mAP"] == pytest.approx(((1 / 2 + 2 / 4) / 3 + (1 / 2) / 1) / 2)
    assert result["MRR"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert result["precision@1"] == 0.0
    assert result["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert result["precision@5"] == pytest.approx((2 / 5 + 1 / 5) / 2)  # divided by k, not by the 4 retrieved
    assert result["recall@2"] == pytest.approx((1 / 3 + 1) / 2)
    assert result["recall@5"] == pytest.approx((2 / 3 + 1) / 2)


def test_ties_are_broken_like_trec_eval():
    assert ranking({"d1": 0.5, "d4": 0.5, "d2": 0.9, "d10": 0.5}) == ["d2", "d4", "d10", "d1"]


@pytest.mark.parametrize("seed", range(3))
def test_equal_to_pytrec_eval_on_random_runs_with_ties(seed):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{q}": {d: rng.choice([0, 0, 1, 2]) for d in rng.sample(docs, 12)} for q in range(30)}
    qrels["q0"] = {d: 0 for d in qrels["q0"]}  # a query without relevant documents
    run = {q: {d: round(rng.random(), 1) for d in rng.sample(docs, rng.randint(1, 25))} for q in qrels}
    ks = [1, 3, 5, 10]
    ours = retrieval_scores(qrels, run, ks)
    measures = {"map", "recip_rank", *(f"P_{k}" for k in ks), *(f"recall_{k}" for k in ks)}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    scored = [q for q in theirs if any(g >= 1 for g in qrels[q].values())]
    assert ours["queries"] == len(scored)

    def mean(measure):
        return sum(theirs[q][measure] for q in scored) / len(scored)

    assert ours["mAP"] == pytest.approx(mean("map"), abs=1e-9)
    assert ours["MRR"] == pytest.approx(mean("recip_rank"), abs=1e-9)
    for k in ks:
        assert ours[f"precision@{k}"] == pytest.approx(mean(f"P_{k}"), abs=1e-9)
        assert ours[f"recall@{k}"] == pytest.approx(mean(f"recall_{k}"), abs=1e-9)
    per_query = {q["query"]: q for q in ours["per_query"]}
    for q in scored:
        assert per_query[q]["AP"] == pytest.approx(theirs[q]["map"], abs=1e-9)


@pytest.fixture
def trec_files(tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in QRELS.items() for d, g in docs.items()))
    run = tmp_path / "run.txt"
    run.write_text("".join(f"{q} Q0 {d} {r} {10 - r} fabsight\n" for q, docs in RUN.items()
                           for r, d in enumerate(docs, 1)))
    return qrels, run


def test_search_command_on_trec_files_equals_the_library(trec_files, capsys):
    qrels, run = trec_files
    assert main(["evaluate", "search", "--qrels", str(qrels), "--run", str(run), "--k", "1", "2", "5",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = retrieval_scores(QRELS, RUN, [1, 2, 5])
    for name in ("mAP", "MRR", "recall@2", "precision@5"):
        assert result[name] == pytest.approx(expected[name])
    assert "per_query" not in result


def test_search_command_on_json_and_table(tmp_path, capsys):
    (tmp_path / "qrels.json").write_text(json.dumps({"q1": ["d1", "d3", "d9"], "q2": {"d5": 1}}))
    (tmp_path / "run.json").write_text(json.dumps({"q1": ["d2", "d1", "d4", "d3"], "q2": {"d6": 0.9, "d5": 0.1}}))
    assert main(["evaluate", "search", "--qrels", str(tmp_path / "qrels.json"), "--run", str(tmp_path / "run.json"),
                 "--per-item"]) == 0
    out = capsys.readouterr().out
    assert "mAP" in out and "recall@10" in out and "Lowest average precision" in out


@pytest.mark.parametrize("qrels_text, run_text, expected", [
    ("q1 0 d1 1\n", "q1 Q0 d1 1 1.0 x\nq7 Q0 d1 1 1.0 x\n", "1 query id(s) are not in the references: 'q7'"),
    ("q1 0 d1\n", "q1 Q0 d1 1 1.0 x\n", "line 1: expected 4 fields"),
    ("q1 0 d1 1\n", "q1 Q0 d1 1 1.0 x\nq1 Q0 d1 2 0.5 x\n", "line 2: document 'd1' appears twice"),
    ("q1 0 d1 1\n", "q1 Q0 d1 1 high x\n", "line 1: 'high' is not a number"),
    ("q1 0 d1 yes\n", "q1 Q0 d1 1 1.0 x\n", "'yes' is not a whole number"),
    ("q1 0 d1 0\n", "q1 Q0 d1 1 1.0 x\n", "none of the 1 queries of the run has a relevant document"),
])
def test_bad_search_files_are_one_line(tmp_path, capsys, qrels_text, run_text, expected):
    (tmp_path / "qrels").write_text(qrels_text)
    (tmp_path / "run").write_text(run_text)
    assert main(["evaluate", "search", "--qrels", str(tmp_path / "qrels"), "--run", str(tmp_path / "run"),
                 "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and expected in err, err


def test_bad_cutoff_is_an_error():
    with pytest.raises(InputError, match="at least 1"):
        retrieval_scores(QRELS, RUN, [0])
