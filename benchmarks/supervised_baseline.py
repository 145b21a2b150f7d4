"""A reference point for wafer-clip: a small supervised CNN trained on the same synthetic maps.

    python benchmarks/supervised_baseline.py                 # 2000 steps on 40,000 maps, about 11 minutes on 2 cores
    python benchmarks/supervised_baseline.py --steps 500     # a quicker, weaker look
    python benchmarks/supervised_baseline.py --arch vit      # wafer-clip's image transformer instead of the CNN

wafer-clip learns from descriptions and is judged zero-shot. This CNN sees
only the nine class labels, with cross-entropy, from the same generator,
the same pixels (`clip_train.pixels`, 48 x 48) and the same 8-view averaging at
test time. It answers "how separable are the generator's classes, and how
far do they carry to real maps" without the text side: if it does no
better than wafer-clip, the generator, not the image-text training, is the
limit. It is a measuring instrument, not a product model: nothing ships.

Training maps: `draw_wafer_set(--train, 0, --seed)` (seed 7: seeds 14 and 15
of the generator, which no wafer-clip run or benchmark draws from).
Held-out synthetic maps: `BENCHMARK_SEED`, as `wafer_clip_quality.py`.
Real: the WM-811K maps in `--real`, never trained on; the 8-defect row
takes the best of the eight defect classes, as that benchmark does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from fabsight.evaluate.classification import classification_scores
from fabsight.evaluate.harness import BenchmarkTable
from fabsight.knowledge.patterns import DEFECT_NAMES, PATTERN_NAMES
from fabsight.models.wafer_pixels import PIXEL_ENCODINGS, SYMMETRIES
from fabsight.train.clip_train import BENCHMARK_SEED, ClipTrainOptions, pixels as training_pixels
from fabsight.train.wafer_data import draw_wafer_set

REAL = "../shared/data/wm811k-real/public.npz"
SIZE = 48  # wafer-clip's input size


def pixels(wafers, encoding: str) -> "torch.Tensor":  # noqa: F821 - torch is imported lazily
    """(N, 3, S, S) contiguous: wafer-clip's training pixels, made in chunks to bound the float copies."""
    import torch

    return torch.cat([training_pixels(wafers[i:i + 2000], SIZE, encoding)
                      for i in range(0, len(wafers), 2000)]).contiguous()


def cnn(width: int, classes: int):
    """Three blocks of two 3x3 convolutions (batch norm, ReLU) and a 2x2 pool, then a global mean and a linear."""
    from torch import nn

    layers, channels = [], 3
    for out in (width, 2 * width, 4 * width):
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(),
                   nn.Conv2d(out, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


def vision_transformer(classes: int):
    """wafer-clip's image tower (SigLIP, 48 px, 8-px patches, width 128, 3 layers) with a linear class head.

    Trained as the CNN is, it separates the architecture from the image-text
    objective: if it does as well as the CNN on real maps, the transformer
    is not what holds wafer-clip back.
    """
    import torch
    from transformers import SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(hidden_size=128, intermediate_size=512, num_hidden_layers=3, num_attention_heads=4,
                                image_size=SIZE, patch_size=8, hidden_act="gelu")

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tower = SiglipVisionModel(config)
            self.head = torch.nn.Linear(config.hidden_size, classes)

        def forward(self, x):
            return self.head(self.tower(pixel_values=x).pooler_output)

    return Classifier()


ARCHITECTURES = {"cnn": "small CNN", "vit": "wafer-clip's vision transformer"}
LEARNING_RATE = {"cnn": 2e-3, "vit": 1e-3}  # the transformer's as wafer-clip's training


def view(x, k: int):
    """The k-th of the square's 8 symmetries of (N, C, S, S) pictures: k // 2 quarter turns, mirrored when odd."""
    import torch

    turned = torch.rot90(x, k // 2, (2, 3))
    return torch.flip(turned, (3,)) if k % 2 else turned


def train(x, y, steps: int, batch_size: int, width: int, seed: int, arch: str, learning_rate: float):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = cnn(width, len(PATTERN_NAMES)) if arch == "cnn" else vision_transformer(len(PATTERN_NAMES))
    optimiser = torch.optim.AdamW(net.parameters(), learning_rate, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps)
    for step in range(steps):
        if step % 500 == 0:
            print(f"step {step} of {steps}", file=sys.stderr, flush=True)
        batch = torch.from_numpy(rng.choice(len(y), batch_size, replace=False))
        loss = torch.nn.functional.cross_entropy(net(view(x[batch], int(rng.integers(SYMMETRIES)))), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return net.eval()


def probabilities(net, x) -> np.ndarray:
    """(N, classes): the mean over the 8 views, as wafer-clip's zero-shot numbers average 8 views."""
    import torch

    with torch.inference_mode():
        return sum(torch.cat([net(view(x[i:i + 500], k)).softmax(1) for i in range(0, len(x), 500)])
                   for k in range(SYMMETRIES)).numpy() / SYMMETRIES


def row(name: str, truth: list[str], p: np.ndarray, names: tuple[str, ...]) -> tuple[dict, dict]:
    columns = [PATTERN_NAMES.index(n) for n in names]
    best = p[:, columns].argmax(1)
    scores = classification_scores(truth, [names[i] for i in best])
    return {"set": name, "maps": len(truth), "accuracy": scores["accuracy"], "macro-F1": scores["macro_f1"]}, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=40000, help="synthetic single-pattern training maps")
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=128, help="maps per step")
    parser.add_argument("--arch", default="cnn", choices=sorted(ARCHITECTURES), help="the classifier trained")
    parser.add_argument("--width", type=int, default=16, help="CNN channels of the first block (then 2x, 4x)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="peak learning rate (default: the CNN's 2e-3, the transformer's 1e-3)")
    parser.add_argument("--pixels", default=ClipTrainOptions.pixels, choices=tuple(PIXEL_ENCODINGS),
                        help="how maps become pixels (default: wafer-clip training's)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--real", default=REAL)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    import fabsight

    started = time.monotonic()
    print(f"drawing {args.train} training maps", file=sys.stderr, flush=True)
    data = draw_wafer_set(args.train, 0, args.seed)
    x = pixels(data.grids, args.pixels)
    y = torch.tensor([PATTERN_NAMES.index(label) for label in data.labels])
    learning_rate = LEARNING_RATE[args.arch] if args.learning_rate is None else args.learning_rate
    net = train(x, y, args.steps, args.batch_size, args.width, args.seed, args.arch, learning_rate)
    minutes = (time.monotonic() - started) / 60

    held_out = draw_wafer_set(1800, 0, BENCHMARK_SEED)
    real = [w for w in fabsight.load(args.real) if "label" in w.extra]
    real_truth = [w.extra["label"] for w in real]
    real_p = probabilities(net, pixels(real, args.pixels))
    defects = [i for i, t in enumerate(real_truth) if t in DEFECT_NAMES]
    held_out_p = probabilities(net, pixels(held_out.grids, args.pixels))
    rows = [row("synthetic held-out, 9 classes", held_out.labels, held_out_p, PATTERN_NAMES),
            row("real WM-811K, 9 classes", real_truth, real_p, PATTERN_NAMES),
            row("real WM-811K, 8 defect classes", [real_truth[i] for i in defects], real_p[defects], DEFECT_NAMES)]

    table = BenchmarkTable(f"Supervised {ARCHITECTURES[args.arch]} on synthetic maps (reference for wafer-clip)",
                           ["set", "maps", "accuracy", "macro-F1"])
    for values, _ in rows:
        table.add_row(values)
    for values, scores in rows:
        recall = ", ".join(f"{c['label']} {c['recall']:.2f}" for c in scores["per_class"])
        table.note(f"Recall per class, {values['set']}: {recall}.")
    shape = f"width {args.width}"
    if args.arch == "vit":
        config = net.tower.config
        shape = (f"{config.image_size} px, {config.patch_size}-px patches, width {config.hidden_size}, "
                 f"{config.num_hidden_layers} layers")
    table.note(f"Trained {args.steps} steps of {args.batch_size} on {args.train} maps (seed {args.seed}), {shape}, "
               f"{args.pixels!r} pixels, "
               f"peak learning rate {learning_rate:g}, "
               f"{sum(p.numel() for p in net.parameters()):,} parameters, {minutes:.1f} minutes including drawing; "
               f"{torch.get_num_threads()} thread(s). Test vectors: the mean of 8 turned and mirrored views.")
    table.report(model=f"supervised {ARCHITECTURES[args.arch]} (this script)",
                 data=f"synthetic train seed {args.seed}, held-out seed {BENCHMARK_SEED}, {args.real}",
                 seed=args.seed, json_path=args.json)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
