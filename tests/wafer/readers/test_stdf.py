"""The STDF V4 reader: real files against an independent pystdf oracle, exact behaviour on
synthetic files written here, and damaged input of every kind."""

from __future__ import annotations

import gzip
import struct
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fabsight
from fabsight import FAIL, OFF, PASS, FabsightWarning, InputError, Orientation
from fabsight.wafer.map import NO_BIN
from fabsight.wafer.readers import LoadOptions, detect, read_head, stdf, stdf_records

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "stdf"
REAL_FILES = ["lot2.stdf.gz", "lot3.stdf.gz"]


def real_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"shared STDF data not found at {path}")
    return path


def read_quietly(path: Path) -> tuple[list, list[warnings.WarningMessage]]:
    """Read with every warning recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wafers = stdf.read(path, LoadOptions())
    return wafers, caught


# --- the oracle: pystdf, with last-wins applied here ---------------------------------------
@dataclass
class OracleWafer:
    wafer_id: str | None
    start_t: int
    dies: dict[tuple[int, int], tuple[int, int, bool]] = field(default_factory=dict)  # (x, y) -> hard, soft, fail
    prr_count: int = 0
    wrr: dict | None = None


@dataclass
class Oracle:
    mir: dict
    wcr: dict | None
    wafers: list[OracleWafer]


def pystdf_oracle(path: Path) -> Oracle:
    pystdf_io = pytest.importorskip("pystdf.IO")
    from pystdf import V4

    records: list[tuple[str, dict]] = []

    class Sink:
        def after_send(self, source, data):
            rec_type, values = data
            records.append((type(rec_type).__name__, dict(zip(rec_type.fieldNames, values))))

    with gzip.open(path, "rb") as handle:
        parser = pystdf_io.Parser(inp=handle, recTypes=V4.records)
        parser.addSink(Sink())
        parser.parse()

    mir, wcr, wafers, current = {}, None, [], None
    for name, rec in records:
        if name == "Mir":
            mir = rec
        elif name == "Wcr":
            wcr = rec
        elif name == "Wir":
            current = OracleWafer(rec["WAFER_ID"], rec["START_T"])
            wafers.append(current)
        elif name == "Prr" and current is not None:
            current.prr_count += 1
            flag = rec["PART_FLG"]
            fail = rec["HARD_BIN"] != 1 if flag & 0x10 else bool(flag & 0x08)
            current.dies[(rec["X_COORD"], rec["Y_COORD"])] = (rec["HARD_BIN"], rec["SOFT_BIN"], fail)  # last wins
        elif name == "Wrr" and current is not None:
            current.wrr = rec
            current = None
    return Oracle(mir, wcr, wafers)


@pytest.fixture(scope="module", params=REAL_FILES)
def real(request) -> tuple[Path, Oracle, list]:
    path = real_file(request.param)
    wafers, caught = read_quietly(path)
    assert not caught, [str(w.message) for w in caught]  # a good file reads without a warning
    return path, pystdf_oracle(path), wafers


def test_real_files_match_pystdf(real):
    path, oracle, wafers = real
    assert [w.wafer_id for w in wafers] == [o.wafer_id for o in oracle.wafers]
    for wafer, expected in zip(wafers, oracle.wafers):
        fails = sum(fail for _, _, fail in expected.dies.values())
        assert wafer.dies == len(expected.dies)
        assert wafer.fails == fails
        assert wafer.yield_ == pytest.approx((len(expected.dies) - fails) / len(expected.dies))
        assert wafer.lot == oracle.mir["LOT_ID"]
        assert wafer.product == oracle.mir["PART_TYP"]
        assert wafer.tester == oracle.mir["NODE_NAM"]
        assert wafer.extra["tester_type"] == oracle.mir["TSTR_TYP"]
        assert wafer.orientation == Orientation(oracle.wcr["POS_X"], oracle.wcr["POS_Y"], oracle.wcr["WF_FLAT"])
        # STDF times count seconds from 1970 in the tester's own time zone: a naive wall-clock time.
        assert wafer.test_time == datetime(1970, 1, 1) + timedelta(seconds=expected.start_t)
        assert wafer.source == str(path) and wafer.complete


def test_real_files_bins_per_coordinate(real):
    _, oracle, wafers = real
    for wafer, expected in zip(wafers, oracle.wafers):
        rows, cols = np.nonzero(wafer.grid != OFF)
        got = {(int(c) + wafer.x_origin, int(r) + wafer.y_origin):
               (int(wafer.hard_bins[r, c]), int(wafer.soft_bins[r, c]), bool(wafer.grid[r, c] == FAIL))
               for r, c in zip(rows, cols)}
        assert got == expected.dies
        assert np.all(wafer.hard_bins[wafer.grid == OFF] == NO_BIN)


def test_real_files_wrr_counts(real):
    _, oracle, wafers = real
    for wafer, expected in zip(wafers, oracle.wafers):
        wrr = wafer.extra["wrr"]
        # These files' PART_CNT counts every PRR, retests included, so it matches parts tested, not dies.
        assert wrr["part_count"] == expected.wrr["PART_CNT"] == expected.prr_count == wafer.extra["parts_tested"]
        assert wafer.extra["retests"] == expected.prr_count - len(expected.dies)
        # The tester leaves RTST_CNT at 0 and never sets the PRR retest flags although dies were
        # retested (retests > 0 above): only the coordinates reveal them. GOOD_CNT is "missing" (2**32-1).
        assert wrr["retest_count"] == expected.wrr["RTST_CNT"]
        good = expected.wrr["GOOD_CNT"]
        assert wrr["good_count"] == (None if good == 0xFFFFFFFF else good)
        if wrr["good_count"] is not None:
            assert wrr["good_count"] == wafer.passes


def test_public_entry_point_routes_stdf(real):
    path, _, wafers = real
    assert detect(path).name == "stdf"
    loaded = fabsight.load(path)
    assert len(loaded) == len(wafers)
    for a, b in zip(loaded, wafers):
        assert np.array_equal(a.grid, b.grid) and np.array_equal(a.hard_bins, b.hard_bins)
        assert a.metadata() == b.metadata()


def test_plain_copy_reads_the_same(real, tmp_path):
    path, _, wafers = real
    plain = tmp_path / "log.stdf"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    again, _ = read_quietly(plain)
    assert [w.wafer_id for w in again] == [w.wafer_id for w in wafers]
    for a, b in zip(again, wafers):
        assert np.array_equal(a.grid, b.grid) and np.array_equal(a.soft_bins, b.soft_bins)


# --- a tiny STDF writer --------------------------------------------------------------------
class Writer:
    """Just enough STDF V4 to test the reader: records in either byte order, offsets remembered."""

    def __init__(self, endian: str = "<", cpu_type: int | None = None) -> None:
        self.e = endian
        self.data = bytearray()
        self.ends: list[tuple[str, int, object]] = []  # (record name, offset just after it, what it says)
        self.record("FAR", 0, 10, bytes([cpu_type if cpu_type is not None else (2 if endian == "<" else 1), 4]))

    def pack(self, fmt: str, *values) -> bytes:
        return struct.pack(self.e + fmt, *values)

    @staticmethod
    def cn(text: str) -> bytes:
        raw = text.encode()
        return bytes([len(raw)]) + raw

    def record(self, name: str, typ: int, sub: int, body: bytes, says: object = None) -> Writer:
        self.data += self.pack("HBB", len(body), typ, sub) + body
        self.ends.append((name, len(self.data), says))
        return self

    def end_of(self, name: str, index: int = 0) -> int:
        return [end for n, end, _ in self.ends if n == name][index]

    def mir(self, lot="LOT1", part="PART-A", node="tester-7", tester_type="T2000", start_t=1_700_000_000):
        body = self.pack("IIB", start_t - 60, start_t, 1) + b"P  " + self.pack("H", 65535) + b" "
        body += b"".join(self.cn(s) for s in (lot, part, node, tester_type, "job", "3", "", "op"))
        return self.record("MIR", 1, 10, body)

    def wcr(self, flat=b"D", pos_x=b"R", pos_y=b"U"):
        return self.record("WCR", 2, 30, self.pack("fffB", 300.0, 5.0, 5.0, 3) + flat
                           + self.pack("hh", 0, 0) + pos_x + pos_y)

    def wir(self, wafer_id: str, head=1, start_t=1_700_000_100):
        return self.record("WIR", 2, 10, self.pack("BBI", head, 255, start_t) + self.cn(wafer_id), wafer_id)

    def wrr(self, wafer_id: str, parts: int, head=1, good=0xFFFFFFFF):
        body = self.pack("BBIIIIII", head, 255, 1_700_000_900, parts, 0, 0xFFFFFFFF, good, 0xFFFFFFFF)
        return self.record("WRR", 2, 20, body + self.cn(wafer_id))

    def part(self, x: int, y: int, hard: int, soft: int | None = None, flags: int | None = None, head=1):
        """A PIR, one PTR and the PRR of one die (bin 1 passes unless `flags` says otherwise)."""
        flags = (0 if hard == 1 else 0x08) if flags is None else flags
        self.record("PIR", 5, 10, self.pack("BB", head, 0))
        self.record("PTR", 15, 10, self.pack("IBBBBf", 1000, head, 0, 0, 0, 1.25) + self.cn("vdd") + self.cn(""))
        body = self.pack("BBBHHHhhI", head, 0, flags, 1, hard, hard if soft is None else soft, x, y, 12)
        return self.record("PRR", 5, 20, body + self.cn("1") + self.cn("") + b"\x00", (x, y, hard))

    def mrr(self):
        return self.record("MRR", 1, 20, self.pack("I", 1_700_001_000))

    def save(self, path: Path, compress: bool = False) -> Path:
        path.write_bytes(gzip.compress(bytes(self.data)) if compress else bytes(self.data))
        return path


# Three small wafers: a pattern per wafer, a retest in wafer A, negative coordinates in wafer C.
WAFERS = {
    "W-A": [(0, 0, 1), (1, 0, 5), (2, 0, 1), (0, 1, 1), (1, 1, 1), (2, 1, 7), (1, 0, 1)],  # (1, 0) retested: pass
    "W-B": [(0, 0, 3), (1, 0, 1), (1, 1, 1), (0, 1, 1), (0, 1, 4)],  # (0, 1) retested: fail bin 4
    "W-C": [(-2, -3, 1), (-1, -3, 1), (-2, -2, 9)],
}


def expected_dies(parts) -> dict[tuple[int, int], int]:
    return {(x, y): hard for x, y, hard in parts}  # dict assignment: the last result wins


def write_log(endian="<", wcr=True, wafers=WAFERS, mrr=True) -> Writer:
    w = Writer(endian).mir()
    if wcr:
        w.wcr()
    for wafer_id, parts in wafers.items():
        w.wir(wafer_id)
        for x, y, hard in parts:
            w.part(x, y, hard)
        w.wrr(wafer_id, len(parts))
    return w.mrr() if mrr else w


def as_dies(wafer) -> dict[tuple[int, int], int]:
    rows, cols = np.nonzero(wafer.grid != OFF)
    return {(int(c) + wafer.x_origin, int(r) + wafer.y_origin): int(wafer.hard_bins[r, c])
            for r, c in zip(rows, cols)}


@pytest.mark.parametrize("endian", ["<", ">"])
def test_synthetic_both_byte_orders(tmp_path, endian):
    wafers, caught = read_quietly(write_log(endian).save(tmp_path / "log.stdf"))
    assert not caught
    assert [w.wafer_id for w in wafers] == list(WAFERS)
    for wafer, parts in zip(wafers, WAFERS.values()):
        dies = expected_dies(parts)
        assert as_dies(wafer) == dies
        assert wafer.fails == sum(hard != 1 for hard in dies.values())
        assert wafer.extra["retests"] == len(parts) - len(dies)
        assert wafer.extra["parts_tested"] == wafer.extra["wrr"]["part_count"] == len(parts)
        assert (wafer.lot, wafer.product, wafer.tester) == ("LOT1", "PART-A", "tester-7")
        assert wafer.extra["tester_type"] == "T2000"
        assert wafer.orientation == Orientation("R", "U", "D")
        assert wafer.complete
        assert wafer.test_time.year == 2023
    assert wafers[0].extra["byte_order"] == ("little" if endian == "<" else "big")


def test_grid_convention_and_retests(tmp_path):
    wafers, _ = read_quietly(write_log().save(tmp_path / "log.stdf"))
    a, b, c = wafers
    assert (a.x_origin, a.y_origin, a.shape) == (0, 0, (2, 3))
    assert a.grid[0, 1] == PASS and a.hard_bins[0, 1] == 1  # bin 5 then a passing retest
    assert a.grid[1, 2] == FAIL and a.hard_bins[1, 2] == 7  # die (2, 1) at grid[1, 2]
    assert b.grid[1, 0] == FAIL and b.hard_bins[1, 0] == 4  # pass then a failing retest
    assert (c.x_origin, c.y_origin, c.shape) == (-2, -3, (2, 2))
    assert c.grid[1, 1] == OFF and c.hard_bins[1, 1] == NO_BIN  # no PRR at (-1, -2)
    assert c.grid[1, 0] == FAIL and c.hard_bins[1, 0] == 9  # die (-2, -2)


def test_missing_or_blank_wcr_gives_default_orientation(tmp_path):
    wafers, _ = read_quietly(write_log(wcr=False).save(tmp_path / "none.stdf"))
    assert wafers[0].orientation == Orientation() and not wafers[0].extra["orientation_from_wcr"]
    w = Writer().mir().wcr(flat=b" ", pos_x=b" ", pos_y=b"D").wir("W").part(0, 0, 1).wrr("W", 1)
    wafers, _ = read_quietly(w.save(tmp_path / "blank.stdf"))
    assert wafers[0].orientation == Orientation("R", "D", None)


def test_pass_fail_flag_invalid_falls_back_to_hard_bin(tmp_path):
    w = Writer().mir().wir("W")
    w.part(0, 0, hard=1, flags=0x10 | 0x08)  # flag says fail but is marked invalid: bin 1 passes
    w.part(1, 0, hard=3, flags=0x10)  # invalid flag, bin 3: fail
    w.part(2, 0, hard=3, flags=0x00)  # valid flag says pass: the flag wins over the bin
    wafers, _ = read_quietly(w.wrr("W", 3).save(tmp_path / "log.stdf"))
    assert wafers[0].grid.tolist() == [[PASS, FAIL, PASS]]
    assert wafers[0].extra["pass_fail_from_bin"] == 2


def test_unknown_coordinates_skipped_with_one_warning(tmp_path):
    w = Writer().mir().wir("W").part(0, 0, 1)
    for _ in range(3):
        w.part(-32768, -32768, 5)
    w.part(1, -32768, 5).wrr("W", 5)
    wafers, caught = read_quietly(w.save(tmp_path / "log.stdf"))
    assert as_dies(wafers[0]) == {(0, 0): 1}
    messages = [str(c.message) for c in caught if "unknown die coordinates" in str(c.message)]
    assert len(messages) == 1 and "4 part result" in messages[0]
    assert all(issubclass(c.category, FabsightWarning) for c in caught)


def test_final_test_log_without_wafers_is_an_input_error(tmp_path):
    w = Writer().mir()
    for _ in range(4):
        w.part(-32768, -32768, 1)
    with pytest.raises(InputError, match="no wafer records"):
        stdf.read(w.mrr().save(tmp_path / "ft.stdf"), LoadOptions())


def test_part_results_outside_a_wafer_are_skipped_with_a_warning(tmp_path):
    w = Writer().mir().part(5, 5, 1).wir("W").part(0, 0, 1).wrr("W", 1).part(6, 6, 1)
    wafers, caught = read_quietly(w.save(tmp_path / "log.stdf"))
    assert as_dies(wafers[0]) == {(0, 0): 1}
    assert any("2 part result(s) (PRR) outside any wafer" in str(c.message) for c in caught)


def test_wafer_without_wrr_is_incomplete(tmp_path):
    w = Writer().mir().wir("W1").part(0, 0, 1).wir("W2").part(0, 0, 2).wrr("W2", 1)
    wafers, caught = read_quietly(w.save(tmp_path / "log.stdf"))
    assert [(x.wafer_id, x.complete) for x in wafers] == [("W1", False), ("W2", True)]
    assert any("no end record" in str(c.message) for c in caught)


def test_two_heads_testing_two_wafers_at_once(tmp_path):
    w = Writer().mir().wir("H1", head=1).wir("H2", head=2)
    w.part(0, 0, 1, head=1).part(0, 0, 4, head=2).part(1, 0, 5, head=1).part(1, 0, 1, head=2)
    w.wrr("H1", 2, head=1).part(2, 0, 1, head=2).wrr("H2", 3, head=2)
    wafers, caught = read_quietly(w.save(tmp_path / "log.stdf"))
    assert not caught
    assert [(x.wafer_id, x.extra["head"], as_dies(x)) for x in wafers] == [
        ("H1", 1, {(0, 0): 1, (1, 0): 5}), ("H2", 2, {(0, 0): 4, (1, 0): 1, (2, 0): 1})]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    log = write_log()
    hidden_gzip = log.save(tmp_path / "log.stdf", compress=True)  # gzip without .gz
    plain_named_gz = log.save(tmp_path / "log.stdf.gz")  # plain bytes named .gz
    for path in (hidden_gzip, plain_named_gz):
        assert stdf.sniff(read_head(path))
        wafers, caught = read_quietly(path)
        assert not caught and [w.wafer_id for w in wafers] == list(WAFERS)


def test_multi_member_gzip(tmp_path):
    raw = bytes(write_log().data)
    cut = len(raw) // 2
    path = tmp_path / "log.stdf.gz"
    path.write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
    wafers, caught = read_quietly(path)
    assert not caught and [as_dies(w) for w in wafers] == [expected_dies(p) for p in WAFERS.values()]


def big_log_wafers(count: int = 6, side: int = 16) -> dict[str, list[tuple[int, int, int]]]:
    """Wafers big enough (a few hundred kB in all) that reading crosses many buffer boundaries."""
    return {f"B{i}": [(x, y, 1 + (x * 7 + y * 3 + i) % 4) for y in range(side) for x in range(side)]
            + [(i, i, 2)] for i in range(count)}


@pytest.mark.parametrize("how", ["mapped", "chunked", "gzip"])
def test_buffer_boundaries_do_not_matter(tmp_path, monkeypatch, how):
    wafers = big_log_wafers()
    path = write_log(wafers=wafers).save(tmp_path / "big.stdf", compress=how == "gzip")
    small_buffers(monkeypatch, how)
    got, caught = read_quietly(path)
    assert not caught
    assert [as_dies(w) for w in got] == [expected_dies(p) for p in wafers.values()]


def test_vendor_and_empty_records_are_skipped_quietly(tmp_path):
    w = Writer().mir().record("vendor", 180, 7, b"\x01\x02\x03").record("empty", 50, 10, b"")
    w.wir("W").record("vendor", 181, 0, b"").part(0, 0, 1).record("GDR", 50, 10, b"").wrr("W", 1)
    wafers, caught = read_quietly(w.save(tmp_path / "log.stdf"))
    assert not caught and as_dies(wafers[0]) == {(0, 0): 1}


def test_sniff():
    assert stdf.sniff(b"\x02\x00\x00\x0a\x02\x04")
    assert stdf.sniff(b"\x00\x02\x00\x0a\x01\x04")
    assert not stdf.sniff(b"")
    assert not stdf.sniff(b"\x00" * 64)
    assert not stdf.sniff(b"x,y,bin\n0,0,1\n")
    assert not stdf.sniff(b"\x89PNG\r\n\x1a\n")


def test_other_stdf_versions_are_refused_clearly(tmp_path):
    path = tmp_path / "v3.stdf"
    path.write_bytes(b"\x02\x00\x00\x0a\x02\x03" + bytes(40))
    with pytest.raises(InputError, match="version 3"):
        stdf.read(path, LoadOptions())


def test_cpu_type_that_contradicts_the_byte_order_is_noted(tmp_path):
    w = Writer("<", cpu_type=1).mir().wir("W").part(0, 0, 1).wrr("W", 1)
    wafers, caught = read_quietly(w.save(tmp_path / "log.stdf"))
    assert as_dies(wafers[0]) == {(0, 0): 1}
    assert any("CPU_TYPE" in str(c.message) for c in caught)


def test_short_prr_counts_as_unknown_position(tmp_path):
    w = Writer().mir().wir("W").part(0, 0, 1).record("PRR", 5, 20, b"\x01\x00\x08").wrr("W", 2)
    wafers, caught = read_quietly(w.save(tmp_path / "log.stdf"))
    assert as_dies(wafers[0]) == {(0, 0): 1} and wafers[0].extra["parts_tested"] == 2
    assert any("unknown die coordinates" in str(c.message) for c in caught)


# --- damage ------------------------------------------------------------------------------
def _expect_prefix(log: Writer, cut: int) -> list[tuple[str, bool, dict]]:
    """What a file cut at `cut` must give: wafers begun before it, their whole records, last wins."""
    result = []
    for name, end, says in log.ends:
        if end > cut:
            break
        if name == "WIR":
            result.append([says, False, {}])
        elif name == "PRR" and result:
            x, y, hard = says
            result[-1][2][(x, y)] = hard
        elif name == "WRR" and result:
            result[-1][1] = True
    return [(wafer_id, done, dies) for wafer_id, done, dies in result if dies]


def small_buffers(monkeypatch, how: str) -> None:
    """Odd small buffer sizes, so that records straddle every boundary of every kind."""
    monkeypatch.setattr(stdf_records, "CHUNK", 997)
    monkeypatch.setattr(stdf_records, "GZIP_IN_CHUNK", 331)
    monkeypatch.setattr(stdf_records._MappedFile, "window", 1009)
    if how == "chunked":  # as for a file that cannot be mapped: read in chunks instead
        def cannot_map(handle):
            raise OSError("cannot map")

        monkeypatch.setattr(stdf_records, "_MappedFile", cannot_map)


def check_cuts(log: Writer, cuts: list[int], folder: Path, compress: bool) -> None:
    raw = bytes(log.data)
    for cut in cuts:
        path = folder / "cut.stdf"
        path.write_bytes(gzip.compress(raw[:cut]) if compress else raw[:cut])
        expected = _expect_prefix(log, cut)
        if not expected:
            with pytest.raises(InputError):
                read_quietly(path)
            continue
        wafers, caught = read_quietly(path)
        got = [(w.wafer_id, w.complete, as_dies(w)) for w in wafers]
        assert got == expected, cut
        if not all(done for _, done, _ in expected):
            assert any(issubclass(c.category, FabsightWarning) for c in caught)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("compress", [False, True])
def test_truncated_synthetic_keeps_every_finished_record(tmp_path, compress):
    log = write_log()
    rng = np.random.default_rng(7)
    cuts = set(rng.integers(0, len(log.data), 40).tolist()) | {end for _, end, _ in log.ends}
    check_cuts(log, sorted(cuts), tmp_path, compress)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["mapped", "chunked", "gzip"])
def test_truncated_big_synthetic_with_small_buffers(tmp_path, monkeypatch, how):
    small_buffers(monkeypatch, how)
    log = write_log(wafers=big_log_wafers())
    rng = np.random.default_rng(8)
    ends = [end for _, end, _ in log.ends]
    cuts = set(rng.integers(0, len(log.data), 25).tolist()) | set(rng.choice(ends, 25).tolist())
    check_cuts(log, sorted(cuts), tmp_path, how == "gzip")


def _read_damaged(path: Path) -> list:
    """Damaged input may give wafers with warnings or an InputError, nothing else."""
    try:
        wafers, caught = read_quietly(path)
    except InputError as exc:
        assert str(exc)
        return []
    assert all(issubclass(c.category, FabsightWarning) for c in caught)
    for wafer in wafers:
        assert max(wafer.shape) <= stdf.MAX_SIDE
    return wafers


@pytest.mark.timeout(120)
def test_truncated_real_file(tmp_path):
    path = real_file("lot2.stdf.gz")
    raw = gzip.decompress(path.read_bytes())
    full = {(w.wafer_id): as_dies(w) for w in stdf.read(path, LoadOptions())}
    rng = np.random.default_rng(11)
    for cut in sorted(rng.integers(1, len(raw), 8).tolist()):
        cut_path = tmp_path / "cut.stdf"
        cut_path.write_bytes(raw[:cut])
        for wafer in _read_damaged(cut_path):
            assert not wafer.complete
            assert set(as_dies(wafer)) <= set(full[wafer.wafer_id])


@pytest.mark.timeout(120)
def test_flipped_bytes_real_file(tmp_path):
    raw = bytearray(gzip.decompress(real_file("lot3.stdf.gz").read_bytes()))
    rng = np.random.default_rng(5)
    for _ in range(6):
        damaged = bytearray(raw)
        for at in rng.integers(0, len(raw), 20):
            damaged[at] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / "flipped.stdf"
        path.write_bytes(damaged)
        _read_damaged(path)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "delete", "overwrite"]),
                          st.floats(0, 1), st.binary(min_size=1, max_size=12)), min_size=1, max_size=4)


@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(edits=EDITS, compress=st.booleans())
def test_random_damage_gives_wafers_or_input_error(tmp_path_factory, edits, compress):
    raw = bytearray(write_log().data)
    for kind, where, data in edits:
        at = int(where * len(raw))
        if kind == "flip" and at < len(raw):
            raw[at] ^= data[0] or 1
        elif kind == "cut":
            raw = raw[:at]
        elif kind == "insert":
            raw[at:at] = data
        elif kind == "delete":
            del raw[at:at + len(data)]
        else:
            raw[at:at + len(data)] = data
    path = tmp_path_factory.getbasetemp() / "fuzz.stdf"
    path.write_bytes(gzip.compress(bytes(raw)) if compress else bytes(raw))
    _read_damaged(path)


@pytest.mark.timeout(60)
def test_damaged_region_is_skipped_and_later_wafers_survive(tmp_path):
    log = write_log()
    raw = bytearray(log.data)
    wir_b = log.end_of("WRR")  # wafer B starts where the first WRR ends
    raw[wir_b:wir_b] = bytes(range(200, 256)) * 3  # junk between wafers A and B
    path = tmp_path / "junk.stdf"
    path.write_bytes(raw)
    wafers, caught = read_quietly(path)
    assert [as_dies(w) for w in wafers] == [expected_dies(p) for p in WAFERS.values()]
    assert any("damaged byte" in str(c.message) for c in caught)


@pytest.mark.timeout(60)
def test_garbage_record_length(tmp_path):
    log = write_log()
    raw = bytearray(log.data)
    ptr_start = log.end_of("PIR")  # the first PTR starts where the first PIR ends
    raw[ptr_start:ptr_start + 2] = b"\xff\xff"
    path = tmp_path / "len.stdf"
    path.write_bytes(raw)
    wafers, caught = read_quietly(path)
    # The length runs past the end of the file, so it cannot be right: the walker resyncs on the
    # next good records and loses only the PTR whose header was hit.
    assert [as_dies(w) for w in wafers] == [expected_dies(p) for p in WAFERS.values()]
    assert [str(c.message).split(": ", 1)[1] for c in caught] == [
        f"skipped 21 damaged byte(s) in 1 place(s), the first at byte {ptr_start}; records there were lost"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["default", "mapped", "chunked", "gzip"])
def test_garbage_record_length_mid_file_resyncs(tmp_path, monkeypatch, how):
    if how != "default":
        small_buffers(monkeypatch, how)
    big = {f"W{i}": [(x, y, 1 + (x * y) % 3) for x in range(12) for y in range(12)] for i in range(4)}
    log = write_log(wafers=big)
    raw = bytearray(log.data)
    ptr_start = log.end_of("PIR", 5)
    raw[ptr_start:ptr_start + 2] = struct.pack("<H", 3000)  # jumps into the middle of later records
    path = tmp_path / "len.stdf"
    path.write_bytes(gzip.compress(bytes(raw)) if how == "gzip" else raw)
    wafers, caught = read_quietly(path)
    assert [w.wafer_id for w in wafers] == list(big)
    assert all(as_dies(w) == expected_dies(p) for w, p in list(zip(wafers, big.values()))[1:])
    assert any("damaged byte" in str(c.message) for c in caught)


FAR = b"\x02\x00\x00\x0a\x02\x04"
JUNK = {"empty": b"", "zeros": b"\x00" * 5000, "far only": FAR, "far then zeros": FAR + b"\x00" * 5000,
        "text": b"garbage" * 700, "far then 0xff": FAR + b"\xff" * 3000, "gzip of zeros": gzip.compress(b"\x00" * 5000),
        "gzip cut in its header": gzip.compress(bytes(write_log().data))[:6]}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(JUNK))
def test_junk_is_an_input_error(tmp_path, name):
    path = tmp_path / "junk.stdf"
    path.write_bytes(JUNK[name])
    with pytest.raises(InputError):
        read_quietly(path)
    if JUNK[name] and JUNK[name].startswith(FAR):  # what fabsight.load routes to this reader
        with pytest.raises(InputError):
            fabsight.load(path)


@pytest.mark.timeout(60)
def test_corrupt_gzip_behaves_like_a_truncation(tmp_path):
    compressed = bytearray(real_file("lot2.stdf.gz").read_bytes())
    rng = np.random.default_rng(3)
    outcomes = set()
    for at in sorted(rng.integers(len(compressed) // 4, len(compressed) - 100, 6).tolist()):
        damaged = bytearray(compressed)
        damaged[at:at + 16] = bytes(16)
        path = tmp_path / "bad.stdf.gz"
        path.write_bytes(damaged)
        try:
            wafers, caught = read_quietly(path)
        except InputError:
            outcomes.add("error")
            continue
        assert any("gzip" in str(c.message) for c in caught)
        outcomes.add("partial" if not wafers[0].complete else "whole")
    assert "partial" in outcomes
    checksum = bytearray(compressed)
    checksum[-8] ^= 0xFF  # the CRC32 in the gzip trailer: all data decodes, the check fails
    bad_crc = tmp_path / "crc.stdf.gz"
    bad_crc.write_bytes(checksum)
    wafers, caught = read_quietly(bad_crc)
    assert wafers[0].complete and wafers[0].dies == stdf.read(real_file("lot2.stdf.gz")).pop().dies
    assert [str(c.message).split(": ", 1)[1] for c in caught] == [
        "the gzip checksum does not match: the data may be damaged"]
    cut = tmp_path / "cut.stdf.gz"
    cut.write_bytes(compressed[: len(compressed) * 3 // 4])
    wafers, caught = read_quietly(cut)
    assert not wafers[0].complete and any("gzip data ends early" in str(c.message) for c in caught)
