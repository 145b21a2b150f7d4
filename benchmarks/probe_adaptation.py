"""How many labelled maps of a fab's own does a probe need to beat zero-shot? (`fabsight train probe`)

    python benchmarks/probe_adaptation.py                  # wafer-clip on the real WM-811K public split
    python benchmarks/probe_adaptation.py --defects-only   # the eight defect classes, as the quality table

The real maps stand in for a fab's labelled history. For each number of
labelled maps per class, `--draws` random draws: the drawn maps are
labelled (a class with fewer maps keeps 10 back), the probe is fitted on
them, and every map left is classified, except those from a lot that a
drawn map came from (a fab labels past lots and classifies new ones; the
maps without a lot name, a third, cannot be checked). Accuracy on those
maps, mean and standard deviation over the draws, for:

- zero-shot: no labels at all (`fabsight classify`, 8 views);
- probe, 1 view, l2 toward zero: the recipe before the present one;
- probe, 8 views, l2 toward zero (1e-3): the views alone;
- probe, as shipped: 8 views, pulled toward the zero-shot classifier, the
  pull chosen by cross-validation (`fit_probe_head`, what `train probe` runs);
- fine-tuned (with `--fine-tune-steps N`): the image tower trained with that
  probe's head on the labelled maps, as `train probe --fine-tune` does it.

Vectors are embedded once per view count and the heads fitted with the
same functions `fabsight train probe` uses, so no file is read per draw.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import DEFECT_NAMES
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.tasks.zero_shot import CLASS_VIEWS
from fabsight.train.probe import fit_probe_head, zero_shot_head
from fabsight.train.probe_fit import fit_head

REAL = "../shared/data/wm811k-real/public.npz"
KEEP_BACK = 10  # maps of a small class never labelled, so every class is tested
FINE_TUNED = "fine-tuned"
METHODS = ("zero-shot", "probe, 1 view, l2 toward zero", "probe, 8 views, l2 toward zero", "probe, as shipped")


def real_maps(path: str, defects_only: bool) -> tuple[list, np.ndarray, list[str], np.ndarray]:
    """Wafers, class index per wafer, class names (sorted, as `train probe` orders them) and lot per wafer."""
    import fabsight

    wafers = [w for w in fabsight.load(path) if not defects_only or w.extra["label"] in DEFECT_NAMES]
    names = sorted({w.extra["label"] for w in wafers})
    lot_names = np.load(path)["lot_name"]
    # a map without a lot name is its own lot: it can be neither excluded nor matched
    lots = np.array([lot_names[w.extra["index"]] or f"no lot {i}" for i, w in enumerate(wafers)])
    return wafers, np.array([names.index(w.extra["label"]) for w in wafers]), names, lots


def draw(y: np.ndarray, lots: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labelled, test) indices: `per_class` maps of each class drawn, the rest from other lots as test."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        chosen.extend(members[:max(0, min(per_class, len(members) - KEEP_BACK))])
    labelled = np.array(chosen, dtype=np.intp)
    rest = np.setdiff1d(np.arange(len(y)), labelled)
    return labelled, rest[~np.isin(lots[rest], lots[labelled])]


def accuracies(vectors: dict[int, np.ndarray], y: np.ndarray, prior, labelled: np.ndarray, test: np.ndarray,
               tuning: Tuning | None = None) -> dict[str, float]:
    classes = int(y.max()) + 1
    heads = {
        "zero-shot": (prior, CLASS_VIEWS),
        "probe, 1 view, l2 toward zero": (fit_head(vectors[1][labelled], y[labelled], classes, 1e-3), 1),
        "probe, 8 views, l2 toward zero": (fit_head(vectors[CLASS_VIEWS][labelled], y[labelled], classes, 1e-3),
                                           CLASS_VIEWS),
        "probe, as shipped": (fit_probe_head(vectors[CLASS_VIEWS][labelled], y[labelled], classes, prior, None)[0],
                              CLASS_VIEWS),
    }
    scores = {name: float((head.predict(vectors[views][test]) == y[test]).mean())
              for name, (head, views) in heads.items()}
    if tuning is not None:
        logits = tuning.test_logits(heads["probe, as shipped"][0], y, labelled, test)
        scores[FINE_TUNED] = float((logits.argmax(axis=1) == y[test]).mean())
    return scores


@dataclass
class Tuning:
    """The torch model fine-tuned per draw (`train probe --fine-tune`'s functions), then put back as it was."""

    encoder: Any
    wafers: list
    options: Any
    start: dict = field(init=False)  # the tower's weights before any tuning

    def __post_init__(self) -> None:
        from fabsight.train.fine_tune import tower_state

        self.start = tower_state(self.encoder)

    def test_logits(self, probe, y: np.ndarray, labelled: np.ndarray, test: np.ndarray, seed: int = 0) -> np.ndarray:
        """(len(test), L) logits of the test maps from the model tuned on the labelled maps, started from `probe`."""
        from fabsight.train.fine_tune import fine_tune, restore_tower

        head = fine_tune(self.encoder, [self.wafers[i] for i in labelled], y[labelled], probe, self.options,
                         CLASS_VIEWS, seed)
        tested = self.encoder.embed_wafers([self.wafers[i] for i in test], 256, CLASS_VIEWS)
        restore_tower(self.encoder, self.start)
        return head.logits(tested)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="wafer-clip")
    parser.add_argument("--real", default=REAL, help="labelled real maps (.npz with lot_name, as wm811k-real)")
    parser.add_argument("--per-class", type=int, nargs="+", default=[5, 10, 25, 50, 100, 200],
                        help="labelled maps per class, one row each")
    parser.add_argument("--draws", type=int, default=5, help="random draws per row")
    parser.add_argument("--defects-only", action="store_true", help="leave out maps labelled none")
    parser.add_argument("--fine-tune-steps", type=int, default=0,
                        help="also fine-tune per draw with this many steps (`train probe --fine-tune`; 0: not)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    encoder = load_dual_encoder(args.model)
    wafers, y, names, lots = real_maps(args.real, args.defects_only)
    vectors = {views: encoder.embed_wafers(wafers, 256, views) for views in (1, CLASS_VIEWS)}
    prior = zero_shot_head(encoder, names)
    tuning, methods = None, METHODS
    if args.fine_tune_steps:
        from fabsight.train.fine_tune import FineTuneOptions

        options = FineTuneOptions(tune_steps=args.fine_tune_steps)
        tuning = Tuning(load_dual_encoder(args.model, "torch"), wafers, options)
        methods = (*METHODS, FINE_TUNED)
    table = BenchmarkTable("Probe on a fab's labelled maps against zero-shot",
                           ["labelled per class", "labelled maps", "test maps", *methods],
                           formats={name: "{}" for name in methods})
    for per_class in args.per_class:
        runs = [draw(y, lots, per_class, seed) for seed in range(args.draws)]
        scores = [accuracies(vectors, y, prior, labelled, test, tuning) for labelled, test in runs]
        table.add_row({"labelled per class": per_class, "labelled maps": len(runs[0][0]),
                       "test maps": round(float(np.mean([len(test) for _, test in runs]))),
                       **{name: f"{np.mean([s[name] for s in scores]):.3f} ± {np.std([s[name] for s in scores]):.3f}"
                          for name in methods}})
    table.note(f"Accuracy over {len(names)} classes ({', '.join(names)}) on the maps not labelled and from no "
               f"labelled map's lot, mean ± standard deviation over {args.draws} draws (seeds 0 to "
               f"{args.draws - 1}); classes with fewer maps keep {KEEP_BACK} back. 'as shipped': 8 views, pulled "
               "toward the zero-shot classifier, the pull chosen by 5-fold cross-validation.")
    if tuning is not None:
        options = tuning.options
        table.note(f"Fine-tuned: {options.tune_steps} steps of {options.tune_batch} maps, peak rate "
                   f"{options.tune_learning_rate:g}, from the probe as shipped (`train probe --fine-tune`'s defaults "
                   "but the steps).")
    table.report(model=args.model, data=f"{args.real} ({len(wafers)} maps)", seed=f"0-{args.draws - 1}",
                 json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
