"""`fabsight index add|remove|info` and `fabsight search`: the wafer history index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.cli.app import Command
from fabsight.cli.display import message, percent, table
from fabsight.cli.wafer_cmds import InputOptions
from fabsight.search.indexing import (IndexAddOptions, IndexOptions, IndexRemoveOptions, add_files, index_info,
                                      remove_entries)
from fabsight.search.query import SearchOptions, search


@dataclass(frozen=True, kw_only=True)
class IndexAddCommandOptions(IndexAddOptions, InputOptions):
    pass


def run_add(options: IndexAddCommandOptions) -> dict[str, Any]:
    return add_files(options.paths, options, options)


def show_add(result: dict) -> None:
    where = f" on Ray ({result['ray']['workers']} workers)" if "ray" in result else ""
    message(f"{result['read']} wafer(s) indexed{where}: {result['new']} new, {result['updated']} updated; "
            f"{result['index']} now holds {result['count']} (model {result['model']})")


def show_remove(result: dict) -> None:
    message(f"removed {result['removed']} entr{'y' if result['removed'] == 1 else 'ies'}; "
            f"{result['index']} now holds {result['count']}")


def _size(size: int | None) -> str:
    if size is None:
        return "unknown (object storage)"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def show_info(result: dict) -> None:
    model = result["model"]
    table(None, ("", ""), [("index", result["index"]), ("entries", result["count"]),
                           ("size on disk", _size(result["size_bytes"])),
                           ("model", f"{model['name']} ({model['dim']}-d, weights {model['fingerprint']})"),
                           ("vector index", "IVF-PQ" if result["vector_index"] else "none (exact search)"),
                           ("version", result["version"])])
    if result["patterns"]:
        table("predicted patterns", ("pattern", "wafers"), result["patterns"].items(), right=("wafers",))


def _wafer(row: dict[str, Any]) -> str:
    return "/".join(str(v) for v in (row.get("lot"), row.get("wafer_id")) if v) or f"{Path(row['source']).name}" \
        f"#{row['index']}"


def show_search(result: dict) -> None:
    rows = [(rank, f"{r['score']:.3f}", _wafer(r), r.get("product") or "-", (r.get("test_time") or "-")[:10],
             r["pattern"], percent(r["yield"]), r["map"] or "-")
            for rank, r in enumerate(result["results"], 1)]
    if not rows:
        message("no wafer matches (check the filters)")
        return
    table(None, ("#", "score", "wafer", "product", "tested", "pattern", "yield", "map"), rows,
          right=("#", "score", "yield"))


COMMANDS = (
    Command("index add", "add wafers (files or folders) to a search index, or update those already in it",
            IndexAddCommandOptions, run_add, show_add),
    Command("index remove", "remove entries from a search index, by id or by filter", IndexRemoveOptions,
            remove_entries, show_remove),
    Command("index info", "what a search index holds: count, size, the model that made it", IndexOptions,
            index_info, show_info),
    Command("search", "find wafers in an index by text, by example (--like), or both, with filters",
            SearchOptions, search, show_search),
)
