"""`fabsight train clip`: train, calibrate, measure and write the model card, in one command."""

from __future__ import annotations

import json
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabsight.errors import FabsightWarning, InputError
from fabsight.options import option
from fabsight.train.clip_train import BENCHMARK_SEED, CALIBRATION_SEED, ClipTrainOptions, train_clip
from fabsight.train.wafer_data import draw_wafer_set

REAL_MAPS = "../shared/data/wm811k-real/public.npz"


@dataclass(frozen=True, kw_only=True)
class ClipBuildOptions(ClipTrainOptions):
    real: str = option("real labelled maps to report on in the model card (never trained on; '' to skip)", REAL_MAPS)
    held_out_single: int = option("held-out single-pattern maps for calibration and for the card, each", 1800)
    held_out_mixed: int = option("held-out mixed maps for calibration and for the card, each", 600)
    reuse_weights: bool = option("do not train: calibrate, measure and rewrite the card of the model already in "
                                 "--out (after a change to calibration or measurement)", False)


def _real_maps(path: str) -> list | None:
    """The labelled maps in `path`: None for '' (skip) or a missing file (with a warning); bad files raise."""
    import fabsight

    if not path:
        return None
    if not Path(path).exists():
        warnings.warn(f"{path} not found: the model card will have no real-map numbers", FabsightWarning, stacklevel=2)
        return None
    return [w for w in fabsight.load(path) if "label" in w.extra]


def _trained_record(options: ClipBuildOptions) -> dict[str, Any]:
    """The training record of the model already in --out (for --reuse-weights)."""
    path = Path(options.out) / "training.json"
    if not path.exists():
        raise InputError(f"--reuse-weights: {options.out} holds no model trained by `fabsight train clip` "
                         "(no training.json)")
    return json.loads(path.read_text())


def build_wafer_clip(options: ClipBuildOptions, log=print) -> dict[str, Any]:
    from fabsight.models.dual_encoder import CALIBRATION_FILE, load_dual_encoder
    from fabsight.train.calibrate import fit_calibration
    from fabsight.train.clip_card import measure, write_card

    real = _real_maps(options.real)  # read first: a bad path fails now, not after an hour of training
    record = _trained_record(options) if options.reuse_weights else train_clip(options, log=log)
    encoder = load_dual_encoder(options.out)
    log("calibrating on held-out synthetic maps")
    calibration = fit_calibration(encoder,
                                  draw_wafer_set(options.held_out_single, 0, CALIBRATION_SEED),
                                  draw_wafer_set(0, options.held_out_mixed, CALIBRATION_SEED))
    (Path(options.out) / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=1))
    log("measuring")
    metrics = measure(load_dual_encoder(options.out),
                      draw_wafer_set(options.held_out_single, 0, BENCHMARK_SEED),
                      draw_wafer_set(0, options.held_out_mixed, BENCHMARK_SEED), real)
    # The card names the command that rebuilds the model (weights and calibration) from scratch.
    command = shlex.join(["fabsight", *(a for a in sys.argv[1:] if a != "--reuse-weights")]) if sys.argv \
        else "fabsight train clip"
    card = write_card(options.out, metrics, record, command)
    return {"out": options.out, "card": str(card), "train_seconds": record["train_seconds"],
            "synthetic_accuracy": metrics["synthetic_single"]["accuracy"],
            "real_defect_accuracy": metrics.get("real_eight_defects", {}).get("accuracy")}
