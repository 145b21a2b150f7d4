"""Contrastive training of the wafer image-text model on synthetic maps and their descriptions.

Loss: SigLIP's pairwise sigmoid loss (or CLIP's softmax loss), with one
change for synthetic data, where many maps in a batch share a pattern:
a pair whose description is also true of the image (its patterns are a
subset of the image's patterns) is neither pushed apart nor pulled
together, except on the diagonal. Otherwise two edge rings in one batch
would be trained to disagree.

A second term treats the class names as texts (as UniCL does): each step
adds one prompt per class, worded as zero-shot classification asks
("a wafer map with a {class phrase} pattern"), and every map is scored
against all of them, present or absent. The contrastive term alone sees
a class name only as a few words inside a long description, and
zero-shot accuracy is what the model is judged on.

`--class-warmup-steps` trains the first steps on that second term alone:
nine short prompts instead of a batch of descriptions, so a step costs
less (0.32 s against 0.38 s on 2 cores in the run that made the shipped
model), and the image tower, the part that is short, gets more steps
within the hour.

`--processes 2` splits every batch between two processes (`shards.py`),
each embedding its half on one core; the step is the same, up to float
rounding.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fabsight.errors import InputError
from fabsight.knowledge.patterns import DEFECT_NAMES, PATTERN_NAMES, label_phrase
from fabsight.models.loading import require_model_libraries
from fabsight.models.wafer_pixels import PIXEL_ENCODINGS, model_input
from fabsight.options import option
from fabsight.progress import track
from fabsight.train.clip_build import PIXEL_MEAN, PIXEL_STD, DualEncoderShape, build_dual_encoder, save_dual_encoder
from fabsight.train.descriptions import describe
from fabsight.train.shards import Shard, run_in_processes
from fabsight.train.tokenizer import train_tokenizer
from fabsight.train.wafer_data import draw_wafer_set


@dataclass(frozen=True, kw_only=True)
class ClipTrainOptions:
    out: str = option("folder to write the trained model to", "src/fabsight/models/weights/wafer-clip")
    family: str = option("model family", "siglip", choices=("siglip", "clip"))
    steps: int = option("optimiser steps", 7500)
    batch_size: int = option("maps per step", 128)
    learning_rate: float = option("peak learning rate (AdamW, warm-up then cosine decay)", 1e-3)
    train_single: int = option("distinct single-pattern training maps", 80000)
    train_mixed: int = option("distinct mixed-pattern training maps", 24000)
    seed: int = option("seed for data, initialisation and batches", 0)
    image_size: int = option("model input size in pixels (a multiple of --patch-size)", 48)
    patch_size: int = option("side of the image patches the vision transformer reads, in pixels", 8)
    pixels: str = option("how maps become pixels: 'fail-wafer-line' adds a channel where fails run in lines; "
                         "'rgb' is the map in colour", "fail-wafer-line", choices=tuple(PIXEL_ENCODINGS))
    width: int = option("transformer width of both encoders", 128)
    layers: int = option("transformer layers of each encoder", 3)
    mlp_ratio: int = option("MLP width of each transformer layer, as a multiple of --width", 4)
    vocab_size: int = option("tokenizer vocabulary size", 2048)
    class_prompt_weight: float = option("weight of the class-prompt term against the contrastive one (0: off)", 1.0)
    class_warmup_steps: int = option("first steps (of --steps) that train on the class prompts only, no descriptions",
                                     3500)
    processes: int = option("training processes, each embedding its share of every batch (2 on 2 cores trained "
                            "1.0x to 1.2x faster than 1 here; the weights then differ from a 1-process run's in float "
                            "rounding only)", 1)

    def __post_init__(self) -> None:
        if self.patch_size < 1 or self.image_size < self.patch_size or self.image_size % self.patch_size:
            raise InputError(f"--image-size {self.image_size} must be a positive multiple of --patch-size "
                             f"{self.patch_size}")
        if not 0 <= self.class_warmup_steps < self.steps:
            raise InputError(f"--class-warmup-steps {self.class_warmup_steps} must be at least 0 and below --steps "
                             f"{self.steps}: give a smaller --class-warmup-steps (0 trains on descriptions from "
                             "the first step)")
        if self.mlp_ratio < 1:
            raise InputError(f"--mlp-ratio {self.mlp_ratio} must be at least 1")
        most = min(self.batch_size, len(PATTERN_NAMES))
        if not 1 <= self.processes <= most:
            raise InputError(f"--processes {self.processes} must be from 1 to {most} (each process needs a share "
                             "of the maps and of the class prompts)")
        if self.class_warmup_steps and self.class_prompt_weight <= 0:
            raise InputError("--class-warmup-steps needs the class-prompt term (--class-prompt-weight above 0)")


# Held-out synthetic maps come from seeds no training run draws from (training uses 2*seed and 2*seed+1).
CALIBRATION_SEED = 1_000_003
BENCHMARK_SEED = 2_000_003


def pixels(grids: list[np.ndarray], size: int, encoding: str):
    """Die grids -> (B, 3, S, S) normalised float tensor, as `DualEncoder.wafer_pixels` makes."""
    import torch

    return torch.from_numpy(model_input(grids, size, PIXEL_MEAN, PIXEL_STD, encoding=encoding)).permute(0, 3, 1, 2)


def pair_weights(label_sets: list[frozenset[str]]):
    """(B, B) 1 where a pair counts in the loss, 0 where the text is also true of the image (off-diagonal)."""
    import torch

    bits = {name: 1 << i for i, name in enumerate(DEFECT_NAMES)}
    masks = torch.tensor([sum(bits[name] for name in labels) for labels in label_sets])  # (B,) pattern bitmasks
    image, text = masks[:, None], masks[None, :]  # (B, 1), (1, B)
    text_true = torch.where(text == 0, image == 0, (text & ~image) == 0)  # "no pattern" is true only of clean maps
    return (~text_true | torch.eye(len(label_sets), dtype=torch.bool)).float()  # (B, B)


def contrastive_loss(logits, weights, family: str):
    """logits: (B, B) image x text; weights: (B, B) from `pair_weights`."""
    import torch
    import torch.nn.functional as F

    n = logits.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    if family == "siglip":
        signs = torch.where(eye, 1.0, -1.0)
        return -(weights * F.logsigmoid(signs * logits)).sum() / n
    masked = logits.masked_fill(weights == 0, float("-inf"))
    targets = torch.arange(n)
    return (F.cross_entropy(masked, targets) + F.cross_entropy(masked.T, targets)) / 2


def class_prompts(rng: np.random.Generator) -> list[str]:
    """One prompt per class in `PATTERN_NAMES` order: a random zero-shot template around the class phrase.

    The phrase, not a random synonym: synonyms such as "cluster" or "ring" are
    true of several classes, and a prompt scored false on a centre cluster
    would teach the model that "cluster" excludes it.
    """
    from fabsight.tasks.zero_shot import TEMPLATES

    return [TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(label_phrase(name)) for name in PATTERN_NAMES]


def class_targets(label_sets: list[frozenset[str]]):
    """(B, classes) 1 where the class is on the map ("none" exactly when no pattern is)."""
    import torch

    return torch.tensor([[float(name in labels if name != "none" else not labels) for name in PATTERN_NAMES]
                         for labels in label_sets])


def class_prompt_loss(logits, targets, family: str):
    """logits: (B, classes) image x class prompt; sigmoid per class (SigLIP) or softmax over present ones (CLIP)."""
    import torch.nn.functional as F

    if family == "siglip":
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / logits.shape[0]
    return F.cross_entropy(logits, targets / targets.sum(dim=1, keepdim=True))


def _schedule(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def _logits(model, images, tokens, shard: Shard, n_images: int, n_texts: int, family: str):
    """(all images, all texts) logits, as the model's own forward gives them, from this process's share."""
    output = model(pixel_values=images, input_ids=tokens["input_ids"],
                   **({} if family == "siglip" else {"attention_mask": tokens["attention_mask"]}))
    image_embeds = shard.gather_rows(output.image_embeds, n_images)  # normalised, (n_images, D)
    text_embeds = shard.gather_rows(output.text_embeds, n_texts)
    logits = text_embeds @ image_embeds.t() * model.logit_scale.exp()
    if family == "siglip":
        logits = logits + model.logit_bias
    return logits.t()  # (n_images, n_texts)


def batch_loss(model, tokenizer, shard: Shard, data, batch: np.ndarray, captions: list[str], prompts: list[str],
               options: ClipTrainOptions):
    """The loss of one batch (maps `batch` of `data`, their captions or none, the class prompts or none).

    Every process gets the same arguments and embeds only its share; the loss is the whole batch's.
    """
    texts = captions + prompts
    tokens = tokenizer([texts[i] for i in shard.part(np.arange(len(texts)))],
                       padding="max_length" if options.family == "siglip" else True,
                       truncation=True, max_length=32, return_tensors="pt")
    images = pixels([data.grids[i] for i in shard.part(batch)], options.image_size, options.pixels)
    logits = _logits(model, images, tokens, shard, len(batch), len(texts), options.family)
    batch_sets = [data.label_sets[i] for i in batch]
    loss = contrastive_loss(logits[:, :len(captions)], pair_weights(batch_sets), options.family) if captions else 0.0
    if prompts:
        loss = loss + options.class_prompt_weight * class_prompt_loss(
            logits[:, len(captions):], class_targets(batch_sets), options.family)
    return loss


def train_clip(options: ClipTrainOptions, log=print) -> dict[str, Any]:
    """Train from scratch, save to `options.out`, and return the training record."""
    require_model_libraries()
    rng = np.random.default_rng(options.seed)
    started = time.monotonic()
    data = draw_wafer_set(options.train_single, options.train_mixed, options.seed)
    log(f"drew {len(data)} training maps in {time.monotonic() - started:.0f} s")
    corpus = [describe(t, rng) for t in data.truths for _ in range(3)]
    tokenizer = train_tokenizer(corpus, vocab_size=options.vocab_size, max_length=32)
    if options.processes == 1:  # torch's own thread count, as the user's environment sets it
        return _train_steps(Shard(), options, data, tokenizer, rng, started, None, log)
    threads = max(1, (os.cpu_count() or 1) // options.processes)
    log(f"training in {options.processes} processes of {threads} thread(s) each")
    worker_log = log if _picklable(log) else None  # a lambda cannot reach the processes; they then use stderr
    run_in_processes(_train_steps, (options, data, tokenizer, rng, started, threads, worker_log), options.processes)
    return json.loads((Path(options.out) / "training.json").read_text())


def fresh_model(options: ClipTrainOptions, tokenizer):
    """The untrained model, the same in every process (seeded by `options.seed`)."""
    import torch

    torch.manual_seed(options.seed)
    shape = DualEncoderShape(family=options.family, image_size=options.image_size,
                             patch_size=options.patch_size, width=options.width,
                             layers=options.layers, text_width=options.width, text_layers=options.layers,
                             mlp_ratio=options.mlp_ratio)
    model = build_dual_encoder(shape, tokenizer)
    if options.family == "siglip":  # the SigLIP paper's start: t = 10, b = -10
        with torch.no_grad():
            model.logit_scale.fill_(math.log(10.0))
            model.logit_bias.fill_(-10.0)
    return model


def _picklable(value: Any) -> bool:
    import pickle

    try:
        pickle.dumps(value)
    except Exception:  # pickle raises several types for what it cannot send
        return False
    return True


def _log_to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _quiet(text: str) -> None:
    """Processes other than 0 report nothing: process 0 speaks for the run."""


def _train_steps(shard: Shard, options: ClipTrainOptions, data, tokenizer, rng: np.random.Generator,
                 started: float, threads: int | None, log) -> dict[str, Any]:
    """The optimiser steps of one process; process 0 saves the model. Every process draws the same batches."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    log = _quiet if shard.rank else log or _log_to_stderr
    model = fresh_model(options, tokenizer)
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=0.05)
    warmup = max(1, options.steps // 20)
    history = []
    with_classes = options.class_prompt_weight > 0
    model.train()
    steps = track(range(options.steps), "training") if shard.rank == 0 else range(options.steps)
    step_seconds: dict[str, list[float]] = {"class prompts": [], "captions": []}
    for step in steps:
        step_started = time.perf_counter()
        batch = rng.choice(len(data), size=options.batch_size, replace=False)
        captions = step >= options.class_warmup_steps
        texts = [describe(data.truths[i], rng) for i in batch] if captions else []
        loss = batch_loss(model, tokenizer, shard, data, batch, texts, class_prompts(rng) if with_classes else [],
                          options)
        for group in optimiser.param_groups:
            group["lr"] = options.learning_rate * _schedule(step, options.steps, warmup)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        shard.sum_gradients(model)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step_seconds["captions" if captions else "class prompts"].append(time.perf_counter() - step_started)
        if step % 50 == 0 or step == options.steps - 1:
            history.append({"step": step, "loss": round(loss.item(), 4), "seconds": round(time.monotonic() - started)})
            log(f"step {step} loss {loss.item():.4f} ({time.monotonic() - started:.0f} s)")
    record = {"options": asdict(options), "history": history, "train_seconds": round(time.monotonic() - started),
              # The machine's speed moves from hour to hour: a run's own step times say which hour it had.
              "median_step_seconds": {kind: round(float(np.median(times)), 4)
                                      for kind, times in step_seconds.items() if times}}
    if shard.rank == 0:
        model.eval()
        out = save_dual_encoder(model, tokenizer, options.out, options.pixels)
        (Path(out) / "training.json").write_text(json.dumps(record, indent=2))
    return record
