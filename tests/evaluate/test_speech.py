"""WER and CER: corpus totals by hand, normalisation, file forms, and the `evaluate asr` command."""

from __future__ import annotations

import json

import pytest

from fabsight.cli.app import main
from fabsight.evaluate.speech import speech_scores

pytest.importorskip("jiwer")


def test_corpus_wer_is_total_errors_over_total_words_not_a_mean():
    refs = {"a": "the edge ring is bad", "b": "scratch"}
    hyps = {"a": "the edge ring is bad", "b": "scratch near notch"}  # 0 of 5 words wrong; 2 insertions on 1 word
    result = speech_scores(refs, hyps)
    assert result["WER"] == pytest.approx(2 / 6)  # the mean of per-utterance WERs would be (0 + 2) / 2 = 1
    assert result["word_insertions"] == 2 and result["reference_words"] == 6
    assert [item["WER"] for item in result["items"]] == [0.0, 2.0]


def test_substitution_deletion_insertion_counts():
    result = speech_scores({"u": "why did lot seven yield low"}, {"u": "why lot eleven yield so low"})
    assert (result["word_substitutions"], result["word_deletions"], result["word_insertions"]) == (1, 1, 1)
    assert result["WER"] == pytest.approx(3 / 6)


def test_basic_normalisation_ignores_case_and_punctuation():
    refs, hyps = {"u": "Why did lot X yield 78%?"}, {"u": "why did lot x yield 78"}
    assert speech_scores(refs, hyps)["WER"] == pytest.approx(3 / 6)  # Why/why, X/x, 78%?/78
    assert speech_scores(refs, hyps, "basic")["WER"] == 0.0
    assert speech_scores(refs, hyps, "basic")["CER"] == 0.0


def test_cer_counts_characters():
    result = speech_scores({"u": "ring"}, {"u": "rang"})
    assert result["CER"] == pytest.approx(1 / 4) and result["WER"] == 1.0


def test_asr_command_on_kaldi_text_and_json(tmp_path, capsys):
    (tmp_path / "text").write_text("utt1 the edge ring\nutt2 a scratch near the notch\n\nutt3\n", encoding="utf-8")
    (tmp_path / "hyps.json").write_text(json.dumps({"utt1": "the edge ring", "utt2": "a scratch near notch",
                                                    "utt3": ""}))
    assert main(["evaluate", "asr", "--refs", str(tmp_path / "text"), "--hyps", str(tmp_path / "hyps.json"),
                 "--json", "--per-item"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["WER"] == pytest.approx(1 / 8) and result["utterances"] == 3
    assert [item["id"] for item in result["items"]] == ["utt1", "utt2", "utt3"]
    assert main(["evaluate", "asr", "--refs", str(tmp_path / "text"), "--hyps", str(tmp_path / "hyps.json")]) == 0
    assert "WER" in capsys.readouterr().out


def test_asr_csv_and_unknown_hypothesis_id(tmp_path, capsys):
    (tmp_path / "refs.csv").write_text("id,text\n1,edge ring\n2,donut\n")
    (tmp_path / "hyps.csv").write_text("id,text\n1,edge ring\n3,donut\n")
    assert main(["evaluate", "asr", "--refs", str(tmp_path / "refs.csv"), "--hyps", str(tmp_path / "hyps.csv"),
                 "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "1 hypothesis id(s) are not in the references: '3'" in err
    assert str(tmp_path / "hyps.csv") in err and len(err.strip().splitlines()) == 1


def test_asr_duplicate_id_in_text_file(tmp_path, capsys):
    (tmp_path / "refs.txt").write_text("u1 a\nu1 b\n")
    (tmp_path / "hyps.txt").write_text("u1 a\n")
    assert main(["evaluate", "asr", "--refs", str(tmp_path / "refs.txt"), "--hyps", str(tmp_path / "hyps.txt")]) == 2
    assert "line 2: id 'u1' appears twice" in capsys.readouterr().err
