import json
from importlib.metadata import version

import numpy as np
import pytest

from fabsight.train.calibrate import fit_platt, fit_temperature
from fabsight.knowledge.patterns import PATTERN_NAMES, label_phrase
from fabsight.train.clip_train import (ClipTrainOptions, class_prompt_loss, class_prompts, class_targets,
                                       contrastive_loss, pair_weights, train_clip)
from fabsight.train.descriptions import describe
from fabsight.wafer.synth import generate


def test_pairs_whose_text_is_true_of_the_image_are_left_out():
    sets = [frozenset(), frozenset({"Scratch"}), frozenset({"Scratch", "Center"}), frozenset(), frozenset({"Donut"})]
    weights = pair_weights(sets).numpy()
    assert np.all(np.diag(weights) == 1)
    assert weights[2, 1] == 0  # "scratch" is true of a scratch + centre map: not a negative
    assert weights[1, 2] == 1  # "scratch and centre" is false of a scratch-only map: a negative
    assert weights[0, 3] == 0 and weights[3, 0] == 0  # two clean maps
    assert weights[4, 0] == 1 and weights[0, 4] == 1  # "no pattern" is false of a donut and vice versa


@pytest.mark.parametrize("family", ["siglip", "clip"])
def test_loss_prefers_matching_pairs(family):
    import torch

    weights = pair_weights([frozenset({"Donut"}), frozenset({"Scratch"}), frozenset({"Center"})])
    good = torch.eye(3) * 10 - 5
    bad = -good
    assert contrastive_loss(good, weights, family) < contrastive_loss(bad, weights, family)


def test_class_prompts_name_each_class_in_order():
    prompts = class_prompts(np.random.default_rng(3))
    assert len(prompts) == len(PATTERN_NAMES)
    for name, prompt in zip(PATTERN_NAMES, prompts):
        assert label_phrase(name) in prompt, (name, prompt)


def test_class_targets_mark_every_pattern_present_and_none_only_on_clean_maps():
    targets = class_targets([frozenset(), frozenset({"Scratch", "Center"})]).numpy()
    column = {name: i for i, name in enumerate(PATTERN_NAMES)}
    assert targets[0].tolist() == [float(name == "none") for name in PATTERN_NAMES]
    assert targets[1, column["Scratch"]] == 1 and targets[1, column["Center"]] == 1
    assert targets[1].sum() == 2 and targets[1, column["none"]] == 0


@pytest.mark.parametrize("family", ["siglip", "clip"])
def test_class_prompt_loss_prefers_the_true_classes(family):
    targets = class_targets([frozenset({"Donut"}), frozenset({"Scratch", "Center"}), frozenset()])
    good = targets * 10 - 5
    assert class_prompt_loss(good, targets, family) < class_prompt_loss(-good, targets, family)


def test_descriptions_name_every_pattern_of_a_mixture():
    rng = np.random.default_rng(0)
    words = {"Center": ("cent", "bull", "middle"), "Donut": ("donut", "doughnut", "ring", "annul"),
             "Edge-Loc": ("edge",), "Edge-Ring": ("ring", "rim", "edge"),
             "Loc": ("loc", "cluster", "blob", "spot", "patch"),
             "Near-full": ("full", "all", "every", "wipeout"), "Random": ("random", "scatter", "salt", "speckle"),
             "Scratch": ("scratch", "line", "streak", "scrape")}
    for sample in generate("mixed", n=30, seed=4) + generate("any", n=30, seed=5):
        text = describe(sample.truth, rng).lower()
        for name in sample.truth["classes"]:
            if name != "none":
                assert any(w in text for w in words[name]), (name, text)


def test_numbers_in_descriptions_come_from_the_truth():
    rng = np.random.default_rng(1)
    for sample in generate("any", n=40, seed=6):
        text = describe(sample.truth, rng)
        if "dies lost" in text:
            assert f"{round(100 * sample.truth['fail_share'])}% of dies lost" in text
        if "failing dies)" in text:
            assert f"({sample.truth['fails']} failing dies)" in text


def test_temperature_and_platt_fits_recover_known_values():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    true_t = 2.5
    p = np.exp(logits / true_t)
    p /= p.sum(axis=1, keepdims=True)
    targets = np.array([rng.choice(5, p=row) for row in p])
    assert fit_temperature(logits, targets) == pytest.approx(true_t, rel=0.1)
    x = rng.normal(size=20000) * 4
    y = rng.random(20000) < 1 / (1 + np.exp(-(0.5 * x - 1.0)))
    a, b = fit_platt(x, y)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.1)


def tiny_options(tmp_path, **changes) -> dict:
    """Options for a training run of seconds: a few maps, a one-layer model, no warm-up unless asked."""
    return dict(out=str(tmp_path / "m"), steps=3, class_warmup_steps=0, batch_size=8, train_single=24, train_mixed=8,
                image_size=16, patch_size=4, width=16, layers=1, vocab_size=300) | changes


def test_a_tiny_training_run_saves_a_loadable_model(tmp_path):
    from fabsight.models.dual_encoder import load_dual_encoder

    options = ClipTrainOptions(**tiny_options(tmp_path))
    record = train_clip(options, log=lambda _: None)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["vision_config"]["patch_size"] == 4
    assert len(record["history"]) >= 2 and all(np.isfinite(h["loss"]) for h in record["history"])
    assert json.loads((tmp_path / "m" / "training.json").read_text())["options"]["steps"] == 3
    assert set(record["median_step_seconds"]) == {"captions"} and record["median_step_seconds"]["captions"] > 0
    encoder = load_dual_encoder(str(tmp_path / "m"))
    assert encoder.pixel_encoding == "fail-wafer-line"  # the default, named in the folder for inference
    assert encoder.embed_wafers([s.wafer for s in generate("any", n=2, seed=0)]).shape == (2, 16)


def test_the_documented_command_rebuilds_the_same_files_bit_for_bit(tmp_path):
    """`fabsight train clip` twice, each in a process of its own (as a user rebuilding the shipped model would):
    the same weights, tokenizer and calibration, byte for byte."""
    import subprocess
    import sys

    tiny = tiny_options(tmp_path, class_warmup_steps=1, held_out_single=18, held_out_mixed=6, real="")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items() if k != "out"]
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-m", "fabsight", "train", "clip", "--out", str(tmp_path / run), *flags],
                       check=True, capture_output=True)
    for name in ("model.safetensors", "tokenizer.json", "calibration.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_model_trained_on_colour_pixels_is_fed_colour_pixels(tmp_path):
    from fabsight.models.dual_encoder import load_dual_encoder

    train_clip(ClipTrainOptions(**tiny_options(tmp_path, pixels="rgb")), log=lambda _: None)
    assert json.loads((tmp_path / "m" / "wafer_pixels.json").read_text()) == {"encoding": "rgb"}
    assert load_dual_encoder(str(tmp_path / "m")).pixel_encoding == "rgb"


def test_class_warmup_steps_train_without_descriptions(tmp_path, monkeypatch):
    import fabsight.train.clip_train as clip_train

    calls = []
    monkeypatch.setattr(clip_train, "describe", lambda truth, rng: calls.append(truth) or describe(truth, rng))
    options = ClipTrainOptions(**tiny_options(tmp_path, class_warmup_steps=2))
    record = train_clip(options, log=lambda _: None)
    # 3 descriptions per map for the tokenizer's corpus, then one batch of 8: only the last step reads descriptions.
    assert len(calls) == 3 * (24 + 8) + 8
    assert all(np.isfinite(h["loss"]) for h in record["history"])
    assert set(record["median_step_seconds"]) == {"class prompts", "captions"}


@pytest.mark.parametrize("changes, message", [({"class_warmup_steps": 5, "steps": 5}, "below --steps"),
                                              ({"class_warmup_steps": -1}, "at least 0"),
                                              ({"class_warmup_steps": 2, "class_prompt_weight": 0.0},
                                               "needs the class-prompt term")])
def test_impossible_class_warmup_is_refused(changes, message):
    from fabsight import InputError

    with pytest.raises(InputError, match=message):
        ClipTrainOptions(**changes)


@pytest.mark.parametrize("family", ["siglip", "clip"])
def test_mlp_ratio_sets_the_mlp_width_of_both_towers(family):
    from fabsight.train.clip_train import fresh_model
    from fabsight.train.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["a ring at the edge", "no visible pattern"] * 5, vocab_size=100, max_length=16)
    config = fresh_model(ClipTrainOptions(family=family, width=16, layers=1, mlp_ratio=2), tokenizer).config
    assert config.vision_config.intermediate_size == config.text_config.intermediate_size == 32
    default = fresh_model(ClipTrainOptions(family=family, width=16, layers=1), tokenizer)
    for tower in (default.vision_model, default.text_model):  # the layers built, not only the config
        assert tower.encoder.layers[0].mlp.fc1.out_features == 64  # the default ratio, 4


def test_an_mlp_ratio_below_one_is_refused():
    from fabsight import InputError

    with pytest.raises(InputError, match="--mlp-ratio 0 must be at least 1"):
        ClipTrainOptions(mlp_ratio=0)


@pytest.mark.parametrize("image_size, patch_size", [(48, 7), (4, 8), (48, 0)])
def test_an_image_size_that_patches_do_not_tile_is_refused(image_size, patch_size):
    from fabsight import InputError

    with pytest.raises(InputError, match="multiple of --patch-size"):
        ClipTrainOptions(image_size=image_size, patch_size=patch_size)


def test_reuse_weights_recalibrates_and_rewrites_the_card_without_training(tmp_path):
    from fabsight import InputError
    from fabsight.train.clip_pipeline import ClipBuildOptions, build_wafer_clip

    tiny = tiny_options(tmp_path, steps=2, real=str(tmp_path / "absent.npz"), held_out_single=18, held_out_mixed=6)
    with pytest.warns(Warning, match="no real-map numbers"):
        build_wafer_clip(ClipBuildOptions(**tiny), log=lambda _: None)
    weights = (tmp_path / "m" / "model.safetensors").read_bytes()
    (tmp_path / "m" / "calibration.json").unlink()
    (tmp_path / "m" / "README.md").unlink()
    with pytest.warns(Warning, match="no real-map numbers"):
        build_wafer_clip(ClipBuildOptions(**tiny, reuse_weights=True), log=lambda _: None)
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == weights
    assert json.loads((tmp_path / "m" / "calibration.json").read_text())["views"] == 8
    card = (tmp_path / "m" / "README.md").read_text()
    assert "synthetic, single pattern" in card
    assert "median step" in card and "s with captions in 1 process(es)" in card  # how fast this machine ran it
    assert f"transformers {version('transformers')}" in card  # what a bit-for-bit rebuild must match
    assert "Pixels: three channels per pixel, the share of failing dies" in card
    with pytest.raises(InputError, match="no training.json"):
        build_wafer_clip(ClipBuildOptions(**{**tiny, "out": str(tmp_path / "empty"), "real": ""}, reuse_weights=True))


def test_real_maps_are_read_before_training_so_a_bad_path_fails_at_once(tmp_path):
    import warnings

    from fabsight import InputError
    from fabsight.train.clip_pipeline import ClipBuildOptions, build_wafer_clip

    tiny = tiny_options(tmp_path, steps=2, held_out_single=18, held_out_mixed=6)
    with pytest.raises(InputError, match="is a folder"):
        build_wafer_clip(ClipBuildOptions(**tiny, real=str(tmp_path)), log=lambda _: None)
    assert not (tmp_path / "m").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # '' asks to skip the real maps: no "not found" warning
        build_wafer_clip(ClipBuildOptions(**tiny, real=""), log=lambda _: None)
    assert "real WM-811K" not in (tmp_path / "m" / "README.md").read_text()


def test_a_card_with_real_maps_names_the_commands_that_give_its_real_rows(tmp_path):
    from fabsight.evaluate.classification import classification_scores, presence_scores
    from fabsight.knowledge.patterns import DEFECT_NAMES
    from fabsight.train.clip_card import write_card

    single = classification_scores(["Loc", "none"], ["Loc", "Loc"], [0.9, 0.6])
    metrics = {"synthetic_single": single, "real_nine_classes": single, "real_eight_defects": single,
               "synthetic_mixed": presence_scores([frozenset({"Loc", "Scratch"})], [frozenset({"Loc"})])}
    record = {"options": {"family": "siglip", "pixels": "rgb", "real": "data/real.npz"}, "train_seconds": 1}
    card = write_card(tmp_path, metrics, record, "fabsight train clip --real data/real.npz").read_text()
    assert "`fabsight classify data/real.npz --min-confidence 0 --json > real9.json`" in card
    assert f"`--labels {' '.join(DEFECT_NAMES)}`" in card and "`--leave-out none`" in card
