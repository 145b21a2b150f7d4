"""A few hundred seeded caption pairs with the awkward cases in them, and COCO files of them."""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys

SUBJECTS = ["wafer", "map", "the wafer", "this wafer map", "lot 7 wafer", "a 300mm wafer", "die grid"]
PATTERNS = ["edge ring", "edge-ring", "scratch", "center cluster", "donut", "near-full failure", "random fails",
            "local cluster", "edge-loc pattern", "ring of failing dies", "no pattern"]
PLACES = ["at the edge", "near the centre", "in the upper left", "from upper left to centre", "on the notch side",
          "across the wafer", "in the lower right quadrant"]
EXTRAS = ["about 8% of dies lost", "12.5% yield loss", "1,000 dies fail", "yield is 78%", "3.5 mm long",
          "(bin 7)", "[probe card?]", "{see lot report}", "it's a scratch", "can't be random", "we'd re-test it",
          "\"classic\" ring", "'faint' arc", "wafer’s edge", "café-style µm defects – odd", "x/y shift",
          "naïve guess … maybe", "U.S. fab, Inc.", "e.g. a probe mark", "defects: many; clusters: few"]
ENDINGS = ["", ".", "!", "?", "...", " .", "!!", ";"]
SINGLE_WORDS = ["scratch", "Donut", "RING", "center", "none", "edge-ring", "random."]
EMPTY = ["", " ", "...", "?!", "--", "  .  "]


def _caption(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(SINGLE_WORDS)
    words = [rng.choice(SUBJECTS), rng.choice(["has", "shows", "with", "has a", "showing a"]), rng.choice(PATTERNS)]
    if rng.random() < 0.7:
        words.append(rng.choice(PLACES))
    if rng.random() < 0.5:
        words.append(("," if rng.random() < 0.5 else "") + " " + rng.choice(EXTRAS))
    text = " ".join(words).replace(" ,", ",") + rng.choice(ENDINGS)
    case = rng.random()
    if case < 0.15:
        text = text.upper()
    elif case < 0.5:
        text = text[:1].upper() + text[1:]
    elif case < 0.6:
        text = text.title()
    return text


def _perturb(rng: random.Random, caption: str) -> str:
    words = caption.split()
    if not words:
        return caption
    for _ in range(rng.randint(0, 3)):
        action = rng.random()
        if action < 0.4 and len(words) > 1:
            del words[rng.randrange(len(words))]
        elif action < 0.7:
            i, j = rng.randrange(len(words)), rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
        else:
            words.insert(rng.randrange(len(words) + 1), rng.choice(["a", "the", "very", "large", "Faint"]))
    return " ".join(words)


def make_caption_pairs(n: int = 300, seed: int = 1234) -> tuple[dict[int, list[str]], dict[int, str]]:
    """(references, predictions) keyed by COCO-like int image ids."""
    rng = random.Random(seed)
    refs: dict[int, list[str]] = {}
    preds: dict[int, str] = {}
    for index in range(n):
        image_id = 100000 + 37 * index
        refs[image_id] = [_caption(rng) for _ in range(rng.choice([1, 1, 2, 3, 5]))]
        roll = rng.random()
        if roll < 0.07:
            preds[image_id] = rng.choice(EMPTY)
        elif roll < 0.12:
            preds[image_id] = refs[image_id][0]
        elif roll < 0.2:
            preds[image_id] = _caption(rng)
        elif roll < 0.25:
            preds[image_id] = rng.choice(SINGLE_WORDS)
        else:
            preds[image_id] = _perturb(rng, rng.choice(refs[image_id]))
        if index % 60 == 0:  # a reference that is empty after tokenisation, once with an empty prediction
            refs[image_id].append(rng.choice(["...", "!", ""]))
            if index == 0:
                preds[image_id] = ""
    return refs, preds


def write_coco(tmp_path, refs: dict[int, list[str]], preds: dict[int, str]):
    """The two files of the COCO caption evaluation: annotation file and results list."""
    annotations = {"info": {}, "licenses": [], "type": "captions",
                   "images": [{"id": image_id} for image_id in refs],
                   "annotations": [{"image_id": image_id, "id": 1 + len(refs) * k + i, "caption": caption}
                                   for i, (image_id, captions) in enumerate(refs.items())
                                   for k, caption in enumerate(captions)]}
    results = [{"image_id": image_id, "caption": caption} for image_id, caption in preds.items()]
    refs_path, preds_path = tmp_path / "captions_val.json", tmp_path / "results.json"
    refs_path.write_text(json.dumps(annotations, ensure_ascii=False), encoding="utf-8")
    preds_path.write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    return refs_path, preds_path


# --- the reference: pycocoevalcap's own evaluation, fed by pycocotools from the files ----------------
REFERENCE_NAMES = {"Bleu_1": "BLEU-1", "Bleu_2": "BLEU-2", "Bleu_3": "BLEU-3", "Bleu_4": "BLEU-4",
                   "METEOR": "METEOR", "ROUGE_L": "ROUGE-L", "CIDEr": "CIDEr"}


class _Skipped:
    """Stands in for a reference scorer we do not run: SPICE (needs downloads; not one of our metrics),
    or METEOR where a test compares the other metrics and need not pay for another Java start-up."""

    def __init__(self, name):
        self.name = name

    def __call__(self):
        return self

    def compute_score(self, gts, res):
        return 0.0, [0.0] * len(gts)

    def method(self):
        return self.name


def reference_coco_eval(refs_path, preds_path, meteor: bool = True) -> tuple[dict, dict]:
    """The official evaluation on the two files: (corpus scores, per-image scores) by fabsight's metric names."""
    import pycocoevalcap.eval as coco_eval
    from pycocotools.coco import COCO

    originals = coco_eval.Spice, coco_eval.Meteor
    coco_eval.Spice = _Skipped("SPICE")
    if not meteor:
        coco_eval.Meteor = _Skipped("METEOR")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(refs_path))
            results = coco.loadRes(str(preds_path))
            evaluator = coco_eval.COCOEvalCap(coco, results)
            evaluator.params["image_id"] = results.getImgIds()  # as pycocoevalcap's example: the predicted images
            evaluator.evaluate()
    finally:
        coco_eval.Spice, coco_eval.Meteor = originals
    corpus = {ours: evaluator.eval[theirs] for theirs, ours in REFERENCE_NAMES.items()}
    items = {str(image_id): {ours: scores[theirs] for theirs, ours in REFERENCE_NAMES.items()}
             for image_id, scores in evaluator.imgToEval.items()}
    return corpus, items


if __name__ == "__main__":  # python captiondata.py REFS PREDS: the reference's numbers as JSON, for a subprocess
    corpus, items = reference_coco_eval(sys.argv[1], sys.argv[2])
    print(json.dumps({"corpus": corpus, "items": items}))
