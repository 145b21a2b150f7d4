"""Caption metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, exactly as the COCO caption evaluation.

The numbers come from the reference package itself, `pycocoevalcap`: its
`Bleu`, `Meteor`, `Rouge` and `Cider` scorers are called on captions
tokenised by the same Stanford PTB tokenizer (see `fabsight.evaluate.ptb`).
Nothing is re-implemented; this module reads the files, lines the ids up,
guards the few inputs that crash the scorers, and returns plain data.

What "corpus" means per metric (as in the reference):

- BLEU-n: corpus BLEU (n-gram counts summed over all images, brevity
  penalty on the summed lengths, "closest" reference length). Per item:
  the reference's sentence BLEU (with its tiny smoothing constants).
- METEOR: the METEOR 1.5 jar's aggregate over all images (not a mean).
- ROUGE-L: mean of the per-image ROUGE-L (beta 1.2, best over references).
- CIDEr: CIDEr-D as in coco-caption (clipped tf-idf, length penalty,
  sigma 6, x10), the mean over images. Document frequencies come from the
  references of the images being scored, so per-item CIDEr depends on the
  whole set, and a set of one image always scores 0.

Empty predictions (and predictions that are only punctuation, which are
empty after tokenisation) are scored, not dropped: they get what the
reference scorers give them: 0 for BLEU, METEOR and CIDEr; 0 for ROUGE-L
too, unless a reference is also empty, where the reference's ROUGE-L finds
the two empty strings equal and gives 1 (a quirk we keep, so the numbers
stay the reference's). None of these crash pycocoevalcap 1.2's scorers.
The one input that does is a set whose references are all empty after
tokenisation (CIDEr takes the max of no document frequencies); CIDEr is
then 0 for every item.

METEOR runs one Java process for all items (its start-up, about 8 s, is
loading the paraphrase table). Without Java, the standard tokenisation is
unavailable too: the default is a clear `FabsightError`; with
`tokenizer="python"` BLEU, ROUGE-L and CIDEr are computed on an
approximate tokenisation, and METEOR is reported as unavailable.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.errors import FabsightError, FabsightWarning, InputError
from fabsight.evaluate import ptb
from fabsight.evaluate.external import eval_extra_missing, java_executable
from fabsight.evaluate.io import align_ids, check_text, normalize_id, preview, read_json_or_lines
from fabsight.options import option
from fabsight.progress import spinner

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
TOKENIZERS = ("ptb", "python")
FORMATS_HELP = ("COCO captions annotation file ({'annotations': [{'image_id', 'caption'}]}), "
                "COCO results list ([{'image_id', 'caption'}]), or {id: [captions]} / {id: caption}")


@dataclass(frozen=True, kw_only=True)
class CaptionOptions:
    tokenizer: str = option("'ptb': the standard Stanford PTB tokenizer of the COCO evaluation (needs Java); "
                            "'python': an approximation for machines without Java (numbers are not the standard "
                            "ones)", "ptb", choices=TOKENIZERS)
    skip_meteor: bool = option("do not compute METEOR (saves its ~8 s Java start-up)", False)


# --- reading -----------------------------------------------------------------------------------
def _caption_rows(data: Any, path: Path, role: str) -> list[tuple[Any, Any]]:
    """(id, caption or list of captions) pairs from any of the accepted layouts."""
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
        if not isinstance(data, list):
            raise InputError("'annotations' must be a list of {'image_id', 'caption'} objects", path)
    if isinstance(data, list):
        rows = []
        for number, item in enumerate(data, 1):
            if not isinstance(item, dict) or "image_id" not in item or "caption" not in item:
                raise InputError(f"{role} entry {number} is not an object with 'image_id' and 'caption' "
                                 f"(accepted: {FORMATS_HELP})", path)
            rows.append((item["image_id"], item["caption"]))
        return rows
    if isinstance(data, dict):
        return list(data.items())
    raise InputError(f"expected {FORMATS_HELP}", path)


def read_captions(path: str | Path, role: str = "reference") -> dict[str, list[str]]:
    """Captions per id, in file order; ids as strings (see `fabsight.evaluate.io`)."""
    path = Path(path)
    out: dict[str, list[str]] = {}
    for key, value in _caption_rows(read_json_or_lines(path), path, role):
        where = f"{role} for id {key!r}"
        key = normalize_id(key, path, where)
        values = value if isinstance(value, list) else [value]
        out.setdefault(key, []).extend(check_text(v, path, where) for v in values)
    if not out:
        raise InputError(f"no {role} captions", path)
    return out


def read_references(path: str | Path) -> dict[str, list[str]]:
    return read_captions(path, "reference")


def read_predictions(path: str | Path) -> dict[str, str]:
    """One caption per id: more than one (or none) for an id is an error naming the ids."""
    captions = read_captions(path, "prediction")
    wrong = [key for key, values in captions.items() if len(values) != 1]
    if wrong:
        raise InputError(f"{len(wrong)} id(s) do not have exactly one predicted caption: {preview(wrong)}", path)
    return {key: values[0] for key, values in captions.items()}


# --- scoring -----------------------------------------------------------------------------------
def _scorers():
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as exc:
        raise eval_extra_missing("pycocoevalcap", exc) from None
    return Bleu, Rouge, Cider


def _tokenize(captions: list[str], tokenizer: str) -> list[str]:
    if tokenizer == "ptb":
        if java_executable() is None:
            raise FabsightError("Java was not found on PATH; the standard caption metrics need it for the PTB "
                                "tokenizer and METEOR of the COCO evaluation: install a Java runtime (e.g. "
                                "`sudo apt-get install default-jre-headless`), or pass --tokenizer python for "
                                "approximate BLEU, ROUGE-L and CIDEr without METEOR")
        return ptb.ptb_tokenize(captions)
    if tokenizer == "python":
        return ptb.python_tokenize(captions)
    raise InputError(f"unknown tokenizer {tokenizer!r}; choose one of {', '.join(TOKENIZERS)}")


def _meteor(gts: dict[int, list[str]], res: dict[int, list[str]]) -> tuple[float, list[float]]:
    """The reference METEOR wrapper, one Java process for all items; failures become a FabsightError."""
    from pycocoevalcap.meteor.meteor import Meteor

    try:
        scorer = Meteor()
    except OSError as exc:
        raise FabsightError(f"could not start Java for METEOR: {exc}") from None
    try:
        score, scores = scorer.compute_score(gts, res)
    except (ValueError, OSError) as exc:  # the jar died: readline() gave b"" (or the pipe broke)
        raise FabsightError(f"METEOR (Java) failed: {_stop(scorer) or exc}") from None
    finally:
        if scorer.lock.locked():  # compute_score holds it when it fails; __del__ would wait forever
            scorer.lock.release()
    return float(score), [float(s) for s in scores]


def _stop(scorer) -> str:
    """End a failed METEOR process; its last line of stderr. Closing the pipes here, quietly, keeps the
    wrapper's __del__ from printing a BrokenPipeError traceback later."""
    process = scorer.meteor_p
    process.kill()
    process.wait()
    detail = process.stderr.read().decode("utf-8", "replace").strip().splitlines()
    for pipe in (process.stdin, process.stdout, process.stderr):
        try:
            pipe.close()
        except OSError:
            pass
    return detail[-1] if detail else ""


def _cider(gts: dict[int, list[str]], res: dict[int, list[str]], Cider) -> tuple[float, list[float]]:
    if not any(ref.split() for refs in gts.values() for ref in refs):
        return 0.0, [0.0] * len(res)  # no reference n-grams: the reference scorer would crash on max([])
    score, scores = Cider().compute_score(gts, res)
    return float(score), [float(s) for s in scores]


def score_tokenized(gts: dict[int, list[str]], res: dict[int, list[str]], meteor: bool = True
                    ) -> tuple[dict[str, float | None], dict[str, list[float] | None]]:
    """Corpus and per-item scores of already tokenised captions, with the reference scorers."""
    Bleu, Rouge, Cider = _scorers()
    corpus: dict[str, float | None] = {}
    items: dict[str, list[float] | None] = {}
    bleu, bleu_items = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        corpus[f"BLEU-{n + 1}"] = float(bleu[n])
        items[f"BLEU-{n + 1}"] = [float(s) for s in bleu_items[n]]
    if meteor:
        with spinner("METEOR (Java, about 8 s to start)"):
            corpus["METEOR"], items["METEOR"] = _meteor(gts, res)
    else:
        corpus["METEOR"], items["METEOR"] = None, None
    rouge, rouge_items = Rouge().compute_score(gts, res)
    corpus["ROUGE-L"], items["ROUGE-L"] = float(rouge), [float(s) for s in rouge_items]
    corpus["CIDEr"], items["CIDEr"] = _cider(gts, res, Cider)
    return corpus, items


def score_captions(references: dict[str, list[str]], predictions: dict[str, str],
                   options: CaptionOptions = CaptionOptions(), *, predictions_path: str | Path | None = None
                   ) -> dict[str, Any]:
    """Corpus-level and per-item caption metrics over the predicted ids.

    `references`: id -> one or more captions; `predictions`: id -> one caption.
    Returns {"BLEU-1": ..., ..., "CIDEr": ..., "images": n, "items": [...],
    "tokenizer": ..., "unavailable": {metric: why}}. Ids in `predictions`
    missing from `references` are an `InputError` naming them.
    """
    ids = align_ids(predictions, references, predictions_path or "predictions")
    no_refs = [key for key in ids if not references[key]]
    if no_refs:
        raise InputError(f"{len(no_refs)} id(s) have no reference caption: {preview(no_refs)}", predictions_path)
    if len(ids) == 1:
        warnings.warn("only one image: CIDEr takes its document frequencies from the scored set, "
                      "so with one image it is always 0", FabsightWarning, stacklevel=2)
    ref_lists = [references[key] for key in ids]
    with spinner("tokenising captions"):
        flat_refs = _tokenize([c for refs in ref_lists for c in refs], options.tokenizer)
        flat_preds = _tokenize([predictions[key] for key in ids], options.tokenizer)
    gts: dict[int, list[str]] = {}
    start = 0
    for index, refs in enumerate(ref_lists):
        gts[index] = flat_refs[start:start + len(refs)]
        start += len(refs)
    res = {index: [caption] for index, caption in enumerate(flat_preds)}

    unavailable: dict[str, str] = {}
    meteor = not options.skip_meteor
    if options.skip_meteor:
        unavailable["METEOR"] = "skipped on request (--skip-meteor)"
    elif java_executable() is None:
        meteor = False
        unavailable["METEOR"] = "needs Java, which was not found on PATH"
    corpus, per_item = score_tokenized(gts, res, meteor=meteor)
    items = [{"id": key, **{m: (None if per_item[m] is None else per_item[m][i]) for m in METRICS}}
             for i, key in enumerate(ids)]
    return {**corpus, "images": len(ids), "references": sum(len(r) for r in ref_lists),
            "references_without_prediction": len(references) - len(ids), "tokenizer": options.tokenizer,
            "unavailable": unavailable, "items": items}


def evaluate_caption_files(refs_path: str | Path, preds_path: str | Path,
                           options: CaptionOptions = CaptionOptions()) -> dict[str, Any]:
    """`score_captions` on two files (COCO format or the simple {id: [captions]} form)."""
    references = read_references(refs_path)
    predictions = read_predictions(preds_path)
    result = score_captions(references, predictions, options, predictions_path=preds_path)
    return {**result, "refs": str(refs_path), "preds": str(preds_path)}
