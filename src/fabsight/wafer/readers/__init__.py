"""Read wafer maps from any supported file, recognised by content rather than name.

`READERS` is the one table of formats. Each entry names a module with two
functions: `sniff(head: bytes) -> bool`, given the first bytes of the file
(already gunzipped when the file is gzip), and
`read(path: Path, options: LoadOptions) -> list[WaferMap]`.
"""

from __future__ import annotations

import importlib
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fabsight.errors import FabsightError, FabsightWarning, InputError
from fabsight.options import option
from fabsight.progress import track
from fabsight.wafer.map import WaferMap

HEAD_BYTES = 4096


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """How files are read; the CLI derives its flags from this."""

    # Loading a pickle runs code from the file: only on the user's explicit word.
    trust_pickle: bool = option("allow pickle files (loading a pickle can run code: only files you trust)", False)


@dataclass(frozen=True)
class Reader:
    name: str
    module: str  # fabsight.wafer.readers.<module>, imported only when used
    description: str

    def _module(self):
        return importlib.import_module(f"fabsight.wafer.readers.{self.module}")

    def sniff(self, head: bytes) -> bool:
        return self._module().sniff(head)

    def read(self, path: Path, options: LoadOptions) -> list[WaferMap]:
        return self._module().read(path, options)


# Order matters: the first reader whose sniff accepts the head wins.
READERS: tuple[Reader, ...] = (
    Reader("stdf", "stdf", "STDF V4 data log, plain or gzip"),
    Reader("npy", "arrays", "NumPy .npy / .npz arrays (0 off-wafer, 1 pass, 2 fail)"),
    Reader("pickle", "pickles", "WM-811K pickle (needs --trust-pickle)"),
    Reader("image", "image", "picture (PNG, JPEG, GIF, TIFF, WebP, BMP) of one or more wafer maps"),
    Reader("csv", "csv", "die-list CSV (x, y, bin or pass/fail, optional wafer)"),
)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of a file, decompressed if it is gzip."""
    with open(path, "rb") as handle:
        head = handle.read(size)
    if head[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, size)
        except zlib.error as exc:
            raise InputError(f"gzip data is corrupt ({exc})", path) from None
    return head


class UnknownFormat(InputError):
    """The file is readable but no reader recognises it."""


def detect(path: str | Path) -> Reader:
    """The reader for this file, or an error listing the formats we know."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a folder; pass the files in it or use a command that takes folders", path)
    try:
        head = read_head(path)
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path) from None
    if not head:
        raise InputError("file is empty", path)
    for reader in READERS:
        if reader.sniff(head):
            return reader
    known = "; ".join(r.description for r in READERS)
    raise UnknownFormat(f"not a wafer-map file fabsight can read (known formats: {known})", path)


def load(path: str | Path, *, trust_pickle: bool = False) -> list[WaferMap]:
    """Every wafer in one file. Raises `InputError` with a clear message on bad input."""
    return _load_with(Path(path), detect(path), LoadOptions(trust_pickle=trust_pickle))


def _load_with(path: Path, reader: Reader, options: LoadOptions) -> list[WaferMap]:
    try:
        wafers = reader.read(path, options)
    except FabsightError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read {reader.name} file ({exc})", path) from None
    if not wafers:
        raise InputError(f"no wafers found in this {reader.name} file", path)
    return wafers


def expand_paths(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """(file, named) pairs: files as given (named), folders replaced by the files in them, recursively,
    sorted, hidden ones and the pictures of maps beside them (`_drawings_of_arrays`) left out."""
    files: list[tuple[Path, bool]] = []
    for item in map(Path, paths):
        if item.is_dir():
            inside = [p for p in sorted(item.rglob("*"))
                      if p.is_file() and not any(part.startswith(".") for part in p.relative_to(item).parts)]
            if not inside:  # a wrong folder given would otherwise end in "0 wafers" and nothing to say why
                warnings.warn(f"{item}: the folder holds no files to read", FabsightWarning, stacklevel=2)
            drawings = _drawings_of_arrays(inside)
            files.extend((p, False) for p in inside if p not in drawings)
        else:
            files.append((item, True))
    return files


def _drawings_of_arrays(files: Sequence[Path]) -> set[Path]:
    """Pictures with a .npz of the same name beside them: `ingest` and `generate` write every map as both, and
    reading the folder should give each wafer once, from the exact array (with its bins), not twice."""
    arrays = {p.with_suffix("") for p in files if p.suffix.lower() == ".npz"}
    return {p for p in files if p.suffix.lower() in PICTURE_SUFFIXES and p.with_suffix("") in arrays}


PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg"}
MAP_SUFFIXES = {".stdf", ".std", ".gz", ".npy", ".npz", ".csv", *PICTURE_SUFFIXES, ".pkl", ".pickle"}


def _claims_to_be_a_map(path: Path) -> bool:
    return path.suffix.lower() in MAP_SUFFIXES


@dataclass
class Loaded:
    """One file of a batch: its wafers, or the error that stopped it."""

    path: Path
    format: str | None = None
    wafers: list[WaferMap] = field(default_factory=list)
    error: FabsightError | None = None


def load_many(paths: Iterable[str | Path], options: LoadOptions = LoadOptions()) -> Iterator[Loaded]:
    """Each file in turn: one bad file never stops a batch.

    A file found inside a folder that is not a wafer map at all (a README,
    say) is passed over with one warning at the end; a file named
    explicitly, or whose name claims a map format (junk called `.png`), is
    always read or reported.
    """
    yield from load_files(expand_paths(paths), options)


def load_files(files: Sequence[tuple[Path, bool]], options: LoadOptions = LoadOptions()) -> Iterator[Loaded]:
    """`load_many` over (file, named) pairs from `expand_paths`, so that work split into parts reads alike."""
    passed_over = []
    for path, named in track(files, "reading"):
        try:
            reader = detect(path)
            yield Loaded(path, reader.name, _load_with(path, reader, options))
        except UnknownFormat as exc:
            if named or _claims_to_be_a_map(path):
                yield Loaded(path, error=exc)
            else:
                passed_over.append(str(path))  # as the user gave it: two folders may hold the same name
        except FabsightError as exc:
            yield Loaded(path, error=exc)
    if passed_over:
        shown = ", ".join(passed_over[:5]) + (f" and {len(passed_over) - 5} more" if len(passed_over) > 5 else "")
        warnings.warn(f"skipped {len(passed_over)} file(s) in folders that are not wafer maps: {shown}",
                      FabsightWarning, stacklevel=2)
