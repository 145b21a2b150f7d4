"""`fabsight train clip`: rebuild the shipped image-text model from scratch."""

from __future__ import annotations

from typing import Any

from fabsight.cli.app import Command
from fabsight.cli.display import message, percent
from fabsight.train.clip_pipeline import ClipBuildOptions


def run_train_clip(options: ClipBuildOptions) -> dict[str, Any]:
    import sys

    from fabsight.train.clip_pipeline import build_wafer_clip

    return build_wafer_clip(options, log=lambda text: print(text, file=sys.stderr, flush=True))


def show_train_clip(result: dict[str, Any]) -> None:
    message(f"model written to {result['out']} in {result['train_seconds']} s; card: {result['card']}")
    message(f"held-out synthetic accuracy {percent(result['synthetic_accuracy'])}, "
            f"real defect accuracy {percent(result['real_defect_accuracy'])}")


COMMANDS = (
    Command("train clip", "train the wafer-clip image-text model from scratch (fixed seeds), calibrate it and "
            "write its model card", ClipBuildOptions, run_train_clip, show_train_clip),
)
