"""STDF ingestion speed: fabsight against pystdf on the same files, with identical results.

    python benchmarks/stdf_ingest.py                  # the shared real files, gzip and plain
    python benchmarks/stdf_ingest.py --size-mb 500    # plus a 500 MB file built from their wafers
    python benchmarks/stdf_ingest.py --json out.json  # the table also as JSON (benchmark harness)

Each file is read `--runs` times by fabsight and by pystdf, and the median
time is reported as MB/s of uncompressed STDF. pystdf is timed twice: as it
is normally used (decoding every record) and at its fastest (decoding only
the five record types a wafer map needs, skipping the rest by length); the
ratio is taken against the faster one. Both must give the same wafers, the
same lot / wafer ids / product and the same hard bin, soft bin and pass/fail
at every die (last result at a coordinate wins), or the script fails.

The big file repeats the real files' wafer sections (WIR … WRR with all
their PIR/PTR/PRR records) under new wafer ids, so its record mix is real.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import fabsight
from fabsight.evaluate.harness import BenchmarkTable
from fabsight.wafer.map import FAIL, OFF

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "stdf"
WAFER_MAP_RECORDS = ("Mir", "Wcr", "Wir", "Wrr", "Prr")

# One canonical result per file: [(lot, product, wafer_id, {(x, y): (hard, soft, failed)})].
Result = list[tuple[str | None, str | None, str | None, dict[tuple[int, int], tuple[int, int, bool]]]]


def fabsight_result(path: Path) -> Result:
    out = []
    for wafer in fabsight.load(path):
        rows, cols = (wafer.grid != OFF).nonzero()
        dies = {(int(c) + wafer.x_origin, int(r) + wafer.y_origin):
                (int(wafer.hard_bins[r, c]), int(wafer.soft_bins[r, c]), bool(wafer.grid[r, c] == FAIL))
                for r, c in zip(rows.tolist(), cols.tolist())}
        out.append((wafer.lot, wafer.product, wafer.wafer_id, dies))
    return out


def pystdf_result(path: Path, only_needed: bool) -> Result:
    """pystdf's parse turned into the same result, last result per coordinate winning."""
    from pystdf import V4
    from pystdf.IO import Parser

    rec_types = [r for r in V4.records if type(r).__name__ in WAFER_MAP_RECORDS] if only_needed else V4.records
    mir: dict = {}
    out: Result = []
    current: dict | None = None

    class Sink:
        def after_send(self, source, data):
            nonlocal current
            rec, values = data
            name = type(rec).__name__
            if name == "Prr":
                if current is not None:
                    f = dict(zip(rec.fieldNames, values))
                    flag = f["PART_FLG"]
                    failed = f["HARD_BIN"] != 1 if flag & 0x10 else bool(flag & 0x08)
                    if f["X_COORD"] != -32768 and f["Y_COORD"] != -32768:
                        soft = -1 if f["SOFT_BIN"] == 65535 else f["SOFT_BIN"]
                        current[(f["X_COORD"], f["Y_COORD"])] = (f["HARD_BIN"], soft, failed)
            elif name == "Mir":
                mir.update(zip(rec.fieldNames, values))
            elif name == "Wir":
                current = {}
                out.append((mir.get("LOT_ID") or None, mir.get("PART_TYP") or None,
                            dict(zip(rec.fieldNames, values))["WAFER_ID"] or None, current))
            elif name == "Wrr":
                current = None

    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as handle:
        parser = Parser(recTypes=rec_types, inp=handle)
        parser.addSink(Sink())
        parser.parse()
    return out


def timed(fn: Callable[[], Result], runs: int, min_run_s: float = 0.3) -> tuple[float, Result]:
    """Median seconds per call over `runs` runs; a run repeats a fast call until it lasts `min_run_s`,
    so that timer and scheduler noise do not swamp a 10 ms read."""
    start = time.perf_counter()
    result = fn()  # also the warm-up (imports, page cache)
    first = time.perf_counter() - start
    repeat = max(1, int(min_run_s / max(first, 1e-6)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeat):
            result = fn()
        times.append((time.perf_counter() - start) / repeat)
    return statistics.median(times), result


# --- files ---------------------------------------------------------------------------
def stdf_size(path: Path) -> int:
    if path.read_bytes()[:2] != b"\x1f\x8b":
        return path.stat().st_size
    size = 0
    with gzip.open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            size += len(chunk)
    return size


def split_wafers(raw: bytes) -> tuple[bytes, list[tuple[bytes, int, int]], bytes]:
    """(records before the first WIR, [(wafer section, WIR offset, WRR offset) ...], records after the last WRR)."""
    endian = "<" if raw[0] == 2 else ">"
    header = struct.Struct(endian + "HBB")
    pos, wir, sections, last_end = 0, None, [], None
    first = None
    while pos + 4 <= len(raw):
        length, typ, sub = header.unpack_from(raw, pos)
        if (typ, sub) == (2, 10):
            wir = pos
            first = pos if first is None else first
        elif (typ, sub) == (2, 20) and wir is not None:
            sections.append((raw[wir:pos + 4 + length], 0, pos - wir))
            last_end, wir = pos + 4 + length, None
        pos += 4 + length
    return raw[:first], sections, raw[last_end:]


def renamed(section: bytes, wrr_at: int, suffix: str, endian: str) -> bytes:
    """A wafer section with its WIR and WRR wafer ids given `suffix`; record lengths fixed up."""
    def cn_replace(record: bytes, at: int) -> bytes:
        length = record[4 + at]
        old = record[5 + at:5 + at + length]
        new = (old + suffix.encode())[:255]
        body = record[4:4 + at] + bytes([len(new)]) + new + record[5 + at + length:]
        return struct.pack(endian + "H", len(body)) + record[2:4] + body

    (wir_len,) = struct.unpack_from(endian + "H", section, 0)
    (wrr_len,) = struct.unpack_from(endian + "H", section, wrr_at)
    wir = cn_replace(section[:4 + wir_len], 6)  # HEAD_NUM, SITE_GRP, START_T, then WAFER_ID
    wrr = cn_replace(section[wrr_at:wrr_at + 4 + wrr_len], 26)  # 2 + 4 + 5 * 4 bytes, then WAFER_ID
    return wir + section[4 + wir_len:wrr_at] + wrr


def build_big(sources: list[Path], size_mb: float, folder: Path) -> list[Path]:
    """A plain and a gzip file of about `size_mb` MB made of the sources' wafers under new ids."""
    raws = [gzip.decompress(p.read_bytes()) if p.read_bytes()[:2] == b"\x1f\x8b" else p.read_bytes()
            for p in sources]
    head, _, tail = split_wafers(raws[0])
    endian = "<" if raws[0][0] == 2 else ">"
    sections = [s for raw in raws for s in split_wafers(raw)[1]]
    plain = folder / f"synthetic_{size_mb:g}MB.stdf"
    target, written, copy = size_mb * 1e6, 0, 0
    with open(plain, "wb") as out:
        out.write(head)
        while written < target:
            section, _, wrr_at = sections[copy % len(sections)]
            data = renamed(section, wrr_at, f"-R{copy:05d}", endian)
            out.write(data)
            written += len(data)
            copy += 1
        out.write(tail)
    packed = folder / (plain.name + ".gz")
    with open(plain, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    return [packed, plain]


# --- main --------------------------------------------------------------------------------
COLUMNS = ["file", "MB", "dies", "fabsight MB/s", "pystdf MB/s (all records)", "pystdf MB/s (5 types)",
           "x pystdf (faster)", "identical", "runs"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with the real STDF files")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per file and reader (median reported)")
    parser.add_argument("--size-mb", type=float, default=None, help="also build and time a file this big")
    parser.add_argument("--pystdf-runs-big", type=int, default=1,
                        help="pystdf runs on the big file (it is slow: one run of each by default)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args(argv)

    real = sorted(args.data.glob("*.stdf.gz"))
    if not real:
        print(f"no STDF files in {args.data}", file=sys.stderr)
        return 2
    table = BenchmarkTable("STDF V4 ingestion: fabsight vs pystdf, same files, same per-wafer result", COLUMNS,
                           formats={c: "{:.1f}" for c in COLUMNS if "MB" in c} | {"x pystdf (faster)": "{:.1f}x"})
    failures = []
    with tempfile.TemporaryDirectory(prefix="stdf-bench-") as tmp:
        files: list[tuple[Path, bool]] = []
        for path in real:
            plain = Path(tmp) / path.name.removesuffix(".gz")
            plain.write_bytes(gzip.decompress(path.read_bytes()))
            files += [(path, False), (plain, False)]
        if args.size_mb:
            files += [(p, True) for p in build_big(real, args.size_mb, Path(tmp))]
        for path, big in files:
            mb = stdf_size(path) / 1e6
            slow_runs = args.pystdf_runs_big if big else args.runs
            t_fab, fab = timed(lambda p=path: fabsight_result(p), args.runs)
            t_all, all_records = timed(lambda p=path: pystdf_result(p, only_needed=False), slow_runs)
            t_min, needed = timed(lambda p=path: pystdf_result(p, only_needed=True), slow_runs)
            same = fab == all_records == needed
            if not same:
                failures.append(path.name)
            table.add_row({"file": path.name, "MB": mb, "dies": sum(len(w[3]) for w in fab),
                           "fabsight MB/s": mb / t_fab, "pystdf MB/s (all records)": mb / t_all,
                           "pystdf MB/s (5 types)": mb / t_min, "x pystdf (faster)": min(t_all, t_min) / t_fab,
                           "identical": "yes" if same else "NO", "runs": f"{args.runs}/{slow_runs}"})
    table.note("MB = uncompressed STDF. MB/s = MB / median wall time of `runs` runs (fabsight/pystdf), a fast "
               "read repeated within a run to last 0.3 s. x pystdf = the faster pystdf time / the fabsight time.")
    table.note("Both readers produce lot, product, wafer id and hard bin, soft bin, pass/fail per die "
               "(last result at a coordinate wins); 'identical' compares those results.")
    data = "the shared real logs (lot2, lot3; gzip and plain)"
    if args.size_mb:
        data += f", and a {args.size_mb:g} MB file of their wafers repeated under new ids (gzip level 6 and plain)"
    table.report(model="none", data=data, seed="none", json_path=args.json)
    if failures:
        print(f"RESULTS DIFFER for: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
