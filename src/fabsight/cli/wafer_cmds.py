"""`fabsight stats`, `fabsight ingest` and `fabsight render`: read wafer maps, count, write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.cli.app import Command
from fabsight.cli.display import message, percent, table, yield_text
from fabsight.files import ensure_folder
from fabsight.options import option
from fabsight.progress import track
from fabsight.wafer.naming import unique_stems
from fabsight.wafer.readers import LoadOptions, Loaded, load_many
from fabsight.wafer.stats import StatsOptions, wafer_stats

INPUT_HELP = "wafer-map files or folders (STDF, .npy/.npz, die-list CSV, PNG/JPEG, pickle)"


@dataclass(frozen=True, kw_only=True)
class InputOptions(LoadOptions):
    paths: list[str] = option(INPUT_HELP, positional=True, metavar="PATH")


def _error_row(item: Loaded) -> dict[str, str]:
    return {"source": str(item.path), "error": item.error.message if item.error else ""}


# --- stats ------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class StatsCommandOptions(InputOptions, StatsOptions):
    pass


def run_stats(options: StatsCommandOptions) -> dict[str, Any]:
    wafers, errors = [], []
    for item in load_many(options.paths, options):
        if item.error:
            errors.append(_error_row(item))
            continue
        wafers.extend(wafer_stats(w, options) for w in item.wafers)
    return {"wafers": wafers, "errors": errors}


def _largest_cluster(stats: dict) -> int | None:
    largest = stats.get("clusters", {}).get("largest", [])
    return largest[0]["size"] if largest else None


def _top_fail_bin(stats: dict) -> str | None:
    bins = stats.get("hard_bins") or []
    fail_bins = [b for b in bins if b["bin"] != 1]  # bin 1 is the usual pass bin: show the worst other
    return f"{fail_bins[0]['bin']} ({fail_bins[0]['count']})" if fail_bins else None


def show_stats(result: dict) -> None:
    rows = []
    for s in result["wafers"]:
        zones = s.get("zones", {})
        rows.append((_file_name(s), s["lot"], s["wafer_id"], s["dies"], s["fails"],
                     yield_text(s["yield"]) + ("" if s["complete"] else " [red](incomplete)[/red]"),
                     percent(zones.get("center", {}).get("yield")), percent(zones.get("edge", {}).get("yield")),
                     _largest_cluster(s), _top_fail_bin(s)))
    table(None, ("file", "lot", "wafer", "dies", "fails", "yield", "centre", "edge", "biggest cluster",
                 "top fail bin"), rows,
          right=("dies", "fails", "yield", "centre", "edge", "biggest cluster"))


def _file_name(row: dict) -> str:
    return Path(row["source"]).name if row["source"] else "-"


# --- ingest and render --------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class IngestOptions(InputOptions):
    out: str | None = option("folder to write each wafer to, as .npz and .png", None, short="-o")


@dataclass(frozen=True, kw_only=True)
class RenderOptions(InputOptions):
    out: str = option("folder for the PNG pictures", "wafer-maps", short="-o")


def _write(item: Loaded, out: Path, stems_taken: set[str], npz: bool) -> list[dict[str, str]]:
    from fabsight.wafer.npz import save_npz
    from fabsight.wafer.render import save_png

    written = []
    for wafer, stem in zip(track(item.wafers, "writing"), unique_stems(item.wafers, stems_taken)):
        files = {"png": str(save_png(wafer, out / f"{stem}.png"))}
        if npz:
            files["npz"] = str(save_npz(wafer, out / f"{stem}.npz"))
        written.append(files)
    return written


def _ingest(paths: list[str], options: LoadOptions, out: str | None, npz: bool) -> dict[str, Any]:
    wafers, errors, taken = [], [], set()
    out_dir = Path(out) if out else None
    if out_dir:
        ensure_folder(out_dir)
    for item in load_many(paths, options):
        if item.error:
            errors.append(_error_row(item))
            continue
        files = _write(item, out_dir, taken, npz) if out_dir else [{}] * len(item.wafers)
        for wafer, written in zip(item.wafers, files):
            wafers.append({**wafer.metadata(), "format": item.format, "rows": wafer.shape[0],
                           "cols": wafer.shape[1], "dies": wafer.dies, "fails": wafer.fails,
                           "yield": wafer.yield_, "files": written})
    return {"wafers": wafers, "errors": errors, "out": str(out_dir) if out_dir else None}


def run_ingest(options: IngestOptions) -> dict[str, Any]:
    return _ingest(options.paths, options, options.out, npz=True)


def run_render(options: RenderOptions) -> dict[str, Any]:
    return _ingest(options.paths, options, options.out, npz=False)


def show_ingest(result: dict) -> None:
    rows = [(_file_name(w), w["format"], w["lot"], w["wafer_id"], f"{w['rows']}x{w['cols']}", w["dies"],
             yield_text(w["yield"]) + ("" if w["complete"] else " [red](incomplete)[/red]"),
             ", ".join(Path(f).name for f in w["files"].values())) for w in result["wafers"]]
    table(None, ("file", "format", "lot", "wafer", "grid", "dies", "yield", "written"), rows,
          right=("dies", "yield"))
    if result["out"]:
        message(f"{len(result['wafers'])} wafer(s) written to {result['out']}")


COMMANDS = (
    Command("stats", "die counts, yield, zones, profiles, clusters and bins per wafer",
            StatsCommandOptions, run_stats, show_stats),
    Command("ingest", "read wafer maps from any supported file; optionally save them as .npz and .png",
            IngestOptions, run_ingest, show_ingest),
    Command("render", "draw wafer maps to PNG", RenderOptions, run_render, show_ingest),
)
