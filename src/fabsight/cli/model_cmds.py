"""`fabsight embed`, `fabsight classify` and `fabsight train probe`: the image-text model on wafer maps."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.cli.app import Command
from fabsight.cli.display import message, percent, table
from fabsight.cli.wafer_cmds import INPUT_HELP, InputOptions
from fabsight.knowledge.patterns import UNCERTAIN
from fabsight.options import option
from fabsight.tasks.classify import ClassifyOptions, classify_files
from fabsight.tasks.embed import EmbedOptions, embed_files, save_embeddings
from fabsight.train.probe import ProbeTrainOptions, train_probe
from fabsight.wafer.readers import LoadOptions

MAX_ROWS = 200  # a person reads a table this long at most; --json and --out carry everything
FIRST_VALUES = 4


def _file(row: dict[str, Any]) -> str:
    return Path(row["source"]).name


def _wafer(row: dict[str, Any]) -> str:
    """The id other commands take (`evaluate classify --truth`, `index remove`) where the data names the wafer."""
    if row.get("lot") and row.get("wafer_id"):
        return row["id"]
    named = "/".join(str(v) for v in (row.get("lot"), row.get("wafer_id")) if v)
    return named or f"#{row['index']}"


def _more(shown: int, total: int) -> None:
    if total > shown:
        message(f"… and {total - shown} more (all of them with --json)")


# --- embed ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class EmbedCommandOptions(EmbedOptions, LoadOptions):
    paths: list[str] = option(INPUT_HELP, [], positional=True, nargs="*", metavar="PATH")
    out: str | None = option("save the vectors with their ids to this .npz; the JSON then lists ids only", None,
                             short="-o", metavar="FILE.npz")


def run_embed(options: EmbedCommandOptions) -> dict[str, Any]:
    result = embed_files(options.paths, options, options)
    if options.out:
        return {**result.to_json(vectors=False), "out": str(save_embeddings(result, options.out))}
    return {**result.to_json(), "out": None}


def _preview(vector: list[float] | None) -> str:
    return "-" if vector is None else " ".join(f"{v:+.3f}" for v in vector[:FIRST_VALUES]) + " …"


def _norm(vector: list[float] | None) -> str:
    return "-" if vector is None else f"{sum(v * v for v in vector) ** 0.5:.3f}"


def show_embed(result: dict) -> None:
    wafers = result["wafers"]
    rows = [(_file(w), _wafer(w), result["dim"], _norm(w.get("vector")), _preview(w.get("vector")))
            for w in wafers[:MAX_ROWS]]
    if rows:
        table(None, ("file", "wafer", "dim", "norm", "first values"), rows, right=("dim", "norm"))
        _more(len(rows), len(wafers))
    if result["texts"]:
        table(None, ("text", "dim", "norm", "first values"),
              [(t["text"], result["dim"], _norm(t.get("vector")), _preview(t.get("vector"))) for t in result["texts"]],
              right=("dim", "norm"))
    where = f"; vectors saved to {result['out']}" if result["out"] else ""
    message(f"{len(wafers)} wafer(s) and {len(result['texts'])} text(s) embedded with {result['model']} "
            f"({result['dim']}-d unit vectors){where}")


# --- classify ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ClassifyCommandOptions(InputOptions, ClassifyOptions):
    pass


def run_classify(options: ClassifyCommandOptions) -> dict[str, Any]:
    return classify_files(options.paths, options, options)


def _confidence(value: float, uncertain: bool) -> str:
    """Colour only for the eye; the decision is the min-confidence rule."""
    colour = "red" if uncertain else "green" if value >= 0.8 else "yellow"
    return f"[{colour}]{percent(value)}[/{colour}]"


def _runner_up(scores: dict[str, float]) -> str | None:
    second = list(scores.items())[1:2]
    return f"{second[0][0]} ({percent(second[0][1])})" if second else None


def _classify_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """An uncertain answer still names its best guess (scores come best first): the confidence shown is its."""
    uncertain = row["pattern"] == UNCERTAIN
    best = next(iter(row["scores"]), None)
    pattern = f"{UNCERTAIN} ({best}?)" if uncertain and best else row["pattern"]
    return (_file(row), _wafer(row), pattern, _confidence(row["confidence"], uncertain), _runner_up(row["scores"]),
            ", ".join(row["present"]) or "-")


def show_classify(result: dict) -> None:
    found = result["results"]
    rows = [_classify_row(r) for r in found[:MAX_ROWS]]
    if rows:
        table(None, ("file", "wafer", "pattern", "confidence", "runner-up", "present"), rows, right=("confidence",))
        _more(len(rows), len(found))
    counts = ", ".join(f"{name} {count}" for name, count in Counter(r["pattern"] for r in found).most_common())
    how = (f"probe {result['probe']}" if result["method"] == "probe"
           else f"zero-shot over {len(result['labels'])} labels")
    message(f"{len(found)} wafer(s) classified with {result['model']} ({how}){': ' + counts if counts else ''}")


# --- train probe -------------------------------------------------------------------------------
def run_train_probe(options: ProbeTrainOptions) -> dict[str, Any]:
    return train_probe(options)


def show_train_probe(result: dict) -> None:
    table(None, ("label", "maps"), sorted(result["class_counts"].items()), right=("maps",))
    held = (f"held-out accuracy {percent(result['held_out_accuracy'])} on {result['held_out_maps']} maps"
            if result["held_out_accuracy"] is not None else "no maps held out")
    message(f"probe {result['name']!r} for {result['model']} saved to {result['folder']}: {result['train_maps']} "
            f"maps, training accuracy {percent(result['train_accuracy'])}, {held}")
    if "fine_tune" in result:
        tune, frozen = result["fine_tune"], result["frozen_probe"]
        versus = (f"; the probe on the frozen model: {percent(frozen['held_out_accuracy'])}"
                  if frozen["held_out_accuracy"] is not None else "")
        message(f"fine-tuned copy of {frozen['model']} ({tune['steps']} steps of {tune['batch']} maps, image tower "
                f"and head){versus}")
    prior = "pulled toward the zero-shot classifier" if result["prior"] == "zero-shot" else "no prior"
    message(f"fitted on the mean of {result['views']} view(s) per map, {prior}, l2 {result['l2']:g} "
            f"({'given' if result['l2_from'] == 'given' else 'by cross-validation'})")
    message(f"use it with: fabsight classify PATH... --model {result['model']} --probe {result['name']}")


COMMANDS = (
    Command("embed", "image vectors for wafer maps (and text vectors for --text) from an image-text model",
            EmbedCommandOptions, run_embed, show_embed),
    Command("classify", "pattern of each wafer: zero-shot over any labels, or a fitted probe",
            ClassifyCommandOptions, run_classify, show_classify),
    Command("train probe", "fit a small classifier on your labelled maps over a model's frozen vectors (or fine-tune "
            "the image tower with it: --fine-tune DIR)",
            ProbeTrainOptions, run_train_probe, show_train_probe),
)
