"""Speech recognition metrics: word and character error rate, computed by `jiwer`.

Corpus WER is the total of substitutions, deletions and insertions over
all utterances divided by the total number of reference words (not the
mean of per-utterance WERs); CER likewise on characters. Text is compared
as given (jiwer's default: surrounding and repeated spaces removed) unless
`normalize="basic"`: lower case, punctuation removed (Unicode punctuation,
so "78%" becomes "78" and "it's" becomes "its"), spaces collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.errors import InputError
from fabsight.evaluate.external import eval_extra_missing
from fabsight.evaluate.io import align_ids, check_text, read_records, read_text, records_by_id
from fabsight.options import option

NORMALIZE = ("none", "basic")
FORMAT_HELP = ("a text file with one 'id transcript' per line (Kaldi style), CSV/TSV with a header 'id,text', "
               "JSON Lines or a JSON list of {id, text}, or a JSON object {id: text}")


@dataclass(frozen=True, kw_only=True)
class SpeechOptions:
    normalize: str = option("'none': compare the text as given; 'basic': lower case, no punctuation",
                            "none", choices=NORMALIZE)


def _jiwer():
    try:
        import jiwer
    except ImportError as exc:
        raise eval_extra_missing("jiwer", exc) from None
    return jiwer


def _transforms(normalize: str):
    jiwer = _jiwer()
    if normalize == "none":
        return jiwer.wer_default, jiwer.cer_default
    if normalize != "basic":
        raise InputError(f"unknown normalisation {normalize!r}; choose one of {', '.join(NORMALIZE)}")
    basic = [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()]
    return (jiwer.Compose([*basic, jiwer.ReduceToListOfListOfWords()]),
            jiwer.Compose([*basic, jiwer.ReduceToListOfListOfChars()]))


def _counts(output, unit: str) -> dict[str, Any]:
    reference = output.hits + output.substitutions + output.deletions
    return {f"{unit}_substitutions": output.substitutions, f"{unit}_deletions": output.deletions,
            f"{unit}_insertions": output.insertions, f"reference_{unit}s": reference}


def speech_scores(references: dict[str, str], hypotheses: dict[str, str], normalize: str = "none",
                  *, hypotheses_path: str | Path | None = None) -> dict[str, Any]:
    """Corpus WER and CER (with their error counts) and per-utterance values, over the hypothesised ids."""
    jiwer = _jiwer()
    ids = align_ids(hypotheses, references, hypotheses_path or "hypotheses", what="hypothesis")
    words, chars = _transforms(normalize)
    refs = [references[key] for key in ids]
    hyps = [hypotheses[key] for key in ids]
    word_out = jiwer.process_words(refs, hyps, reference_transform=words, hypothesis_transform=words)
    char_out = jiwer.process_characters(refs, hyps, reference_transform=chars, hypothesis_transform=chars)
    items = []
    for key, ref, hyp in zip(ids, refs, hyps):
        one_w = jiwer.process_words(ref, hyp, reference_transform=words, hypothesis_transform=words)
        one_c = jiwer.process_characters(ref, hyp, reference_transform=chars, hypothesis_transform=chars)
        items.append({"id": key, "WER": float(one_w.wer), "CER": float(one_c.cer),
                      "errors": one_w.substitutions + one_w.deletions + one_w.insertions,
                      "reference_words": one_w.hits + one_w.substitutions + one_w.deletions})
    return {"utterances": len(ids), "WER": float(word_out.wer), "CER": float(char_out.cer),
            **_counts(word_out, "word"), **_counts(char_out, "char"), "normalize": normalize,
            "references_without_hypothesis": len(references) - len(ids), "items": items}


# --- files ---------------------------------------------------------------------------------------
def _kaldi_text(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        key, *text = line.split(maxsplit=1)
        if key in out:
            raise InputError(f"line {number}: id {key!r} appears twice", path)
        out[key] = text[0].strip() if text else ""
    return out


def read_transcripts(path: str | Path, role: str) -> dict[str, str]:
    """Transcripts per id from any of the accepted layouts (see FORMAT_HELP)."""
    path = Path(path)
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson", ".csv", ".tsv"):
        records = records_by_id(read_records(path, "text"), path, role)
        out = {}
        for key, record in records.items():
            if "text" not in record:
                raise InputError(f"id {key!r} has no 'text' ({FORMAT_HELP})", path)
            out[key] = check_text(record["text"] if record["text"] is not None else "", path, f"id {key!r}")
    else:
        out = _kaldi_text(path)
    if not out:
        raise InputError(f"no {role}s", path)
    return out


def evaluate_speech_files(refs_path: str | Path, hyps_path: str | Path,
                          options: SpeechOptions = SpeechOptions()) -> dict[str, Any]:
    references = read_transcripts(refs_path, "reference")
    hypotheses = read_transcripts(hyps_path, "hypothesis")
    result = speech_scores(references, hypotheses, options.normalize, hypotheses_path=hyps_path)
    return {**result, "refs": str(refs_path), "hyps": str(hyps_path)}
