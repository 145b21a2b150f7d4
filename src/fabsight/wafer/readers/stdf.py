"""STDF V4 data logs (plain or gzip) → one `WaferMap` per wafer.

What is read (records named as in the STDF V4 spec):

- MIR: lot (LOT_ID), product (PART_TYP), tester (NODE_NAM; TSTR_TYP in `extra`), start time.
- WCR: orientation. POS_X / POS_Y give the directions of increasing X / Y
  and WF_FLAT where the flat or notch is; a blank (space) value is unknown
  and leaves the `Orientation` default.
- WIR … WRR: one wafer, on the test head named by HEAD_NUM (several heads
  may test wafers at once). The WRR's own counts go to `extra["wrr"]` for
  cross-checking; they are the tester's and need not match the map (some
  testers count retests in PART_CNT and leave RTST_CNT at 0).
- PRR: one die result (X_COORD, Y_COORD, HARD_BIN, SOFT_BIN, PART_FLG). The
  last result at a coordinate wins (a retest replaces the first test).
  PART_FLG bit 3 set = fail. When bit 4 says the pass/fail flag is invalid,
  hard bin 1 counts as pass and any other hard bin as fail (the common
  binning convention). X or Y of -32768 means unknown: such results are
  skipped and counted in one warning. SOFT_BIN 65535 (missing) is NO_BIN.

Die (x, y) sits at `grid[y - y_origin, x - x_origin]` in the file's own
coordinates; positions with no PRR are OFF. STDF times are seconds since
1970 in the tester's local time zone, so they become naive datetimes;
`test_time` is the wafer's WIR START_T (else the MIR's).

`extra` holds, per wafer: head, parts_tested (PRRs, retests included),
retests (results replaced by a later one at the same die), retest_flagged
(PRRs whose PART_FLG marks a retest), pass_fail_from_bin, abnormal_end,
wrr (the WRR's counts, ids and finish time; absent if the wafer never
ended), index (WIR order in the file); and per file: tester_type, job,
job_revision, sublot, operator, test_code, mode, station, temperature,
setup_time, lot_start_time, byte_order, wcr (wafer size, die size, units,
centre, where given), orientation_from_wcr.

Damage never raises a traceback: a file that is not STDF V4, or holds no
wafer (e.g. a final-test log, which has no WIR), raises `InputError`; a
truncated or partly corrupt file gives the wafers read so far, the
unfinished last one marked `complete=False`, and a `FabsightWarning`
saying what was lost (see `stdf_records` for how damaged records are
skipped).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fabsight.errors import FabsightWarning, InputError
from fabsight.wafer.map import FAIL, NO_BIN, OFF, PASS, Orientation, WaferMap
from fabsight.wafer.readers.stdf_records import (
    MISSING_BIN,
    MISSING_COORD,
    PRR_FIXED,
    Damage,
    Fields,
    RecordWalker,
    far_byte_order,
    open_source,
    prr_dtype,
    prr_padding,
)

if TYPE_CHECKING:
    from fabsight.wafer.readers import LoadOptions

WANTED = {"MIR", "WCR", "WIR", "WRR", "PRR"}
MAX_SIDE = 4096  # dies per grid side; a wider spread of coordinates means damaged PRRs
PART_FAILED, FLAG_INVALID, ABNORMAL_END, RETEST_BITS = 0x08, 0x10, 0x04, 0x03
U4_MISSING = 0xFFFFFFFF  # WRR counts use it for "not given"


def sniff(head: bytes) -> bool:
    """True when the data starts with an STDF FAR record (either byte order). Any STDF version is
    claimed so that a V3 file gets "version not supported" rather than "unknown format"."""
    return far_byte_order(head) is not None


# --- what the file says, record by record --------------------------------------------
@dataclass
class _Wafer:
    head: int
    wafer_id: str | None
    start_t: int | None
    prr: bytearray = field(default_factory=bytearray)  # packed PRR heads, PRR_FIXED bytes each
    wrr: dict[str, Any] | None = None


@dataclass
class _Log:
    """The file as read so far: header records, wafers in WIR order, and problems met."""

    endian: str
    mir: dict[str, Any] = field(default_factory=dict)
    wcr: dict[str, Any] | None = None
    wafers: list[_Wafer] = field(default_factory=list)
    open_wafers: dict[int, _Wafer] = field(default_factory=dict)  # by HEAD_NUM
    prr_by_head: dict[bytes, bytearray] = field(default_factory=dict)  # open wafers' PRR buffers, by HEAD_NUM byte
    orphan_prrs: int = 0  # PRRs with no wafer open
    orphan_wrrs: int = 0
    unclosed: int = 0  # wafers whose WRR never came (a new WIR on the same head, or end of data)

    def __post_init__(self) -> None:
        self._padding = prr_padding(self.endian)

    def on_wir(self, body: bytes) -> None:
        f = Fields(body, self.endian)
        head, _site_grp, start_t, wafer_id = f.u1(), f.u1(), f.u4(), f.cn()
        head = 1 if head is None else head
        if head in self.open_wafers:  # the previous wafer on this head never got its WRR
            self.unclosed += 1
        wafer = _Wafer(head, _text(wafer_id), start_t or None)
        self.open_wafers[head] = wafer
        self.prr_by_head[bytes([head])] = wafer.prr
        self.wafers.append(wafer)

    def _open_for(self, head: int | None) -> _Wafer | None:
        wafer = self.open_wafers.get(head) if head is not None else None
        if wafer is None and len(self.open_wafers) == 1:  # a head number that disagrees with the only open wafer
            wafer = next(iter(self.open_wafers.values()))
        return wafer

    def on_prr(self, body: bytes) -> None:
        """Any PRR; `read` handles the usual case (whole record, wafer open on its head) inline."""
        wafer = self._open_for(body[0] if body else None)
        if wafer is None:
            self.orphan_prrs += 1
        elif len(body) >= PRR_FIXED:
            wafer.prr += body[:PRR_FIXED]
        else:  # a short PRR: missing fields take their "not given" values
            wafer.prr += body + self._padding[len(body):]

    def on_wrr(self, body: bytes) -> None:
        f = Fields(body, self.endian)
        head, _site_grp, finish_t = f.u1(), f.u1(), f.u4()
        counts = {name: _count(f.u4()) for name in ("part_count", "retest_count", "abort_count",
                                                    "good_count", "functional_count")}
        wafer_id, fab_id, frame_id, mask_id = f.cn(), f.cn(), f.cn(), f.cn()
        wafer = self._open_for(head)
        if wafer is None:
            self.orphan_wrrs += 1
            return
        del self.open_wafers[wafer.head]
        del self.prr_by_head[bytes([wafer.head])]
        wafer.wrr = {**counts, "finish_time": _iso(finish_t), "wafer_id": _text(wafer_id),
                     "fab_wafer_id": _text(fab_id), "frame_id": _text(frame_id), "mask_id": _text(mask_id)}

    def on_mir(self, body: bytes) -> None:
        f = Fields(body, self.endian)
        setup_t, start_t, station = f.u4(), f.u4(), f.u1()
        mode = f.c1()
        f.skip(2)  # RTST_COD, PROT_COD
        f.skip(3)  # BURN_TIM, CMOD_COD
        lot, part, node, tester_type, job, job_rev, sublot, operator = (f.cn() for _ in range(8))
        for _ in range(2):  # EXEC_TYP, EXEC_VER
            f.cn()
        test_code, temperature = f.cn(), f.cn()
        self.mir = {"setup_t": setup_t, "start_t": start_t, "station": station, "mode": _text(mode),
                    "lot": _text(lot), "part": _text(part), "node": _text(node),
                    "tester_type": _text(tester_type), "job": _text(job), "job_revision": _text(job_rev),
                    "sublot": _text(sublot), "operator": _text(operator), "test_code": _text(test_code),
                    "temperature": _text(temperature)}

    def on_wcr(self, body: bytes) -> None:
        f = Fields(body, self.endian)
        size, height, width, units = f.r4(), f.r4(), f.r4(), f.u1()
        flat, center_x, center_y, pos_x, pos_y = f.c1(), f.i2(), f.i2(), f.c1(), f.c1()
        self.wcr = {"flat": flat, "pos_x": pos_x, "pos_y": pos_y, "wafer_size": size, "die_height": height,
                    "die_width": width, "units": units, "center_x": center_x, "center_y": center_y}


def _text(value: str | None) -> str | None:
    """STDF strings padded or left blank mean "not given"."""
    value = value.strip() if value else value
    return value or None


def _count(value: int | None) -> int | None:
    return None if value is None or value == U4_MISSING else value


def _time(stamp: int | None) -> datetime | None:
    # Seconds since 1970 in the tester's local time: keep the wall-clock time, no zone.
    return datetime(1970, 1, 1) + timedelta(seconds=stamp) if stamp else None


def _iso(stamp: int | None) -> str | None:
    moment = _time(stamp)
    return moment.isoformat() if moment else None


# --- reading ---------------------------------------------------------------------------
def read(path: Path, options: LoadOptions | None = None) -> list[WaferMap]:
    """Every wafer in an STDF V4 file, plain or gzip (recognised by its magic bytes)."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot open file ({exc.strerror})", path) from None
    with handle:
        source = open_source(handle)
        records = None
        try:
            walker = RecordWalker(source, WANTED, path)
            log = _Log(walker.attributes.endian)
            handlers = {"WIR": log.on_wir, "WRR": log.on_wrr, "MIR": log.on_mir, "WCR": log.on_wcr}
            on_prr, prr_by_head = log.on_prr, log.prr_by_head
            records = iter(walker)
            for name, body in records:
                if name == "PRR":  # by far the most frequent wanted record: no function call
                    prr = prr_by_head.get(body[:1])
                    if prr is not None and len(body) >= PRR_FIXED:
                        prr += body[:PRR_FIXED]
                    else:
                        on_prr(body)
                else:
                    handlers[name](body)
        finally:
            if records is not None:
                records.close()
            source.close()
    notes = _damage_notes(walker.damage, source.problem, walker.far_note)
    if not log.wafers:
        raise InputError(_no_wafer_message(log, notes), path)
    log.unclosed += len(log.open_wafers)
    wafers, problems = _build_all(log, str(path))
    for note in notes + problems + _log_notes(log):
        warnings.warn(f"{path}: {note}", FabsightWarning, stacklevel=2)
    if not wafers:
        raise InputError(f"the file's {len(log.wafers)} wafer record(s) hold no die results (PRR)", path)
    return wafers


def _no_wafer_message(log: _Log, notes: list[str]) -> str:
    if log.orphan_prrs:
        text = (f"holds {log.orphan_prrs} part results but no wafer records (WIR/WRR): it looks like a "
                "final-test or package-test log, which has no wafer map")
    else:
        text = "holds no wafer records (WIR/WRR) and no part results"
    return "; ".join([text, *notes])


def _damage_notes(damage: Damage, stream_problem: str | None, far_note: str | None) -> list[str]:
    notes = [far_note] if far_note else []
    if stream_problem:
        notes.append(stream_problem)
    if damage.skipped_bytes:
        notes.append(f"skipped {damage.skipped_bytes} damaged byte(s) in {damage.skipped_places} place(s), "
                     f"the first at byte {damage.first_skip_at}; records there were lost")
    if damage.truncated_at is not None:
        what = damage.truncated_record or "record header"
        notes.append(f"the data ends inside a {what} at byte {damage.truncated_at} (file truncated?)")
    return notes


def _log_notes(log: _Log) -> list[str]:
    notes = []
    if log.unclosed:
        notes.append(f"{log.unclosed} wafer(s) have no end record (WRR) and are marked incomplete")
    if log.orphan_prrs:
        notes.append(f"{log.orphan_prrs} part result(s) (PRR) outside any wafer (WIR … WRR) were skipped")
    if log.orphan_wrrs:
        notes.append(f"{log.orphan_wrrs} wafer end record(s) (WRR) with no matching start (WIR) were ignored")
    return notes


# --- building the maps ---------------------------------------------------------------------
@dataclass
class _Problems:
    unknown_xy: int = 0
    implausible_xy: int = 0
    empty: list[str] = field(default_factory=list)


def _build_all(log: _Log, source: str) -> tuple[list[WaferMap], list[str]]:
    orientation, oriented = _orientation(log.wcr)
    common = _common_extra(log)
    problems = _Problems()
    wafers = []
    for index, wafer in enumerate(log.wafers):
        wafer_map = _build(wafer, log, source, orientation, problems,
                           {**common, "orientation_from_wcr": oriented, "index": index})
        if wafer_map is None:
            problems.empty.append(wafer.wafer_id or f"#{index + 1}")
        else:
            wafers.append(wafer_map)
    notes = []
    if problems.unknown_xy:
        notes.append(f"{problems.unknown_xy} part result(s) with unknown die coordinates (-32768) were skipped")
    if problems.implausible_xy:
        notes.append(f"{problems.implausible_xy} part result(s) with implausible coordinates "
                     f"(more than {MAX_SIDE // 2} dies from the rest) were dropped as damaged")
    if problems.empty and wafers:
        notes.append(f"wafer(s) {', '.join(problems.empty)} have no die results (PRR) and were skipped")
    return wafers, notes


def _orientation(wcr: dict[str, Any] | None) -> tuple[Orientation, bool]:
    if not wcr:
        return Orientation(), False
    pos_x, pos_y, flat = ((wcr[k] or "").strip().upper() for k in ("pos_x", "pos_y", "flat"))
    default = Orientation()
    return Orientation(x_increases=pos_x if pos_x in ("L", "R") else default.x_increases,
                       y_increases=pos_y if pos_y in ("U", "D") else default.y_increases,
                       flat=flat if flat in ("U", "D", "L", "R") else None), bool(pos_x or pos_y or flat)


def _common_extra(log: _Log) -> dict[str, Any]:
    mir = log.mir
    extra = {key: mir.get(key) for key in ("tester_type", "job", "job_revision", "sublot", "operator",
                                           "test_code", "mode", "station", "temperature")}
    extra["setup_time"], extra["lot_start_time"] = _iso(mir.get("setup_t")), _iso(mir.get("start_t"))
    extra["byte_order"] = "little" if log.endian == "<" else "big"
    if log.wcr:
        wcr = log.wcr
        extra["wcr"] = {"wafer_size": wcr["wafer_size"] or None, "die_height": wcr["die_height"] or None,
                        "die_width": wcr["die_width"] or None,
                        "units": {1: "inch", 2: "cm", 3: "mm", 4: "mil"}.get(wcr["units"]),
                        "center_x": None if wcr["center_x"] in (None, MISSING_COORD) else wcr["center_x"],
                        "center_y": None if wcr["center_y"] in (None, MISSING_COORD) else wcr["center_y"]}
    return {k: v for k, v in extra.items() if v is not None}


def _build(wafer: _Wafer, log: _Log, source: str, orientation: Orientation, problems: _Problems,
           extra: dict[str, Any]) -> WaferMap | None:
    results = np.frombuffer(wafer.prr, dtype=prr_dtype(log.endian))  # (n,) one row per PRR
    x, y = results["x"].astype(np.int64), results["y"].astype(np.int64)
    placed = (x != MISSING_COORD) & (y != MISSING_COORD)
    problems.unknown_xy += int(np.count_nonzero(~placed))
    placed &= _plausible(x, y, placed, problems)
    results, x, y = results[placed], x[placed], y[placed]
    if len(results) == 0:
        return None

    x0, y0 = int(x.min()), int(y.min())
    rows, cols = int(y.max()) - y0 + 1, int(x.max()) - x0 + 1
    cell = (y - y0) * cols + (x - x0)  # (n,) flat grid index of each result
    # The last result at a cell wins: first occurrence in the reversed order.
    cells, first_reversed = np.unique(cell[::-1], return_index=True)
    final = results[len(cell) - 1 - first_reversed]  # (dies,) the result that counts at each cell

    flags = final["flags"]
    failed = (flags & PART_FAILED) != 0
    invalid = (flags & FLAG_INVALID) != 0
    failed = np.where(invalid, final["hard_bin"] != 1, failed)  # no valid flag: bin 1 passes
    grid = np.full(rows * cols, OFF, np.uint8)
    grid[cells] = np.where(failed, FAIL, PASS)
    hard = np.full(rows * cols, NO_BIN, np.int32)
    hard[cells] = final["hard_bin"]
    soft = np.full(rows * cols, NO_BIN, np.int32)
    soft[cells] = np.where(final["soft_bin"] == MISSING_BIN, NO_BIN, final["soft_bin"])

    mir = log.mir
    extra.update({
        "head": wafer.head,
        "parts_tested": len(wafer.prr) // PRR_FIXED,  # every PRR of the wafer, retests included
        "retests": len(cell) - len(cells),  # results replaced by a later one at the same die
        "retest_flagged": int(np.count_nonzero(results["flags"] & RETEST_BITS)),  # the tester's own marks
        "pass_fail_from_bin": int(np.count_nonzero(invalid)),
        "abnormal_end": int(np.count_nonzero(flags & ABNORMAL_END)),
    })
    if wafer.wrr is not None:
        extra["wrr"] = wafer.wrr
    return WaferMap(grid=grid.reshape(rows, cols), hard_bins=hard.reshape(rows, cols),
                    soft_bins=soft.reshape(rows, cols), x_origin=x0, y_origin=y0, orientation=orientation,
                    lot=mir.get("lot"), wafer_id=wafer.wafer_id or (wafer.wrr or {}).get("wafer_id"),
                    product=mir.get("part"), tester=mir.get("node"),
                    test_time=_time(wafer.start_t or mir.get("start_t") or mir.get("setup_t")),
                    source=source, complete=wafer.wrr is not None, extra=extra)


def _plausible(x: np.ndarray, y: np.ndarray, placed: np.ndarray, problems: _Problems) -> np.ndarray:
    """Drop coordinates far from the others (a damaged PRR) so one bad value cannot make a huge grid."""
    if not placed.any():
        return placed
    keep = placed.copy()
    for axis in (x, y):
        values = axis[placed]
        if values.max() - values.min() >= MAX_SIDE:
            keep &= np.abs(axis - int(np.median(values))) < MAX_SIDE // 2
    problems.implausible_xy += int(np.count_nonzero(placed & ~keep))
    return keep
