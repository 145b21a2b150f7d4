"""The CLI contract: --json prints one JSON document; user errors are one line and exit 2."""

import json
from pathlib import Path

import numpy as np
import pytest

from fabsight.cli.app import main


@pytest.fixture
def wafer_file(tmp_path):
    yy, xx = np.indices((25, 25))
    grid = np.where((yy - 12) ** 2 + (xx - 12) ** 2 <= 144, 1, 0).astype(np.uint8)
    grid[10:13, 10:13] = 2
    path = tmp_path / "wafer.npy"
    np.save(path, grid)
    return path, grid


def test_stats_json_is_one_document_with_the_grid_counts(wafer_file, capsys):
    path, grid = wafer_file
    assert main(["stats", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)  # raises if anything but one JSON document was printed
    (wafer,) = document["wafers"]
    assert wafer["dies"] == np.count_nonzero(grid) and wafer["fails"] == np.count_nonzero(grid == 2)
    assert wafer["yield"] == pytest.approx(np.count_nonzero(grid == 1) / np.count_nonzero(grid))
    assert wafer["source"] == str(path)
    assert document["errors"] == []


def test_human_output_is_a_table(wafer_file, capsys):
    path, _ = wafer_file
    assert main(["stats", str(path)]) == 0
    out = capsys.readouterr().out
    assert "yield" in out and "wafer.npy" in out


def test_missing_file_is_one_line_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.stdf"
    assert main(["stats", str(missing), "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["errors"][0]["source"] == str(missing)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "no such file" in lines[0]
    assert "Traceback" not in err


def test_bad_file_in_a_folder_does_not_stop_the_good_ones(wafer_file, capsys):
    path, _ = wafer_file
    (path.parent / "junk.png").write_bytes(b"this is not a picture")
    assert main(["stats", str(path.parent), "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert [w["source"] for w in document["wafers"]] == [str(path)]
    assert [e["source"] for e in document["errors"]] == [str(path.parent / "junk.png")]


def test_ingest_writes_npz_and_png_that_load_back(wafer_file, tmp_path, capsys):
    import fabsight

    path, grid = wafer_file
    out_dir = tmp_path / "out"
    assert main(["ingest", str(path), "--out", str(out_dir), "--json"]) == 0
    (wafer,) = json.loads(capsys.readouterr().out)["wafers"]
    (again,) = fabsight.load(wafer["files"]["npz"])
    np.testing.assert_array_equal(again.grid, grid)
    (picture,) = fabsight.load(wafer["files"]["png"])
    np.testing.assert_array_equal(picture.display_grid()[picture.grid.any(axis=1)][:, picture.grid.any(axis=0)],
                                  grid[grid.any(axis=1)][:, grid.any(axis=0)])


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["stats"])
    assert exit_info.value.code == 2


def test_output_folder_that_is_a_file_is_a_user_error(wafer_file, tmp_path, capsys):
    path, _ = wafer_file
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    assert main(["ingest", str(path), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(blocker) in err


def test_debug_shows_the_traceback(wafer_file, tmp_path):
    from fabsight.errors import InputError

    blocker = tmp_path / "taken"
    blocker.write_text("")
    with pytest.raises(InputError):
        main(["ingest", str(wafer_file[0]), "--out", str(blocker), "--debug"])


def test_files_in_a_folder_that_are_not_maps_are_skipped_with_a_warning(wafer_file, capsys):
    path, _ = wafer_file
    (path.parent / "README.md").write_text("# notes about these wafers\n")
    assert main(["stats", str(path.parent), "--json"]) == 0
    out, err = capsys.readouterr()
    assert [w["source"] for w in json.loads(out)["wafers"]] == [str(path)]
    assert "skipped 1 file(s)" in err and "README.md" in err


def test_skipped_files_of_the_same_name_in_two_folders_are_told_apart(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["generate", "center", "-n", "1", "--no-png", "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    assert main(["stats", str(tmp_path / "a"), str(tmp_path / "b"), "--json"]) == 0
    err = capsys.readouterr().err
    assert "skipped 2 file(s)" in err
    assert str(tmp_path / "a" / "truth.jsonl") in err and str(tmp_path / "b" / "truth.jsonl") in err


def test_a_folder_of_maps_and_their_pictures_gives_each_wafer_once_from_its_array(tmp_path, capsys):
    folder = tmp_path / "maps"
    assert main(["generate", "center", "-n", "2", "--seed", "1", "--out", str(folder), "--json"]) == 0
    (folder / "other.png").write_bytes((folder / "00000_center.png").read_bytes())  # a picture with no array beside
    capsys.readouterr()
    assert main(["stats", str(folder), "--json"]) == 0
    sources = [Path(w["source"]).name for w in json.loads(capsys.readouterr().out)["wafers"]]
    assert sources == ["00000_center.npz", "00001_center.npz", "other.png"]
    assert main(["stats", str(folder / "00000_center.png"), "--json"]) == 0  # named, a picture is read
    assert [w["source"] for w in json.loads(capsys.readouterr().out)["wafers"]] == [str(folder / "00000_center.png")]


def test_an_empty_folder_is_named_in_a_warning(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / ".cache").mkdir(parents=True)
    (empty / ".cache" / "hidden.npy").write_bytes(b"")  # hidden files are never read, so do not count
    assert main(["stats", str(empty), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["wafers"] == []
    assert err.strip() == f"fabsight: warning: {empty}: the folder holds no files to read"


@pytest.mark.parametrize("output", [["--json"], []], ids=["json", "table"])
def test_a_reader_that_stops_early_ends_the_command_quietly(wafer_file, output):
    import signal
    import subprocess
    import sys

    path, _ = wafer_file
    command = [sys.executable, "-m", "fabsight", "stats", str(path), *output]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the command prints: like `| head` that has read all it wants
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 128 + signal.SIGPIPE
    assert err == ""  # no "internal error", no traceback
