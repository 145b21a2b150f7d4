"""`fabsight evaluate captions | classify | search | asr`: score predictions against references."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fabsight.cli.app import Command
from fabsight.cli.display import message, table
from fabsight.errors import InputError
from fabsight.evaluate import captions, classification, classification_files, retrieval, speech
from fabsight.options import option

WORST_SHOWN = 10  # per-item tables list the worst items first


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _per_item(result: dict[str, Any], per_item: bool, key: str = "items") -> dict[str, Any]:
    return result if per_item else {k: v for k, v in result.items() if k != key}


# --- captions --------------------------------------------------------------------------------------
# The file options come first in --help: a dataclass lists the fields of its last base first.
@dataclass(frozen=True, kw_only=True)
class _CaptionFiles:
    refs: str = option(f"reference captions: {captions.FORMATS_HELP}", metavar="REFS")
    preds: str = option("predicted captions, one per id, in the same forms", metavar="PREDS")


@dataclass(frozen=True, kw_only=True)
class CaptionsCommandOptions(captions.CaptionOptions, _CaptionFiles):
    per_item: bool = option("include per-image scores (JSON: 'items'; table: the lowest CIDEr first)", False)


def run_captions(options: CaptionsCommandOptions) -> dict[str, Any]:
    result = captions.evaluate_caption_files(options.refs, options.preds, options)
    return _per_item(result, options.per_item)


def show_captions(result: dict[str, Any]) -> None:
    table("Caption metrics", ("metric", "score"), [(m, _number(result[m])) for m in captions.METRICS],
          right=("score",))
    message(f"{result['images']} images, {result['references']} reference captions, "
            f"{result['tokenizer'].upper()} tokenizer")
    for metric, why in result["unavailable"].items():
        message(f"[yellow]{metric} not computed: {why}[/yellow]")
    if result["tokenizer"] != "ptb":
        message("[yellow]approximate tokenisation: not comparable with published COCO numbers[/yellow]")
    if result["references_without_prediction"]:
        message(f"{result['references_without_prediction']} reference image(s) without a prediction were not scored")
    if "items" in result:
        worst = sorted(result["items"], key=lambda item: item["CIDEr"])[:WORST_SHOWN]
        table(f"Lowest CIDEr ({len(worst)} of {len(result['items'])})", ("id", *captions.METRICS),
              [(item["id"], *(_number(item[m], 3) for m in captions.METRICS)) for item in worst],
              right=captions.METRICS)


# --- classify --------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _ClassifyFiles:
    truth: str | None = option("true labels: CSV with a header 'id,label', JSON Lines, or JSON {id: label}; "
                               "default: the labels the maps carry, when --preds is `fabsight classify --json` "
                               "output (its results' 'label')", None, metavar="FILE")
    preds: str = option(f"predictions: `fabsight classify --json` output, or {classification_files.FORMAT_HELP}",
                        metavar="FILE")


@dataclass(frozen=True, kw_only=True)
class ClassifyCommandOptions(classification_files.ClassifyOptions, _ClassifyFiles):
    confusion_png: str | None = option("also draw the confusion matrix to this PNG file", None, metavar="PNG")
    per_item: bool = option("include each item's truth and prediction (JSON: 'per_item'; table: the misses, the "
                            "most confident first)", False)


def run_classify(options: ClassifyCommandOptions) -> dict[str, Any]:
    result = classification_files.evaluate_classification_files(options.truth, options.preds, options)
    if options.confusion_png:
        if result["mode"] == "multi-label":
            raise InputError("--confusion-png: the true labels name several patterns per map, scored pattern by "
                             "pattern, so there is no confusion matrix to draw")
        result["confusion_png"] = str(classification.save_confusion_png(result, options.confusion_png))
    return _per_item(result, options.per_item, "per_item")


def _show_misses(result: dict[str, Any]) -> None:
    """The items read wrong: for one label each, the most confident first (the likeliest label or model faults)."""
    if result["mode"] == "multi-label":
        missed = [i for i in result["per_item"] if not i["exact"]]
        rows = [(i["id"], i["label"], ", ".join(i["present"]) or "-") for i in missed[:WORST_SHOWN]]
        columns: tuple[str, ...] = ("id", "true patterns", "found present")
    else:
        missed = sorted((i for i in result["per_item"] if i["predicted"] != i["label"]),
                        key=lambda i: -(i["confidence"] or 0.0))
        rows = [(i["id"], i["label"], i["predicted"], _number(i["confidence"], 3)) for i in missed[:WORST_SHOWN]]
        columns = ("id", "true", "predicted", "confidence")
    table(f"Misses ({len(rows)} of {len(missed)})", columns, rows, right=("confidence",))


def _show_presence(result: dict[str, Any]) -> None:
    table("Classification, several patterns per map (each map's set of present patterns)", ("metric", "value"),
          [("items", result["items"]), ("exact match", _number(result["exact_match"])),
           ("macro-F1 (patterns in the truth)", _number(result["macro_f1"]))], right=("value",))
    table("Per pattern", ("pattern", "precision", "recall", "F1", "support", "predicted"),
          [(name, _number(p["precision"]), _number(p["recall"]), _number(p["f1"]), p["support"], p["predicted"])
           for name, p in result["per_pattern"].items()], right=("precision", "recall", "F1", "support", "predicted"))


def show_classify(result: dict[str, Any]) -> None:
    if result["mode"] == "multi-label":
        _show_presence(result)
    else:
        _show_single_label(result)
    if result["references_without_prediction"]:
        message(f"{result['references_without_prediction']} labelled item(s) without a prediction were not scored")
    if result["left_out"]:
        message(f"{result['left_out']} item(s) left out by their true label (--leave-out)")
    if "per_item" in result:
        _show_misses(result)


def _show_single_label(result: dict[str, Any]) -> None:
    summary = [("items", result["items"]), ("accuracy", _number(result["accuracy"])),
               ("macro-F1", _number(result["macro_f1"])),
               ("ECE", _number(result["ece"]) + (f" ({len(result['calibration'])} bins)" if result["ece"] is not None
                                                 else " (no confidences given)"))]
    if "abstained" in result:
        summary.append(("uncertain answers", f"{result['abstained']} (accuracy on the rest: "
                                             f"{_number(result['accuracy_answered'])})"))
    table("Classification", ("metric", "value"), summary, right=("value",))
    table("Per class", ("class", "precision", "recall", "F1", "support", "predicted"),
          [(c["label"], _number(c["precision"]), _number(c["recall"]), _number(c["f1"]), c["support"], c["predicted"])
           for c in result["per_class"]], right=("precision", "recall", "F1", "support", "predicted"))
    labels = result["labels"]
    table("Confusion matrix (rows: true class, columns: predicted)", ("true \\ predicted", *labels),
          [(labels[i], *result["confusion"][i]) for i in classification.true_rows(result)], right=labels)
    if result.get("confusion_png"):
        message(f"confusion matrix drawn to {result['confusion_png']}")


# --- search ----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _SearchFiles:
    qrels: str = option(f"relevance judgements: {retrieval.QRELS_HELP}", metavar="FILE")
    run: str = option(f"search results: {retrieval.RUN_HELP}", metavar="FILE")


@dataclass(frozen=True, kw_only=True)
class SearchCommandOptions(retrieval.SearchOptions, _SearchFiles):
    per_item: bool = option("include per-query scores", False)


def run_search(options: SearchCommandOptions) -> dict[str, Any]:
    result = retrieval.evaluate_search_files(options.qrels, options.run, options)
    return _per_item(result, options.per_item, "per_query")


def show_search(result: dict[str, Any]) -> None:
    rows = [(f"recall@{k}", _number(result[f"recall@{k}"])) for k in result["k"]]
    rows += [(f"precision@{k}", _number(result[f"precision@{k}"])) for k in result["k"]]
    rows += [("mAP", _number(result["mAP"])), ("MRR", _number(result["MRR"]))]
    table("Search", ("metric", "score"), rows, right=("score",))
    message(f"{result['queries']} queries")
    if result["queries_without_relevant"]:
        message(f"{result['queries_without_relevant']} query(ies) without a relevant document were not scored")
    if result["queries_without_results"]:
        message(f"{result['queries_without_results']} judged query(ies) missing from the run were not scored")
    if "per_query" in result:
        worst = sorted(result["per_query"], key=lambda q: q["AP"])[:WORST_SHOWN]
        table(f"Lowest average precision ({len(worst)} of {len(result['per_query'])})",
              ("query", "relevant", "retrieved", "AP", "RR"),
              [(q["query"], q["relevant"], q["retrieved"], _number(q["AP"]), _number(q["RR"])) for q in worst],
              right=("relevant", "retrieved", "AP", "RR"))


# --- asr -------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _AsrFiles:
    refs: str = option(f"reference transcripts: {speech.FORMAT_HELP}", metavar="FILE")
    hyps: str = option("recognised transcripts, in the same forms", metavar="FILE")


@dataclass(frozen=True, kw_only=True)
class AsrCommandOptions(speech.SpeechOptions, _AsrFiles):
    per_item: bool = option("include per-utterance scores", False)


def run_asr(options: AsrCommandOptions) -> dict[str, Any]:
    result = speech.evaluate_speech_files(options.refs, options.hyps, options)
    return _per_item(result, options.per_item)


def show_asr(result: dict[str, Any]) -> None:
    message(f"Speech recognition: {result['utterances']} utterances, normalisation: {result['normalize']}")
    table(None,
          ("metric", "value", "substitutions", "deletions", "insertions", "reference length"),
          [("WER", _number(result["WER"]), result["word_substitutions"], result["word_deletions"],
            result["word_insertions"], result["reference_words"]),
           ("CER", _number(result["CER"]), result["char_substitutions"], result["char_deletions"],
            result["char_insertions"], result["reference_chars"])],
          right=("value", "substitutions", "deletions", "insertions", "reference length"))
    if result["references_without_hypothesis"]:
        message(f"{result['references_without_hypothesis']} reference(s) without a hypothesis were not scored")
    if "items" in result:
        worst = sorted(result["items"], key=lambda item: -item["WER"])[:WORST_SHOWN]
        table(f"Highest WER ({len(worst)} of {len(result['items'])})", ("id", "WER", "CER", "errors", "words"),
              [(i["id"], _number(i["WER"]), _number(i["CER"]), i["errors"], i["reference_words"]) for i in worst],
              right=("WER", "CER", "errors", "words"))


COMMANDS = (
    Command("evaluate captions", "BLEU-1..4, METEOR, ROUGE-L and CIDEr as the COCO caption evaluation",
            CaptionsCommandOptions, run_captions, show_captions),
    Command("evaluate classify", "accuracy, macro-F1, per-class precision/recall, confusion matrix, ECE",
            ClassifyCommandOptions, run_classify, show_classify),
    Command("evaluate search", "recall@k, precision@k, mAP and MRR as trec_eval",
            SearchCommandOptions, run_search, show_search),
    Command("evaluate asr", "word and character error rate (jiwer)", AsrCommandOptions, run_asr, show_asr),
)
