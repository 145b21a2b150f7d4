"""STDF V4 at the record level: byte streams, the record walker, and field decoding.

Nothing here knows about wafers. `RecordWalker` turns a plain or gzip file
into `(name, body)` pairs for the record types asked for and skips every
other record by its length, which is what makes reading fast: a data log is
mostly parametric results (PTR) that a wafer map never needs. A later reader
of PTRs only has to add "PTR" to the names it asks for.

The walker never raises on damaged data. It stops cleanly where the data
ends, and where a record header makes no sense (a type STDF V4 does not
define, typically after a corrupt REC_LEN) it looks for the next place where
several well-formed records follow each other and carries on from there.
What it skipped or lost is counted in `Damage` for the caller to report.
"""

from __future__ import annotations

import mmap
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fabsight.errors import InputError

# (REC_TYP, REC_SUB) of every record STDF V4 (including the 2007 addendum) defines.
RECORD_TYPES: dict[tuple[int, int], str] = {
    (0, 10): "FAR", (0, 20): "ATR", (0, 30): "VUR",
    (1, 10): "MIR", (1, 20): "MRR", (1, 30): "PCR", (1, 40): "HBR", (1, 50): "SBR", (1, 60): "PMR",
    (1, 62): "PGR", (1, 63): "PLR", (1, 70): "RDR", (1, 80): "SDR", (1, 90): "PSR", (1, 91): "NMR",
    (1, 92): "CNR", (1, 93): "SSR", (1, 94): "CDR",
    (2, 10): "WIR", (2, 20): "WRR", (2, 30): "WCR",
    (5, 10): "PIR", (5, 20): "PRR",
    (10, 30): "TSR",
    (15, 10): "PTR", (15, 15): "MPR", (15, 20): "FTR", (15, 30): "STR",
    (20, 10): "BPS", (20, 20): "EPS",
    (50, 10): "GDR", (50, 30): "DTR",
}
# REC_TYP 180 and 181 are reserved by the spec for tester software (Image, IG900): any sub-type is legal.
VENDOR_TYPES = (180, 181)

HEADER_SIZE = 4  # REC_LEN u16, REC_TYP u8, REC_SUB u8
MAX_RECORD = HEADER_SIZE + 0xFFFF
CHUNK = 1 << 20  # bytes of decompressed data handed to the walker at a time (bigger is slower: fresh pages)
GZIP_IN_CHUNK = 256 << 10
SALVAGE_LIMIT = 64 << 20  # most output recovered from a gzip piece that fails (bounded: gzip bombs)
CHAIN = 4  # well-formed records in a row that prove the walker is back in step after damage
LOOKAHEAD = (CHAIN + 1) * MAX_RECORD  # data the resync check may need beyond a candidate position


# --- byte streams -------------------------------------------------------------
class _MappedFile:
    """A plain file mapped into memory: the walker reads it in place, no copies, no chunks.
    Pages already walked are handed back (`done_with`), so a multi-GB log never sits in memory."""

    problem: str | None = None
    window = 64 << 20  # the walker's stretch between hand-backs

    def __init__(self, handle: BinaryIO) -> None:
        self.whole = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self._released = 0
        if hasattr(self.whole, "madvise"):
            self.whole.madvise(mmap.MADV_SEQUENTIAL)  # read-ahead: the walk is one forward pass

    def read(self) -> bytes:
        return b""

    def done_with(self, offset: int) -> None:
        """Drop the mapping's pages before `offset` (the file stays in the OS cache)."""
        upto = offset - offset % mmap.PAGESIZE
        if upto > self._released and hasattr(mmap, "MADV_DONTNEED"):
            self.whole.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
            self._released = upto

    def close(self) -> None:
        self.whole.close()


class _PlainChunks:
    problem: str | None = None
    whole = None

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read(self) -> bytes:
        return self._handle.read(CHUNK)

    def close(self) -> None:
        pass


class _GzipChunks:
    """Decompress in bounded pieces. Corrupt or cut-off gzip data ends the stream instead of
    raising, so everything decoded before the damage is still read (`problem` says what happened)."""

    whole = None

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._inflate = self._new_member()
        self._pending = b""
        self._member_bytes = 0  # compressed bytes fed to the current member
        self._members_done = 0
        self._done = False
        self.problem: str | None = None

    @staticmethod
    def _new_member():
        return zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper, CRC checked at the member's end

    def read(self) -> bytes:
        out: list[bytes] = []
        size = 0
        while size < CHUNK and not self._done:
            data = self._pending or self._handle.read(GZIP_IN_CHUNK)
            self._pending = b""
            if not data:
                if self._member_bytes:  # input ended inside a member: keep what zlib can still give
                    out.append(self._flush())
                    self.problem = "the gzip data ends early (file cut short?)"
                self._done = True
                break
            before = self._inflate.copy()
            try:
                piece = self._inflate.decompress(data, CHUNK - size)  # bounded output: safe on gzip bombs
            except zlib.error as exc:
                out.append(self._salvage(before, data, SALVAGE_LIMIT))
                self._fail(exc, data)
                break
            self._member_bytes += len(data) - len(self._inflate.unconsumed_tail)
            out.append(piece)
            size += len(piece)
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:  # gzip files may hold several members back to back
                self._pending = self._inflate.unused_data
                self._inflate = self._new_member()
                self._member_bytes = 0
                self._members_done += 1
        return b"".join(out)

    def close(self) -> None:
        pass

    @staticmethod
    def _salvage(inflate, data: bytes, room: int) -> bytes:
        """The output that a failing call produced before the error (zlib gives none on error):
        replay the input from the state saved before the call, in small steps, and the step that
        fails again a byte at a time, so that every byte before the damage is kept."""
        out, tail, start, step = [], b"", 0, 1024
        while start < len(data) and room > 0 and not inflate.eof:
            saved = inflate.copy() if step > 1 else None
            try:
                piece = inflate.decompress(tail + data[start:start + step], room)
            except zlib.error:
                if saved is None:
                    break
                inflate, step = saved, 1
                continue
            tail = inflate.unconsumed_tail
            out.append(piece)
            room -= len(piece)
            start += step
        return b"".join(out)

    def _flush(self) -> bytes:
        try:
            return self._inflate.flush()
        except zlib.error:
            return b""

    def _fail(self, exc: zlib.error, data: bytes) -> None:
        self._done = True
        if self._members_done and self._member_bytes == 0 and not data.startswith(b"\x1f\x8b"):
            if data.strip(b"\0"):  # zero padding after the last member is normal; anything else is noted
                self.problem = "data after the end of the gzip stream was ignored"
        elif "incorrect data check" in str(exc):
            self.problem = "the gzip checksum does not match: the data may be damaged"
        else:
            self.problem = f"the gzip data is corrupt ({exc}); reading stopped there"


Source = _MappedFile | _PlainChunks | _GzipChunks


def open_source(handle: BinaryIO) -> Source:
    """The data of `handle`: gunzipped in chunks when it starts with gzip's magic bytes, else
    mapped into memory (read in chunks where the file cannot be mapped, e.g. a pipe)."""
    magic = handle.read(2)
    handle.seek(0)
    if magic == b"\x1f\x8b":
        return _GzipChunks(handle)
    try:
        return _MappedFile(handle)
    except (OSError, ValueError):  # empty file, or not mappable
        return _PlainChunks(handle)


# --- the FAR: byte order and version --------------------------------------------
def far_byte_order(head: bytes) -> str | None:
    """'<' or '>' when `head` starts with an STDF FAR record (any version), else None.

    REC_LEN of a FAR is always 2, so its two bytes give the byte order
    unambiguously even before CPU_TYPE is read.
    """
    if len(head) < 6 or head[2:4] != b"\x00\x0a":
        return None
    return {b"\x02\x00": "<", b"\x00\x02": ">"}.get(bytes(head[:2]))


@dataclass(frozen=True)
class FileAttributes:
    endian: str  # struct prefix: '<' little-endian, '>' big-endian
    cpu_type: int
    version: int


def read_far(head: bytes, path: Path | str) -> tuple[FileAttributes, str | None]:
    """Decode the FAR; a note when CPU_TYPE disagrees with the byte order the file is written in."""
    if not head:
        raise InputError("file is empty", path)
    endian = far_byte_order(head)
    if endian is None:
        raise InputError("not an STDF file: it does not start with a File Attributes Record (FAR)", path)
    cpu_type, version = head[4], head[5]
    if version != 4:
        raise InputError(f"STDF version {version} is not supported; fabsight reads STDF V4", path)
    # CPU_TYPE 1 = big-endian (Sun), 2 = little-endian (PC), 0 = DEC (little-endian integers).
    expected = {0: "<", 1: ">", 2: "<"}.get(cpu_type)
    note = None
    if expected != endian:
        order = "little" if endian == "<" else "big"
        note = f"FAR CPU_TYPE is {cpu_type} but the records are {order}-endian; reading them as {order}-endian"
    return FileAttributes(endian, cpu_type, version), note


# --- the walker -------------------------------------------------------------------
@dataclass
class Damage:
    """What the walker could not read, for the caller's warnings."""

    skipped_bytes: int = 0  # bytes passed over while looking for the next good record
    skipped_places: int = 0
    first_skip_at: int | None = None  # file offset (decompressed) of the first damage
    unknown_records: int = 0  # well-formed records of a type STDF V4 does not define (skipped)
    truncated_at: int | None = None  # file offset of a last record that runs past the end of the data
    truncated_record: str | None = None


def _record_code(typ: int, sub: int, endian: str) -> int:
    """REC_TYP and REC_SUB read together as one u16 in the file's byte order (one unpack per header)."""
    return typ << 8 | sub if endian == ">" else sub << 8 | typ


def _defined_code_pattern() -> re.Pattern[bytes]:
    """REC_TYP, REC_SUB of a record type V4 defines: a candidate record start 2 bytes earlier.
    Grouped by REC_TYP into byte classes, which `re` scans far faster than a plain alternation."""
    subs: dict[int, list[int]] = {}
    for typ, sub in RECORD_TYPES:
        subs.setdefault(typ, []).append(sub)
    return re.compile(b"|".join(re.escape(bytes([typ])) + b"[" + b"".join(re.escape(bytes([s])) for s in group) + b"]"
                                for typ, group in subs.items()), re.DOTALL)


_CANDIDATE = _defined_code_pattern()


class RecordWalker:
    """Iterate `(name, body)` for the wanted record types of an STDF V4 stream.

    `body` is the record's data after its 4-byte header (bytes). Records of
    other types are skipped by their REC_LEN without being decoded.
    """

    def __init__(self, chunks: Source, wanted: set[str], path: Path | str) -> None:
        self._chunks = chunks
        self._buf = chunks.whole if chunks.whole is not None else b""  # bytes, or the mapped file
        self._base = 0  # file offset of self._buf[0]
        self._eof = chunks.whole is not None
        if not self._eof:
            self._fill(0, 6)
        try:
            self.attributes, self.far_note = read_far(self._buf[:6], path)
        except InputError:
            if chunks.problem and len(self._buf) < 6:  # e.g. a gzip file cut inside its first block
                raise InputError(f"{chunks.problem}; no STDF data could be read before that", path) from None
            raise
        endian = self.attributes.endian
        self._header = struct.Struct(endian + "HH").unpack_from  # (REC_LEN, type code)
        # code -> name when wanted, "" when known but skipped; absent = not an STDF V4 record.
        self._kinds: dict[int, str] = {}
        for (typ, sub), name in RECORD_TYPES.items():
            self._kinds[_record_code(typ, sub, endian)] = name if name in wanted else ""
        self._defined = frozenset(self._kinds)
        # PTRs are most of a data log: when they are not wanted the fast loop skips them by a compare.
        self._bulk = -1 if "PTR" in wanted else _record_code(15, 10, endian)
        for typ in VENDOR_TYPES:
            for sub in range(256):
                self._kinds[_record_code(typ, sub, endian)] = ""
        self.damage = Damage()

    # -- buffer management --
    def _fill(self, pos: int, need: int) -> int:
        """Drop the buffer before `pos`; read until `need` bytes are buffered from there (or the data ends)."""
        parts = [self._buf[pos:]]
        self._base += pos
        size = len(parts[0])
        while size < need and not self._eof:
            chunk = self._chunks.read()
            if not chunk:
                self._eof = True
                break
            parts.append(chunk)
            size += len(chunk)
        self._buf = parts[0] if len(parts) == 1 else b"".join(parts)
        return 0

    # -- iteration --
    def __iter__(self):
        kinds_get = self._kinds.get
        header = self._header
        bulk = self._bulk
        window = getattr(self._chunks, "window", 0)
        pos = 0
        while True:
            buf = self._buf
            n = len(buf)
            # Headers are read through `view`, cut where any record that starts inside it must end
            # inside the buffer: the loop needs no bounds checks, struct.error ends it. At the end of
            # the data, the last stretch is read through a view of all of it.
            limit = max(0, n - 0xFFFF)
            if self._eof and pos + HEADER_SIZE > limit:
                limit = n
            elif window:
                limit = min(limit, pos + window)  # a mapped file is walked a window at a time
            view = buf if limit == n else memoryview(buf)[:limit]
            stretch, bounded = pos, False
            try:
                while True:
                    length, code = header(view, pos)
                    while code == bulk:  # the commonest record, skipped without a look-up
                        pos += HEADER_SIZE + length
                        length, code = header(view, pos)
                    name = kinds_get(code)
                    if not name:
                        if name is None:
                            break  # not an STDF V4 record type: the slow path decides
                        pos += HEADER_SIZE + length
                        continue
                    end = pos + HEADER_SIZE + length
                    if end > n:
                        break  # a wanted record cut by the end of the data
                    yield name, buf[pos + HEADER_SIZE:end]
                    pos = end
            except struct.error:
                bounded = True
            if view is not buf:
                view.release()  # a mapped file cannot be closed while a view of it is alive
            if pos > n:  # a skipped record ran past the end of the data: find where it began
                pos = self._last_record_start(stretch, n)
            elif bounded and limit < n:
                if not self._eof:
                    pos = self._fill(pos, MAX_RECORD + CHUNK)  # always adds data or reaches the end
                elif window:
                    self._chunks.done_with(pos)
                continue
            pos = self._slow_path(pos)  # the end of the data, an undefined record type, or a cut record
            if pos is None:
                break

    def _last_record_start(self, pos: int, n: int) -> int:
        """Walk the (well-formed) headers from `pos` to the record that crosses `n`."""
        while True:
            length, _ = self._header(self._buf, pos)
            if pos + HEADER_SIZE + length > n:
                return pos
            pos += HEADER_SIZE + length

    def _slow_path(self, pos: int) -> int | None:
        """Where the fast loop stopped: refill, skip a vendor record, or resync. None at the end."""
        n = len(self._buf)
        if pos + HEADER_SIZE <= n:
            length, code = self._header(self._buf, pos)
            end = pos + HEADER_SIZE + length
            if code in self._kinds:  # a known record that runs past the buffer
                if not self._eof:
                    return self._fill(pos, max(CHUNK, end - pos))
                return self._at_cut(pos, code)
            # An undefined record type: fine if well-formed records follow it, else damage.
            if not self._eof and n - pos < LOOKAHEAD:
                return self._fill(pos, LOOKAHEAD)
            if end <= n and self._chain_ok(end):
                self.damage.unknown_records += 1
                return end
            return self._resync(pos)
        if not self._eof:
            return self._fill(pos, CHUNK)
        if pos < n:  # fewer than 4 bytes left: a header cut in half
            return self._at_cut(pos, None)
        return None

    def _at_cut(self, pos: int, code: int | None) -> int | None:
        """The data ends inside a record: damage if good records follow a bad REC_LEN, else truncation."""
        found = self._resync(pos, record=False)
        if found is not None:
            return found
        self.damage.truncated_at = self._base + pos
        self.damage.truncated_record = _name_of(code, self.attributes.endian) if code is not None else None
        return None

    def _chain_ok(self, pos: int) -> bool:
        """CHAIN well-formed records of V4-defined types start at `pos` (or the data ends cleanly).
        Vendor types do not count: any sub-type is legal there, so random bytes match them too often."""
        buf, n = self._buf, len(self._buf)
        for _ in range(CHAIN):
            if pos == n:
                return self._eof
            if pos + HEADER_SIZE > n:
                return False
            length, code = self._header(buf, pos)
            if code not in self._defined:
                return False
            pos += HEADER_SIZE + length
        return True

    def _resync(self, pos: int, record: bool = True) -> int | None:
        """Find the next position after `pos` where a run of good records starts; count what was skipped."""
        start_abs = self._base + pos
        start = pos + 1
        while True:
            if not self._eof and len(self._buf) - start < LOOKAHEAD:
                start = self._fill(start, LOOKAHEAD)
            match = _CANDIDATE.search(self._buf, start + 2)  # the type bytes follow REC_LEN
            while match is not None:
                at = match.start() - 2
                if not self._eof and len(self._buf) - at < LOOKAHEAD:
                    break  # need more data to check this candidate
                if self._chain_ok(at):
                    self._count_skip(start_abs, self._base + at)
                    return at
                match = _CANDIDATE.search(self._buf, at + 3)
            if match is None and self._eof:
                if record:  # nothing good after the damage: everything to the end is lost
                    self._count_skip(start_abs, self._base + len(self._buf))
                return None
            start = match.start() - 2 if match is not None else max(start, len(self._buf) - HEADER_SIZE)

    def _count_skip(self, start_abs: int, stop_abs: int) -> None:
        self.damage.skipped_bytes += stop_abs - start_abs
        self.damage.skipped_places += 1
        if self.damage.first_skip_at is None:
            self.damage.first_skip_at = start_abs


def _name_of(code: int, endian: str) -> str | None:
    typ, sub = (code >> 8, code & 0xFF) if endian == ">" else (code & 0xFF, code >> 8)
    return RECORD_TYPES.get((typ, sub))


# --- field decoding ---------------------------------------------------------------
class Fields:
    """Read a record's fields in order. STDF lets a writer omit trailing fields: a field
    past the end of the record (or cut by it) reads as None."""

    def __init__(self, body: bytes, endian: str) -> None:
        self._body = body
        self._endian = endian
        self._pos = 0

    def _unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        if self._pos + size > len(self._body):
            self._pos = len(self._body)
            return None
        (value,) = struct.unpack_from(self._endian + fmt, self._body, self._pos)
        self._pos += size
        return value

    def u1(self) -> int | None:
        return self._unpack("B")

    def u2(self) -> int | None:
        return self._unpack("H")

    def u4(self) -> int | None:
        return self._unpack("I")

    def i2(self) -> int | None:
        return self._unpack("h")

    def r4(self) -> float | None:
        return self._unpack("f")

    def c1(self) -> str | None:
        raw = self._unpack("c")
        return None if raw is None else raw.decode("latin-1")

    def cn(self) -> str | None:
        length = self.u1()
        if length is None:
            return None
        raw = self._body[self._pos:self._pos + length]
        self._pos += length
        return raw.decode("latin-1")  # STDF text is ASCII; latin-1 never fails on damaged bytes

    def skip(self, size: int) -> None:
        self._pos = min(self._pos + size, len(self._body))


# --- PRR: the one record read in bulk -------------------------------------------------
PRR_FIXED = 13  # HEAD_NUM, SITE_NUM, PART_FLG, NUM_TEST, HARD_BIN, SOFT_BIN, X_COORD, Y_COORD
MISSING_COORD = -32768
MISSING_BIN = 65535


def prr_dtype(endian: str) -> np.dtype:
    """The fixed head of a PRR as a packed numpy record, so a wafer's PRRs decode in one call."""
    return np.dtype([("head", "u1"), ("site", "u1"), ("flags", "u1"), ("num_test", endian + "u2"),
                     ("hard_bin", endian + "u2"), ("soft_bin", endian + "u2"),
                     ("x", endian + "i2"), ("y", endian + "i2")])


def prr_padding(endian: str) -> bytes:
    """Defaults for PRR fields a short record leaves out: no pass/fail indication, missing bins and
    coordinates (so a PRR cut before its coordinates is counted as unknown, never placed)."""
    return struct.pack(endian + "BBBHHHhh", 1, 1, 0x10, 0, MISSING_BIN, MISSING_BIN, MISSING_COORD, MISSING_COORD)
