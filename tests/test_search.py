"""The wafer search index (LanceDB): `index add|remove|info` and `search`, through the CLI as a user runs them.

One index over 60 generated maps (30 edge rings, 30 centre clusters, with
generator truth) and the two real STDF wafers is built once per module with
the shipped "wafer-clip" model; tests that change an index work on a copy of
its folder (a LanceDB index is a plain folder). Expected values come from the
data itself (fabsight.load, truth.jsonl), never from earlier output.
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import pytest

import fabsight
from fabsight import FAIL, OFF, InputError
from fabsight.cli.app import main
from fabsight.search import WaferIndex, filters_from
from fabsight.search.entries import unpack_grid
from fabsight.wafer.readers import expand_paths

STDF_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "stdf"
STDF_NAMES = ("lot2.stdf.gz", "lot3.stdf.gz")
PER_SPEC = 30  # maps per generated spec: 60 in all, two classes


# --- running the CLI in this process -----------------------------------------------------------
@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def cli(*args: Any) -> Run:
    """`fabsight ARGS` in this process (the model loads once per test session, not once per call)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code)
    return Run(code, out.getvalue(), err.getvalue())


def ok(*args: Any) -> Any:
    """Run a command with --json, insist it succeeded, return its document."""
    run = cli(*args, "--json")
    assert run.code == 0, run.err
    return run.json


def user_error(*args: Any) -> str:
    """Run a command that must fail as a user error: exit 2, one `fabsight: error:` line, no traceback."""
    run = cli(*args)
    assert run.code == 2, (run.out, run.err)
    errors = [line for line in run.err.splitlines() if line.startswith("fabsight: error:")]
    assert len(errors) == 1, run.err
    assert "Traceback" not in run.err
    return errors[0]


# --- the data and what it should give ------------------------------------------------------------
@dataclass
class Expected:
    """What the index should hold for one wafer, worked out from the file itself."""

    id: str
    source: str
    wafer: fabsight.WaferMap
    label: str | None  # generator truth, from truth.jsonl

    @property
    def dies(self) -> int:
        return int((self.wafer.grid != OFF).sum())

    @property
    def fails(self) -> int:
        return int((self.wafer.grid == FAIL).sum())

    @property
    def yield_(self) -> float:
        return (self.dies - self.fails) / self.dies


@dataclass
class Data:
    gen: Path  # gen/ring and gen/center
    stdf: list[Path]
    entries: dict[str, Expected]

    @property
    def inputs(self) -> list[Path]:
        return [self.gen, *self.stdf]

    def ids(self, keep=lambda e: True) -> set[str]:
        return {i for i, e in self.entries.items() if keep(e)}

    def by_source(self, source: str) -> Expected:
        (found,) = [e for e in self.entries.values() if e.source == source]
        return found

    def by_time(self, moment: datetime) -> Expected:
        (found,) = [e for e in self.entries.values() if e.wafer.test_time == moment]
        return found


def truth_labels(folder: Path) -> dict[str, str]:
    """Resolved npz path -> the generator's label, from truth.jsonl."""
    labels = {}
    for line in (folder / "truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        labels[str((folder / row["files"]["npz"]).resolve())] = row["label"]
    return labels


def expected_entries(paths: list[Path], labels: dict[str, str]) -> dict[str, Expected]:
    """Every wafer in `paths`, keyed by the id the index documents: product/lot/wafer when named, else path#n."""
    entries = {}
    for path, _ in expand_paths(paths):
        if path.suffix not in (".npz", ".gz"):
            continue  # truth.jsonl
        source = str(path.resolve())
        for n, wafer in enumerate(fabsight.load(path)):
            key = ("/".join(p for p in (wafer.product, wafer.lot, wafer.wafer_id) if p)
                   if wafer.lot and wafer.wafer_id else f"{source}#{n}")
            assert key not in entries, f"test data has two wafers with id {key}"
            entries[key] = Expected(key, source, wafer, labels.get(source))
    return entries


def generate(spec: str, n: int, seed: int, out: Path) -> Path:
    ok("generate", spec, "-n", n, "--seed", seed, "-o", out, "--no-png")
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Data:
    stdf = [STDF_DIR / name for name in STDF_NAMES]
    missing = [p for p in stdf if not p.exists()]
    if missing:
        pytest.skip(f"shared STDF data not found at {missing[0]}")
    gen = tmp_path_factory.mktemp("search-data") / "gen"
    # Different seeds: generated wafer ids are s<seed>-<n>, so two folders with one seed would share ids.
    generate("edge ring", PER_SPEC, 11, gen / "ring")
    generate("center", PER_SPEC, 12, gen / "center")
    labels = {**truth_labels(gen / "ring"), **truth_labels(gen / "center")}
    assert Counter(labels.values()) == {"Edge-Ring": PER_SPEC, "Center": PER_SPEC}
    return Data(gen, stdf, expected_entries([gen, *stdf], labels))


@dataclass
class Built:
    dir: Path
    added: dict[str, Any]  # the JSON `index add` printed


@pytest.fixture(scope="module")
def built(data, tmp_path_factory) -> Built:
    """The shared index: treat it as read-only (copy it with `index_copy` to change it)."""
    folder = tmp_path_factory.mktemp("search-index") / "index"
    return Built(folder, ok("index", "add", "--index", folder, *data.inputs))


@pytest.fixture
def index_copy(built, tmp_path) -> Path:
    return Path(shutil.copytree(built.dir, tmp_path / "index"))


def everything(index: Path, data: Data, *flags: Any, query: str = "wafer") -> list[dict[str, Any]]:
    """A search with room for every entry, so that a filter's result is the whole set it lets through."""
    return ok("search", "--index", index, query, "-k", len(data.entries), "--no-maps", *flags)["results"]


@pytest.fixture(scope="module")
def unfiltered(built, data) -> list[dict[str, Any]]:
    """Every entry of the shared index, as one search with no filter returns them."""
    return everything(built.dir, data)


def ids_of(results: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in results]


def stored_rows(index: Path) -> list[dict[str, Any]]:
    return WaferIndex.open(index).table.to_arrow().to_pylist()


# --- 1. add, info, results --------------------------------------------------------------------------
def test_add_indexes_every_wafer_once(built, data):
    total = len(data.entries)
    assert total == 2 * PER_SPEC + sum(len(fabsight.load(p)) for p in data.stdf)
    added = built.added
    assert (added["read"], added["new"], added["updated"], added["count"]) == (total, total, 0, total)
    assert added["errors"] == [] and added["model"] == "wafer-clip"
    rows = stored_rows(built.dir)
    assert sorted(r["id"] for r in rows) == sorted(data.entries)


def test_info_reports_count_model_and_size(built, data):
    from fabsight.models.dual_encoder import load_dual_encoder

    encoder = load_dual_encoder("wafer-clip")
    info = ok("index", "info", "--index", built.dir)
    assert info["count"] == len(data.entries)
    assert info["model"] == {"name": "wafer-clip", "dim": encoder.dim, "fingerprint": encoder.fingerprint()}
    assert info["size_bytes"] > 0
    assert info["size_bytes"] == sum(f.stat().st_size for f in built.dir.rglob("*") if f.is_file())
    assert sum(info["patterns"].values()) == len(data.entries)
    assert info["vector_index"] is False  # far below the size where an approximate index pays
    human = cli("index", "info", "--index", built.dir)
    assert human.code == 0 and "wafer-clip" in human.out and str(len(data.entries)) in human.out


def test_results_json_shape_scores_and_maps(built, data):
    document = ok("search", "--index", built.dir, "edge ring", "-k", 5)
    assert document["model"] == "wafer-clip" and document["query"]["text"] == "edge ring"
    results = document["results"]
    assert len(results) == 5
    for result in results:
        assert {"id", "score", "source", "index", "lot", "wafer_id", "product", "tester", "test_time", "pattern",
                "confidence", "yield", "dies", "fails", "label", "map"} <= set(result)
        assert result["id"] in data.entries and isinstance(result["score"], float)
        picture = Path(result["map"])
        assert picture.is_file() and picture.parent == built.dir / "maps"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert len({r["map"] for r in results}) == 5  # one picture per entry
    no_maps = ok("search", "--index", built.dir, "edge ring", "-k", 5, "--no-maps")["results"]
    assert ids_of(no_maps) == ids_of(results) and all(r["map"] is None for r in no_maps)
    human = cli("search", "--index", built.dir, "edge ring", "-k", 3)
    assert human.code == 0 and "score" in human.out and "pattern" in human.out


def test_every_entry_carries_the_metadata_of_its_wafer(built, data, unfiltered):
    results = unfiltered
    assert sorted(ids_of(results)) == sorted(data.entries)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    for result in results:
        want = data.entries[result["id"]]
        wafer = want.wafer
        assert (result["source"], result["lot"], result["wafer_id"], result["product"], result["tester"]) == \
               (want.source, wafer.lot, wafer.wafer_id, wafer.product, wafer.tester)
        assert (result["dies"], result["fails"]) == (want.dies, want.fails)
        assert result["yield"] == pytest.approx(want.yield_)
        assert result["label"] == want.label
        assert result["test_time"] == (wafer.test_time.isoformat() if wafer.test_time else None)
    for row in stored_rows(built.dir):  # the stored grid is the wafer's grid
        np.testing.assert_array_equal(unpack_grid(row["grid"], row["rows"], row["cols"]),
                                      data.entries[row["id"]].wafer.grid)


def test_new_and_updated_rows_are_counted_by_each_commit_not_by_the_index_size(tmp_path):
    """Two writers at once: each one's counts are its own, whatever the other adds in between."""
    from fabsight.search.store import ModelIdentity

    def entries(*ids):
        return [{"id": key, "vector": np.ones(4, np.float32) / 2} for key in ids]

    one = WaferIndex.open(tmp_path / "index", create_for=ModelIdentity("test", "t", 4))
    other = WaferIndex.open(tmp_path / "index")
    assert one.upsert(entries("a", "b")) == (2, 0)
    assert other.upsert(entries("c", "d", "e")) == (3, 0)  # the index grew by 3 that `one` did not write
    assert one.upsert(entries("b", "f")) == (1, 1)
    assert one.count() == 6


def test_adding_the_same_inputs_again_updates_without_duplicates(index_copy, data):
    total = len(data.entries)
    again = ok("index", "add", "--index", index_copy, *data.inputs)
    assert (again["read"], again["new"], again["updated"], again["count"]) == (total, 0, total, total)
    ids = [r["id"] for r in stored_rows(index_copy)]
    assert len(ids) == len(set(ids)) == total


# --- 2. remove ---------------------------------------------------------------------------------------
def test_remove_by_id(index_copy, data):
    stdf_id = data.by_source(str(data.stdf[0].resolve())).id
    removed = ok("index", "remove", "--index", index_copy, stdf_id)
    assert removed["removed"] == 1 and removed["count"] == len(data.entries) - 1
    assert {r["id"] for r in stored_rows(index_copy)} == data.ids() - {stdf_id}
    assert ok("index", "remove", "--index", index_copy, stdf_id)["removed"] == 0  # already gone


def test_remove_by_filter(index_copy, data):
    removed = ok("index", "remove", "--index", index_copy, "--lot", "GAL-LOT")
    gone = data.ids(lambda e: e.wafer.lot == "GAL-LOT")
    assert gone and removed["removed"] == len(gone)
    assert {r["id"] for r in stored_rows(index_copy)} == data.ids() - gone
    # A quote in a value is part of the value, never SQL: this matches no lot, so nothing goes.
    assert ok("index", "remove", "--index", index_copy, "--lot", "x' OR '1'='1")["removed"] == 0
    assert WaferIndex.open(index_copy).count() == len(data.entries) - len(gone)


def test_remove_refuses_without_ids_or_filters_and_all_empties(index_copy, data):
    line = user_error("index", "remove", "--index", index_copy)
    assert "--all" in line
    assert WaferIndex.open(index_copy).count() == len(data.entries)
    removed = ok("index", "remove", "--index", index_copy, "--all")
    assert (removed["removed"], removed["count"]) == (len(data.entries), 0)
    info = ok("index", "info", "--index", index_copy)
    assert info["count"] == 0 and info["patterns"] == {}
    assert everything(index_copy, data) == []
    # An emptied index takes wafers again.
    added = ok("index", "add", "--index", index_copy, *data.stdf)
    assert added["new"] == added["count"] == len(data.stdf)


# --- 3. filters ---------------------------------------------------------------------------------------
def _stdf_times(data: Data) -> list[datetime]:
    times = sorted(e.wafer.test_time for e in data.entries.values() if e.wafer.test_time)
    assert len(times) >= 2 and times[0] < times[-1]
    return times


def _filter_cases(data: Data) -> dict[str, tuple[list[str], Any]]:
    """name -> (flags, what the filter should let through), from the data."""
    times = _stdf_times(data)
    first, last = times[0], times[-1]
    # The bare-date case only proves the whole day counts if the first wafer was tested after midnight.
    assert first.time() != datetime.min.time() and first.date() < last.date()
    end_of_first_day = datetime.combine(first.date(), datetime.min.time()) + timedelta(days=1)
    yields = sorted(e.yield_ for e in data.entries.values())
    middle = median(yields)
    first_wafer = data.by_time(first).wafer.wafer_id

    def tested(e: Expected) -> bool:
        return e.wafer.test_time is not None

    return {
        "product": (["--product", "GOLD8BAR"], lambda e: e.wafer.product == "GOLD8BAR"),
        "lot": (["--lot", "synthetic"], lambda e: e.wafer.lot == "synthetic"),
        "other lot": (["--lot", "GAL-LOT"], lambda e: e.wafer.lot == "GAL-LOT"),
        "wafer id": (["--wafer-id", first_wafer], lambda e: e.wafer.wafer_id == first_wafer),
        "since date": (["--since", last.date().isoformat()],
                       lambda e: tested(e) and e.wafer.test_time >= datetime.combine(last.date(), datetime.min.time())),
        "since time": (["--since", (first + timedelta(seconds=1)).isoformat()],
                       lambda e: tested(e) and e.wafer.test_time > first),
        "until date (whole day)": (["--until", first.date().isoformat()],
                                   lambda e: tested(e) and e.wafer.test_time < end_of_first_day),
        "until time (inclusive)": (["--until", first.isoformat()], lambda e: tested(e) and e.wafer.test_time <= first),
        "min yield": (["--min-yield", repr(middle)], lambda e: e.yield_ >= middle),
        "max yield": (["--max-yield", repr(middle)], lambda e: e.yield_ <= middle),
        "yield band": (["--min-yield", repr(yields[5]), "--max-yield", repr(yields[-5])],
                       lambda e: yields[5] <= e.yield_ <= yields[-5]),
        "source": (["--source", str(data.stdf[1])], lambda e: e.source == str(data.stdf[1].resolve())),
        "lot and time": (["--lot", "GAL-LOT", "--since", last.isoformat()],
                         lambda e: e.wafer.lot == "GAL-LOT" and tested(e) and e.wafer.test_time >= last),
        "quoted value": (["--lot", "x' OR '1'='1"], lambda e: False),
    }


FILTER_CASES = ["product", "lot", "other lot", "wafer id", "since date", "since time", "until date (whole day)",
                "until time (inclusive)", "min yield", "max yield", "yield band", "source", "lot and time",
                "quoted value"]


@pytest.mark.parametrize("case", FILTER_CASES)
def test_a_filter_lets_through_exactly_the_wafers_it_names(built, data, unfiltered, case):
    flags, keep = _filter_cases(data)[case]
    expected = data.ids(keep)
    assert set(ids_of(unfiltered)) == data.ids()
    assert data.ids() - expected, "the filter must remove something for the test to mean anything"
    results = everything(built.dir, data, *flags)
    assert set(ids_of(results)) == expected and len(results) == len(expected)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_the_until_date_includes_its_whole_day(built, data):
    first = _stdf_times(data)[0]
    day = everything(built.dir, data, "--until", first.date().isoformat())
    assert data.by_time(first).id in ids_of(day)  # tested at 20:50 that day, after the date's midnight
    before_it = everything(built.dir, data, "--until", (first - timedelta(seconds=1)).isoformat())
    assert data.by_time(first).id not in ids_of(before_it)


def test_pattern_filter_keeps_one_predicted_pattern(built, data, unfiltered):
    rows = unfiltered
    patterns = Counter(r["pattern"] for r in rows)
    assert len(patterns) >= 2
    common, _ = patterns.most_common(1)[0]
    for spelling in (common, common.lower()):  # pattern names are matched without regard to case
        results = everything(built.dir, data, "--pattern", spelling)
        assert {r["id"] for r in results} == {r["id"] for r in rows if r["pattern"] == common}
        assert all(r["pattern"] == common for r in results)


def test_unknown_filter_field_is_named():
    with pytest.raises(InputError, match="colour") as caught:
        filters_from({"colour": "red"})
    assert "lot" in str(caught.value)  # and the known fields are listed
    assert filters_from({"lot": "L1", "min_yield": 0.5}).lot == "L1"
    with pytest.raises(InputError, match="min-yield"):
        filters_from({"min_yield": 2})


@pytest.mark.parametrize(("flags", "says"), [
    (["--since", "yesterday"], "yesterday"),
    (["--until", "05/06/2001"], "05/06/2001"),
    (["--min-yield", "1.5"], "min-yield"),
    (["--max-yield=-0.1"], "max-yield"),
    (["--pattern", "spiral"], "spiral"),
])
def test_bad_filter_values_are_user_errors(built, flags, says):
    assert says in user_error("search", "--index", built.dir, "edge ring", *flags)


def test_bad_filter_values_are_refused_by_remove_too(index_copy, data):
    assert "yesterday" in user_error("index", "remove", "--index", index_copy, "--since", "yesterday")
    assert "min-yield" in user_error("index", "remove", "--index", index_copy, "--min-yield", "7")
    assert WaferIndex.open(index_copy).count() == len(data.entries)


# --- 4. queries --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [("edge ring", "Edge-Ring"), ("center", "Center")])
def test_text_query_finds_its_pattern(built, data, text, label):
    results = ok("search", "--index", built.dir, text, "-k", 10, "--no-maps")["results"]
    hits = sum(data.entries[r["id"]].label == label for r in results)
    # 30 of the 62 entries carry the label: drawing 10 at random gives 4.8 on average and 8 or more with
    # probability 0.03 (hypergeometric), so 8 of 10 is well above chance.
    assert hits >= 8, [data.entries[r["id"]].label for r in results]


def _example(data: Data, label: str) -> Expected:
    return next(e for e in sorted(data.entries.values(), key=lambda e: e.id) if e.label == label)


def test_like_a_file_finds_its_kind_and_leaves_itself_out(built, data):
    example = _example(data, "Edge-Ring")
    document = ok("search", "--index", built.dir, "--like", example.source, "-k", 10, "--no-maps")
    results = document["results"]
    assert document["query"]["excluded"] == example.id and example.id not in ids_of(results)
    assert len(results) == 10
    assert sum(data.entries[r["id"]].label == "Edge-Ring" for r in results) >= 8  # chance: see the text test


def test_like_id_is_the_same_query_as_like_its_file(built, data):
    example = _example(data, "Center")
    everyone_else = len(data.entries) - 1
    by_id = ok("search", "--index", built.dir, "--like-id", example.id, "-k", everyone_else, "--no-maps")["results"]
    by_file = ok("search", "--index", built.dir, "--like", example.source, "-k", everyone_else, "--no-maps")["results"]
    assert example.id not in ids_of(by_id) and sorted(ids_of(by_id)) == sorted(data.ids() - {example.id})
    assert set(ids_of(by_id)) == set(ids_of(by_file))
    scores = {r["id"]: r["score"] for r in by_file}
    assert [r["score"] for r in by_id] == pytest.approx([scores[r["id"]] for r in by_id], abs=1e-5)


def test_a_composed_query_moves_the_example_toward_the_text(built, data):
    from fabsight.models.dual_encoder import load_dual_encoder

    example = _example(data, "Edge-Ring")
    like = ok("search", "--index", built.dir, "--like", example.source, "-k", 10, "--no-maps")["results"]
    composed = ok("search", "--index", built.dir, "--like", example.source, "center", "-k", 10, "--no-maps")
    assert composed["query"]["excluded"] == example.id
    assert ids_of(composed["results"]) != ids_of(like)
    # The scores are cosine similarity to the renormalised sum of the example's and the text's unit vectors.
    encoder = load_dual_encoder("wafer-clip")
    combined = encoder.embed_wafers([example.wafer])[0] + 1.0 * encoder.embed_texts(["center"])[0]
    combined /= np.linalg.norm(combined)
    vectors = {r["id"]: np.asarray(r["vector"]) for r in stored_rows(built.dir)}
    for result in composed["results"]:
        assert result["score"] == pytest.approx(float(vectors[result["id"]] @ combined), abs=1e-4)
    # With the text weighing more, the results follow the text: mostly centre clusters.
    heavy = ok("search", "--index", built.dir, "--like", example.source, "center", "--text-weight", 5, "-k", 10,
               "--no-maps")["results"]
    assert sum(data.entries[r["id"]].label == "Center" for r in heavy) >= 8
    assert sum(data.entries[r["id"]].label == "Center" for r in heavy) > \
           sum(data.entries[r["id"]].label == "Center" for r in like)


def test_like_id_by_a_unique_wafer_id(built, data):
    stdf = data.by_source(str(data.stdf[0].resolve()))
    document = ok("search", "--index", built.dir, "--like-id", stdf.wafer.wafer_id, "-k", 5, "--no-maps")
    assert document["query"]["excluded"] == stdf.id and stdf.id != stdf.wafer.wafer_id
    assert len(document["results"]) == 5 and stdf.id not in ids_of(document["results"])


def test_like_id_by_an_ambiguous_wafer_id_lists_the_ids(index_copy, data, tmp_path):
    from dataclasses import replace

    from fabsight.wafer.npz import save_npz

    original = _example(data, "Center")
    twin = save_npz(replace(original.wafer, lot="another-lot"), tmp_path / "twin.npz")
    ok("index", "add", "--index", index_copy, twin)
    line = user_error("search", "--index", index_copy, "--like-id", original.wafer.wafer_id)
    assert original.id in line and f"another-lot/{original.wafer.wafer_id}" in line
    assert "no entry" in user_error("search", "--index", index_copy, "--like-id", "no-such-wafer")


def test_wafers_without_lot_and_id_are_keyed_by_file_and_place(index_copy, data, tmp_path):
    stack = tmp_path / "stack.npy"
    grids = [e.wafer.grid[:20, :20] for e in sorted(data.entries.values(), key=lambda e: e.id)[:2]]
    np.save(stack, np.stack(grids))
    wafers = fabsight.load(stack)
    assert len(wafers) == 2 and not any(w.lot or w.wafer_id for w in wafers)
    added = ok("index", "add", "--index", index_copy, stack)
    assert added["new"] == 2
    keys = [f"{stack.resolve()}#{n}" for n in range(2)]
    stored = {r["id"]: r for r in stored_rows(index_copy) if r["source"] == str(stack.resolve())}
    assert sorted(stored) == keys
    for key, grid in zip(keys, grids):
        np.testing.assert_array_equal(unpack_grid(stored[key]["grid"], 20, 20), grid)
    run = cli("search", "--index", index_copy, "--like", stack, "-k", 5, "--no-maps", "--json")
    assert run.code == 0 and "holds 2 wafers" in run.err  # which wafer of the file was used is said
    assert run.json["query"]["excluded"] == keys[0] and keys[0] not in ids_of(run.json["results"])
    again = ok("index", "add", "--index", index_copy, stack)  # the same file again: same keys, no duplicates
    assert (again["new"], again["updated"]) == (0, 2)


def test_like_wafer_picks_a_wafer_of_the_like_file(built, data):
    stdf = data.by_source(str(data.stdf[1].resolve()))
    document = ok("search", "--index", built.dir, "--like", data.stdf[1], "--like-wafer", stdf.wafer.wafer_id,
                  "-k", 3, "--no-maps")
    assert document["query"]["excluded"] == stdf.id
    assert "nope" in user_error("search", "--index", built.dir, "--like", data.stdf[1], "--like-wafer", "nope")


def test_an_example_with_no_on_wafer_dies_is_refused(built, tmp_path):
    np.save(tmp_path / "blank.npy", np.zeros((30, 30), np.uint8))
    assert "no on-wafer dies" in user_error("search", "--index", built.dir, "--like", tmp_path / "blank.npy")


# --- 5. bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "says"), [
    (["", "--no-maps"], "empty"),
    (["   "], "empty"),
    ([], "say what to look for"),
    (["--like-wafer", "W1"], "--like"),
    (["--like", "x.npz", "--like-id", "a"], "do not go together"),
    (["edge ring", "-k", "0"], "--top"),
])
def test_bad_queries_are_user_errors(built, args, says):
    assert says in user_error("search", "--index", built.dir, *args)


def test_missing_index_folder(tmp_path):
    missing = tmp_path / "no-index"
    for args in (["search", "--index", missing, "edge ring"], ["index", "info", "--index", missing],
                 ["index", "remove", "--index", missing, "--all"]):
        line = user_error(*args)
        assert str(missing) in line and "no such index folder" in line
    assert not missing.exists()  # looking never makes one
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no wafer index here" in user_error("search", "--index", empty, "edge ring")
    assert list(empty.iterdir()) == []


def test_an_index_path_that_is_a_file(tmp_path, data):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not an index")
    for args in (["search", "--index", blocker, "edge ring"], ["index", "info", "--index", blocker],
                 ["index", "add", "--index", blocker, data.stdf[0]]):
        line = user_error(*args)
        assert str(blocker) in line and "is a file" in line
    assert blocker.read_text() == "a file, not an index"


def test_bad_add_options_are_refused_before_anything_is_made(tmp_path, data):
    index = tmp_path / "index"
    assert "--workers" in user_error("index", "add", "--index", index, "--ray", "--workers", -1, data.stdf[0])
    assert "batch-size" in user_error("index", "add", "--index", index, "--batch-size", 0, data.stdf[0])
    assert not index.exists()


def test_an_over_long_query_is_cut_with_a_warning(built):
    run = cli("search", "--index", built.dir, "edge ring " * 300, "-k", 3, "--no-maps", "--json")
    assert run.code == 0, run.err
    assert len(run.json["results"]) == 3
    assert "warning" in run.err and "cut" in run.err


def test_a_bad_file_among_the_inputs_is_reported_and_the_rest_indexed(tmp_path, data):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not a zip archive")
    run = cli("index", "add", "--index", tmp_path / "index", data.stdf[0], junk, "--json")
    assert run.code == 2 and str(junk) in run.err
    document = run.json
    assert [e["source"] for e in document["errors"]] == [str(junk)]
    assert document["count"] == len(fabsight.load(data.stdf[0]))


def test_an_index_made_by_another_model_refuses_it(index_copy, data, tiny_siglip_folder):
    before = WaferIndex.open(index_copy).table.version
    line = user_error("index", "add", "--index", index_copy, "--model", tiny_siglip_folder, data.stdf[0])
    assert "wafer-clip" in line and str(tiny_siglip_folder) in line
    assert WaferIndex.open(index_copy).table.version == before  # nothing written
    for query in (["edge ring"], ["--like", data.stdf[0]]):
        line = user_error("search", "--index", index_copy, *query, "--model", tiny_siglip_folder)
        assert "wafer-clip" in line and str(tiny_siglip_folder) in line


# --- 6. durability ----------------------------------------------------------------------------------
def _count_now(index: Path) -> int | None:
    try:
        return WaferIndex.open(index).count()
    except Exception:  # noqa: BLE001 - not made yet, or caught between its first files: any failure means "not yet"
        return None


def _start_and_kill(folder: Path, index: Path, log: Path, deadline_s: float = 120.0) -> tuple[int, int]:
    """Start `index add` in a process, kill it (SIGKILL) once a batch is committed; (count seen, return code)."""
    command = [sys.executable, "-m", "fabsight", "index", "add", "--index", str(index), "--batch-size", "8",
               str(folder)]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + deadline_s
            seen = None
            while process.poll() is None and time.monotonic() < deadline:
                seen = _count_now(index)
                if seen:
                    break
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert time.monotonic() < deadline, f"index add made no entry in {deadline_s} s: {log.read_text()[-2000:]}"
    return seen or 0, process.returncode


def test_a_killed_add_leaves_a_readable_index_and_a_rerun_completes_it(tmp_path):
    index = tmp_path / "index"
    n = 150
    for attempt in range(3):
        folder = generate("any", n, 100 + attempt, tmp_path / f"maps-{attempt}")
        expected = expected_entries([folder], {})
        shutil.rmtree(index, ignore_errors=True)
        log = tmp_path / f"log-{attempt}.txt"
        seen, code = _start_and_kill(folder, index, log)
        assert code in (0, -signal.SIGKILL), f"index add failed by itself ({code}): {log.read_text()[-2000:]}"
        after = WaferIndex.open(index).count()
        if code == -signal.SIGKILL and after < len(expected):
            break
        n *= 2  # it finished before the kill landed: give it more to do
    else:
        pytest.fail("index add finished every time before it could be killed")
    assert code == -signal.SIGKILL and 0 < seen <= after < len(expected)  # killed part way, after a commit

    rows = stored_rows(index)  # every entry kept is whole
    assert len(rows) == after and len({r["id"] for r in rows}) == after
    for row in rows:
        np.testing.assert_array_equal(unpack_grid(row["grid"], row["rows"], row["cols"]),
                                      expected[row["id"]].wafer.grid)
        assert np.isfinite(row["vector"]).all() and np.linalg.norm(row["vector"]) == pytest.approx(1, abs=1e-4)
    found = ok("search", "--index", index, "edge ring", "-k", after)["results"]
    assert sorted(ids_of(found)) == sorted(r["id"] for r in rows)
    assert all(Path(r["map"]).is_file() for r in found)

    # The same command again, run to the end: the finished part becomes updates, the rest is added.
    rerun = ok("index", "add", "--index", index, "--batch-size", 8, folder)
    assert (rerun["count"], rerun["new"], rerun["updated"]) == (len(expected), len(expected) - after, after)
    ids = [r["id"] for r in stored_rows(index)]
    assert len(ids) == len(set(ids)) and set(ids) == set(expected)


# --- 7. Ray --------------------------------------------------------------------------------------------
def test_ray_builds_the_same_index_as_one_process(built, data, tmp_path):
    ray_index = tmp_path / "ray-index"
    document = ok("index", "add", "--index", ray_index, "--ray", "--workers", 2, *data.inputs)
    assert document["ray"]["workers"] == 2 and document["ray"]["shards"] > 1
    assert document["count"] == document["new"] == len(data.entries) and document["errors"] == []
    one = {r["id"]: r for r in stored_rows(built.dir)}
    many = {r["id"]: r for r in stored_rows(ray_index)}
    assert sorted(many) == sorted(one) == sorted(data.entries)
    for key, row in many.items():
        other = one[key]
        for column in ("lot", "wafer_id", "product", "pattern", "source", "index", "test_time", "label", "dies",
                       "fails", "grid", "rows", "cols"):
            assert row[column] == other[column], (key, column)
        assert row["yield"] == pytest.approx(other["yield"]) and row["confidence"] == pytest.approx(
            other["confidence"], abs=1e-4)
        np.testing.assert_allclose(row["vector"], other["vector"], atol=1e-5)
    assert ok("index", "info", "--index", ray_index)["model"] == ok("index", "info", "--index", built.dir)["model"]
