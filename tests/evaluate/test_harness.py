"""The benchmark harness prints one form of table, with what made it."""

from __future__ import annotations

import io
import json

import pytest

from fabsight.errors import FabsightError
from fabsight.evaluate.harness import BenchmarkTable, format_value


def _table() -> BenchmarkTable:
    table = BenchmarkTable("Zero-shot classification", ["model", "accuracy", "maps/s", "seconds"])
    table.add_row(model="baseline", accuracy=0.5, **{"maps/s": 100.0, "seconds": 10.0})
    table.add_row(["wafer-clip", 0.91234, 250.0, 4.0])
    return table


def test_report_has_provenance_then_a_markdown_table(tmp_path):
    table = _table()
    table.add_ratio("maps/s", baseline={"model": "baseline"})
    table.add_ratio("seconds", baseline=0, name="speed-up", inverse=True)
    table.note("Throughput at batch 32.")
    out = io.StringIO()
    text = table.report(model="wafer-clip", data="synthetic, 900 maps", seed=3, command="python bench.py --n 900",
                        json_path=tmp_path / "table.json", file=out)
    assert out.getvalue().strip() == text.strip()
    lines = text.splitlines()
    assert lines[0] == "**Zero-shot classification**"
    assert lines[2] == "Command: `python bench.py --n 900`  "
    assert lines[3] == "Model: wafer-clip; data: synthetic, 900 maps; seed: 3  "
    assert lines[4].startswith("Date: ") and "cores" in lines[4]
    assert lines[6] == "| model | accuracy | maps/s | seconds | maps/s x baseline | speed-up |"
    assert lines[7] == "|---|---:|---:|---:|---:|---:|"
    assert lines[9] == "| wafer-clip | 0.9123 | 250.0 | 4.0000 | 2.50x | 2.50x |"
    assert lines[-1] == "Throughput at batch 32.  "
    saved = json.loads((tmp_path / "table.json").read_text())
    assert saved["seed"] == 3 and saved["command"] == "python bench.py --n 900"
    assert saved["rows"][1]["maps/s x baseline"] == pytest.approx(2.5)
    assert saved["columns"][-1] == "speed-up"


def test_command_defaults_to_this_process_command_line(monkeypatch):
    monkeypatch.setattr("sys.argv", ["benchmarks/zero_shot.py", "--n", "900", "--data", "a b"])
    text = _table().report(model="m", data="d", seed=None, file=io.StringIO())
    assert "Command: `python benchmarks/zero_shot.py --n 900 --data 'a b'`" in text and "seed: none" in text


def test_formats_and_escaping():
    table = BenchmarkTable("t", ["name", "CIDEr"], formats={"CIDEr": "{:.3f}"})
    table.add_row(name="a|b", CIDEr=1.23456)
    assert table.markdown().splitlines()[-1] == "| a\\|b | 1.235 |"
    assert [format_value(v) for v in (None, 3, 12345, 0.5, 123.456, 123456.7, "x")] == \
        ["-", "3", "12,345", "0.5000", "123.5", "123,457", "x"]


def test_mistakes_are_clear():
    table = _table()
    with pytest.raises(FabsightError, match="unknown column"):
        table.add_row(modle="typo")
    with pytest.raises(FabsightError, match="3 values for 4 columns"):
        table.add_row(["a", 1, 2])
    table.add_ratio("accuracy", baseline={"model": "nobody"})
    with pytest.raises(FabsightError, match="must match one row"):
        table.markdown()
