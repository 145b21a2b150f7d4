"""Fine-tuning: a model's image tower trained together with a probe's head on a fab's labelled maps.

`fabsight train probe --fine-tune DIR` runs it after fitting the probe on
frozen vectors, and starts from that probe (linear probing, then fine-tuning:
the head is already right for the frozen tower, so the first steps do not
tear the tower's features apart to fit a random head). Tower and head train
together: AdamW, cosine decay from the peak rate, the head at ten times the
tower's rate, one random view per map per step out of the views the probe
averages. `benchmarks/real_label_reference.py` measures it on real WM-811K
maps, by lot, against the probe alone.

A plain torch loop rather than transformers' `Trainer`: one tower and one
linear layer, a few hundred steps, and views drawn per step from wafer maps;
`Trainer` would bring datasets, collators and a second place for every option.

The tuned model is a new folder: the base model's files (tokenizer, image
processor, pixel encoding), the tuned weights, `fine_tune.json` saying how
it was made, and the probe inside (`probes/NAME`). It is written beside its
destination and renamed into place, so a crash leaves no half model.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import FabsightError, InputError
from fabsight.files import ensure_folder
from fabsight.models.dual_encoder import DualEncoder
from fabsight.models.loading import projected
from fabsight.models.probes import TUNE_RECORD
from fabsight.models.wafer_pixels import symmetric_view
from fabsight.options import option
from fabsight.progress import track
from fabsight.train.clip_build import save_weights
from fabsight.train.probe_fit import Head
from fabsight.wafer.map import WaferMap

HEAD_RATE = 10.0  # the head's peak rate over the tower's: it is one layer and starts where the probe left it
# files of the base model that describe its own weights or training, not the tuned copy's
NOT_COPIED = ("README.md", "calibration.json", "metrics.json", "training.json", "config.json")


@dataclass(frozen=True, kw_only=True)
class FineTuneOptions:
    fine_tune: str | None = option("also fine-tune the model's image tower on the labelled maps and write the "
                                   "tuned model, with the probe inside, to this new folder", None, metavar="DIR")
    tune_steps: int = option("fine-tuning steps, each on --tune-batch maps", 300, metavar="N")
    tune_batch: int = option("maps per fine-tuning step", 64, metavar="N")
    tune_learning_rate: float = option("the image tower's peak learning rate when fine-tuning (the head's is "
                                       f"{HEAD_RATE:g} times it)", 3e-4, metavar="RATE")

    def __post_init__(self) -> None:
        getattr(super(), "__post_init__", lambda: None)()
        if self.tune_steps < 1 or self.tune_batch < 1:
            raise InputError(f"--tune-steps and --tune-batch must be at least 1, not {self.tune_steps} and "
                             f"{self.tune_batch}")
        if not self.tune_learning_rate > 0:
            raise InputError(f"--tune-learning-rate must be above 0, not {self.tune_learning_rate}")


def _tower_parameters(model: Any) -> dict[str, Any]:
    """The image tower's parameters by name: the vision transformer and, for CLIP, its projection."""
    return {name: p for name, p in model.named_parameters() if name.startswith(("vision_model.", "visual_projection."))}


def tower_state(encoder: DualEncoder) -> dict[str, Any]:
    """A copy of the image tower's weights, to start a second fine-tuning from the same place."""
    return {name: p.detach().clone() for name, p in _tower_parameters(encoder.model).items()}


def restore_tower(encoder: DualEncoder, state: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, p in _tower_parameters(encoder.model).items():
            p.copy_(state[name])


def _batch_pixels(encoder: DualEncoder, wafers: Sequence[WaferMap], views: np.ndarray) -> Any:
    """(B, 3, S, S) torch pixels, wafer i turned or mirrored as view views[i]."""
    import torch

    pixels = encoder.wafer_pixels(wafers, 1)  # (B, 3, S, S)
    turned = [symmetric_view(picture[None], int(k), axes=(2, 3)) for picture, k in zip(pixels, views)]
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(turned)))


def fine_tune(encoder: DualEncoder, wafers: Sequence[WaferMap], y: np.ndarray, start: Head, options: FineTuneOptions,
              views: int, seed: int = 0) -> Head:
    """Train `encoder`'s image tower (in place) and a head started from `start` on the maps; the tuned head.

    `encoder` must run in torch (`load_dual_encoder(..., "torch")`); its
    vectors come from the tuned tower afterwards, as `embed_wafers` gives them.
    """
    import torch

    if encoder.image_tower is not None:
        raise FabsightError("fine-tuning needs the model in torch, not ONNX Runtime (load it with runtime 'torch')")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = encoder.model
    tower = list(_tower_parameters(model).values())
    weight = torch.nn.Parameter(torch.from_numpy(start.weight.copy()))
    bias = torch.nn.Parameter(torch.from_numpy(start.bias.copy()))
    rates = (options.tune_learning_rate, HEAD_RATE * options.tune_learning_rate)
    optimiser = torch.optim.AdamW([{"params": tower, "lr": rates[0]}, {"params": [weight, bias], "lr": rates[1]}],
                                  weight_decay=0.01)
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long)
    model.train()
    try:
        for step in track(range(options.tune_steps), "fine-tuning"):
            rows = rng.choice(len(wafers), options.tune_batch)
            pixels = _batch_pixels(encoder, [wafers[i] for i in rows], rng.integers(views, size=len(rows)))
            features = torch.nn.functional.normalize(projected(model.get_image_features(pixel_values=pixels)), dim=-1)
            loss = torch.nn.functional.cross_entropy(features @ weight.T + bias, labels[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            for group, rate in zip(optimiser.param_groups, rates):  # cosine decay to zero at the last step
                group["lr"] = rate * 0.5 * (1 + np.cos(np.pi * (step + 1) / options.tune_steps))
    finally:
        model.eval()
    return Head(weight.detach().numpy().copy(), bias.detach().numpy().copy())


def check_destination(out: str | Path, overwrite: bool) -> Path:
    """The folder a tuned model goes to; an error before any work if it is taken."""
    out = Path(out).expanduser()
    if out.exists() and not overwrite:
        raise FabsightError("already exists; pass --overwrite to replace it, or choose another folder", out)
    if out.exists() and not (out / TUNE_RECORD).exists():
        raise FabsightError(f"exists and holds no model from `train probe --fine-tune` ({TUNE_RECORD}); it is not "
                            "replaced, even with --overwrite: choose another folder", out)
    return out


def save_tuned_model(encoder: DualEncoder, out: Path, record: dict[str, Any],
                     write_probe: Callable[[Path], Any]) -> None:
    """The tuned model (its files, weights, record, and the probe `write_probe` puts in the folder it is given)
    written beside `out`, then renamed into place: a crash leaves the old `out` or none, never half a model."""
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        write_model_files(encoder, partial, record)
        write_probe(partial)
        _move_into_place(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def write_model_files(encoder: DualEncoder, folder: Path, record: dict[str, Any]) -> None:
    """The base model's files, the tuned weights and the record of how they were made, into `folder`."""
    ensure_folder(folder)
    for file in encoder.folder.iterdir():
        weights = file.suffix in (".safetensors", ".bin") or file.name.endswith(".index.json")  # shards' index too
        if file.is_file() and file.name not in NOT_COPIED and not weights:
            shutil.copy2(file, folder / file.name)
    save_weights(encoder.model, folder)
    (folder / TUNE_RECORD).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _move_into_place(partial: Path, out: Path) -> None:
    """Replace `out` (if any) by the finished `partial` folder by renames; the old one comes back if that fails."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(partial, out)
    except BaseException:
        if old.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
