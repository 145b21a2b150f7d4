"""`fabsight generate` writes .npz, .png and truth.jsonl, and parses its flags from the options dataclass."""

import json

import numpy as np
import pytest

import fabsight
from fabsight.cli import options as opts
from fabsight.cli.app import build_parser
from fabsight.cli.generate_cmd import COMMAND, GenerateOptions
from fabsight.errors import InputError
from fabsight.wafer.map import FAIL, OFF


def test_writes_maps_pictures_and_truth(tmp_path):
    out = tmp_path / "synthetic"
    result = COMMAND.run(GenerateOptions(spec="edge ring with a scratch, 12% fail", n=5, seed=3, out=str(out)))
    assert result["count"] == 5 and result["out"] == str(out)
    assert result["patterns"] == {"Edge-Ring+Scratch": {"count": 5, "mean_yield": pytest.approx(
        np.mean([f["yield"] for f in result["files"]]))}}
    lines = (out / "truth.jsonl").read_text().splitlines()
    assert len(lines) == 5
    for line, row in zip(lines, result["files"]):
        truth = json.loads(line)
        assert truth["label"] == row["label"] == "Edge-Ring+Scratch" and truth["target_fail"] == pytest.approx(0.12)
        npz, png = out / truth["files"]["npz"], out / truth["files"]["png"]
        assert npz.is_file() and png.is_file() and str(npz) == row["npz"] and str(png) == row["png"]
        (wafer,) = fabsight.load(npz)  # the map reads back with its truth
        grid = wafer.grid
        assert truth["dies"] == np.count_nonzero(grid != OFF) and truth["fails"] == np.count_nonzero(grid == FAIL)
        assert wafer.extra["truth"]["label"] == truth["label"] and wafer.extra["truth"]["fails"] == truth["fails"]
    json.dumps(result)  # JSON-ready


def test_same_command_twice_gives_the_same_truth(tmp_path):
    for name in ("a", "b"):
        COMMAND.run(GenerateOptions(spec="mixed", n=4, seed=7, out=str(tmp_path / name), no_png=True))
    assert (tmp_path / "a" / "truth.jsonl").read_text() == (tmp_path / "b" / "truth.jsonl").read_text()
    assert not list((tmp_path / "a").glob("*.png"))


def test_flags_come_from_the_options_dataclass(tmp_path):
    parser = build_parser([COMMAND])
    args = parser.parse_args(["generate", "donut, yield 80%", "-n", "3", "--seed", "2", "--out", str(tmp_path)])
    options = opts.from_namespace(GenerateOptions, args)
    assert (options.spec, options.n, options.seed, options.out) == ("donut, yield 80%", 3, 2, str(tmp_path))
    default = opts.from_namespace(GenerateOptions, parser.parse_args(["generate", "-n", "2", "-o", str(tmp_path)]))
    result = COMMAND.run(default)  # no spec: a random class per wafer
    assert result["count"] == 2 and result["spec"]["text"] == "any"


def test_bad_spec_is_an_input_error_before_anything_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(InputError, match="valid patterns"):
        COMMAND.run(GenerateOptions(spec="spiral", n=3, out=str(out)))
    assert not out.exists()
    with pytest.raises(InputError, match="-n"):
        COMMAND.run(GenerateOptions(spec="ring", n=0, out=str(out)))


def test_show_prints_a_table(tmp_path, capsys):
    result = COMMAND.run(GenerateOptions(spec="any", n=6, seed=1, out=str(tmp_path), no_png=True))
    COMMAND.show(result)
    text = capsys.readouterr().out
    assert "mean yield" in text and "truth.jsonl" in text
