"""embed, classify and train probe on the command line: JSON shape, human tables, exit codes."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from fabsight.cli.app import main
from fabsight.wafer.npz import save_npz
from fabsight.wafer.synth import generate


@pytest.fixture
def maps(tmp_path):
    folder = tmp_path / "maps"
    for i, sample in enumerate(generate("any", n=5, seed=2)):
        save_npz(sample.wafer, folder / f"{i}.npz")
    return folder


@pytest.fixture
def model(tiny_siglip_folder, tmp_path):
    return str(shutil.copytree(tiny_siglip_folder, tmp_path / "model"))


def run_json(args, capsys):
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_embed_json_with_a_corrupt_file_does_the_good_ones_and_exits_2(maps, model, capsys):
    (maps / "broken.npz").write_bytes(b"\x93NUMPY garbage")
    code, doc, err = run_json(["embed", str(maps), "--model", model, "--text", "edge ring", "--text", "scratch"],
                              capsys)
    assert code == 2 and len(doc["wafers"]) == 5 and doc["dim"] == len(doc["wafers"][0]["vector"])
    assert {"source", "wafer_id", "lot", "vector"} <= set(doc["wafers"][0])
    assert [t["text"] for t in doc["texts"]] == ["edge ring", "scratch"]
    assert [e["source"] for e in doc["errors"]] == [str(maps / "broken.npz")]
    assert "broken.npz" in err and "Traceback" not in err


def test_embed_to_a_file_keeps_numbers_out_of_the_json_and_the_table_short(maps, model, tmp_path, capsys):
    out = tmp_path / "vectors.npz"
    code, doc, _ = run_json(["embed", str(maps), "--model", model, "--out", str(out)], capsys)
    assert code == 0 and doc["out"] == str(out) and "vector" not in doc["wafers"][0]
    assert np.load(out)["vectors"].shape == (5, doc["dim"])
    assert main(["embed", str(maps), "--model", model]) == 0
    table = capsys.readouterr().out
    assert "first values" in table and "0.npz" in table and len(table) < 4000


def test_classify_json_and_table(maps, model, capsys):
    code, doc, _ = run_json(["classify", str(maps), "--model", model, "--labels", "ring", "scratch", "none",
                             "--min-confidence", "0.2"], capsys)
    assert code == 0 and doc["labels"] == ["ring", "scratch", "none"] and len(doc["results"]) == 5
    row = doc["results"][0]
    assert set(row["scores"]) == {"ring", "scratch", "none"} and row["pattern"] in ("ring", "scratch", "none")
    assert main(["classify", str(maps), "--model", model]) == 0
    out = capsys.readouterr().out
    assert "runner-up" in out and "5 wafer(s) classified" in out


def test_classify_reads_its_labels_from_a_file(maps, model, tmp_path, capsys):
    listing = tmp_path / "labels.txt"
    listing.write_text("\ufeff# our fab's patterns\nring\n\n  scratch  \nnone\n", encoding="utf-8")
    code, doc, _ = run_json(["classify", str(maps), "--model", model, "--labels-file", str(listing)], capsys)
    assert code == 0 and doc["labels"] == ["ring", "scratch", "none"]
    assert {tuple(sorted(r["scores"])) for r in doc["results"]} == {("none", "ring", "scratch")}


@pytest.mark.parametrize("content, message", [
    (None, "no such labels file"), ("# only a comment\n\n", "holds no labels"), (b"ring\n\xff\xfe\n", "not UTF-8"),
    ("ring\nRing\n", "duplicate"),
])
def test_a_bad_labels_file_is_a_one_line_error(maps, model, tmp_path, capsys, content, message):
    listing = tmp_path / "labels.txt"
    if isinstance(content, bytes):
        listing.write_bytes(content)
    elif content is not None:
        listing.write_text(content)
    assert main(["classify", str(maps), "--model", model, "--labels-file", str(listing)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_labels_file_that_cannot_be_opened_is_named(maps, model, tmp_path, capsys):
    unopenable = tmp_path / ("x" * 300)  # longer than a file name may be: an OSError, but not "no such file"
    assert main(["classify", str(maps), "--model", model, "--labels-file", str(unopenable)]) == 2
    err = capsys.readouterr().err
    assert "cannot read the labels file" in err and err.count("\n") == 1


def test_labels_and_a_labels_file_together_are_refused(maps, model, tmp_path, capsys):
    (tmp_path / "labels.txt").write_text("ring\n")
    assert main(["classify", str(maps), "--model", model, "--labels", "scratch", "--labels-file",
                 str(tmp_path / "labels.txt")]) == 2
    assert "do not go together" in capsys.readouterr().err


def test_classify_table_names_an_uncertain_answers_best_guess(maps, model, capsys):
    code, doc, _ = run_json(["classify", str(maps / "0.npz"), "--model", model, "--min-confidence", "1"], capsys)
    best = next(iter(doc["results"][0]["scores"]))
    assert code == 0 and doc["results"][0]["pattern"] == "uncertain"
    assert main(["classify", str(maps / "0.npz"), "--model", model, "--min-confidence", "1"]) == 0
    assert f"uncertain ({best}?)" in capsys.readouterr().out


def test_classify_table_names_a_wafer_by_the_id_other_commands_take(maps, model, capsys):
    wafer = replace(generate("center", n=1, seed=4)[0].wafer, product="GOLD8", lot="LOT7", wafer_id="LOT7-03")
    save_npz(wafer, maps / "named.npz")
    code, doc, _ = run_json(["classify", str(maps / "named.npz"), "--model", model], capsys)
    assert code == 0 and doc["results"][0]["id"] == "GOLD8/LOT7/LOT7-03"
    assert main(["classify", str(maps / "named.npz"), "--model", model]) == 0
    assert "GOLD8/LOT7/LOT7-03" in capsys.readouterr().out


def test_train_probe_then_classify_with_it(model, tmp_path, capsys):
    data = tmp_path / "labelled"
    for spec in ("center", "edge ring"):
        for i, sample in enumerate(generate(spec, n=6, seed=3)):
            save_npz(sample.wafer, data / f"{spec}-{i}.npz")
    code, summary, _ = run_json(["train", "probe", "--data", str(data), "--labels-from", "truth", "--model", model,
                                 "--out", "mine"], capsys)
    assert code == 0 and summary["labels"] == ["Center", "Edge-Ring"] and summary["held_out_maps"] == 2
    code, doc, _ = run_json(["classify", str(data), "--model", model, "--probe", "mine"], capsys)
    assert code == 0 and doc["method"] == "probe" and set(doc["results"][0]["scores"]) == {"Center", "Edge-Ring"}
    code = main(["classify", str(data), "--model", model, "--probe", "other"])
    err = capsys.readouterr().err
    assert code == 2 and "no probe named 'other'" in err and "available: mine" in err
    assert main(["train", "probe", "--data", str(data), "--labels-from", "truth", "--model", model, "--out", "by-hand",
                 "--views", "1", "--l2", "0.5", "--prior", "none"]) == 0
    out = capsys.readouterr().out
    assert "mean of 1 view(s) per map, no prior, l2 0.5 (given)" in out
    code, doc, _ = run_json(["classify", str(data), "--model", model, "--probe", "by-hand"], capsys)
    assert code == 0 and doc["views"] == 1 and doc["probe"] == "by-hand"
    tuned = tmp_path / "tuned"
    assert main(["train", "probe", "--data", str(data), "--labels-from", "truth", "--model", model, "--out", "mine",
                 "--fine-tune", str(tuned), "--tune-steps", "2", "--tune-batch", "4"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # long lines wrap at the terminal's width
    assert f"fine-tuned copy of {model} (2 steps of 4 maps" in out and "the probe on the frozen model:" in out
    assert f"--model {tuned} --probe mine" in out
    code, doc, _ = run_json(["classify", str(data), "--model", str(tuned), "--probe", "mine"], capsys)
    assert code == 0 and doc["method"] == "probe" and len(doc["results"]) == 12
    assert main(["train", "probe", "--data", str(data), "--model", model, "--out", "x", "--fine-tune", str(tuned),
                 "--tune-steps", "0"]) == 2
    assert "--tune-steps and --tune-batch must be at least 1" in capsys.readouterr().err


def test_unknown_model_lists_the_shipped_ones_and_never_downloads(maps, capsys):
    assert main(["classify", str(maps), "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "wafer-clip" in err and "never downloads" in err and err.count("\n") == 1


def test_bad_option_values_are_one_line_errors(maps, model, capsys):
    assert main(["classify", str(maps), "--model", model, "--min-confidence", "2"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert main(["classify", str(maps), "--model", model, "--labels", "a", "A"]) == 2
    assert "duplicate" in capsys.readouterr().err
