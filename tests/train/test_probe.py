import json
from collections import Counter
import shutil

import numpy as np
import pytest

from fabsight.errors import FabsightError, InputError
from fabsight.models import registry
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.models.probes import load_probe
from fabsight.tasks.classify import ClassifyOptions, classify_files
from fabsight.train.probe import ProbeTrainOptions, train_probe
from fabsight.train.probe_fit import FALLBACK_L2, L2_GRID, Head, accuracy, choose_l2, fit_head, stratified_split
from fabsight.wafer.npz import save_npz
from fabsight.wafer.synth import generate

SPECS = ("edge ring", "center", "scratch")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Synthetic maps of three classes (labels in their truth) and a WM-811K style stack (labels in `labels`)."""
    folder = tmp_path_factory.mktemp("labelled")
    samples = [s for spec in SPECS for s in generate(spec, n=8, seed=1)]
    for i, sample in enumerate(samples):
        save_npz(sample.wafer, folder / "truth" / f"{i:03d}.npz")
    size = 40
    maps = np.zeros((len(samples), size, size), np.uint8)
    for i, sample in enumerate(samples):
        grid = sample.grid[:size, :size]
        maps[i, :grid.shape[0], :grid.shape[1]] = grid
    np.savez(folder / "stack.npz", maps=maps, labels=np.array([s.label for s in samples]))
    return folder


@pytest.fixture
def model(tiny_siglip_folder, tmp_path):
    """A private copy of the tiny model: probes are written into it."""
    return shutil.copytree(tiny_siglip_folder, tmp_path / "model")


def test_the_head_learns_separable_classes_and_applies_to_raw_vectors():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    y = rng.integers(0, 3, 300)
    x = centres[y] + 0.3 * rng.normal(size=(300, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    train, held = stratified_split(y, 0.25, seed=0)
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == 300
    assert abs(len(held) - 75) <= 3 and set(y[held]) == {0, 1, 2}
    head = fit_head(x[train], y[train], 3)
    assert accuracy(head, x[held], y[held]) > 0.95


def test_the_head_is_fitted_with_one_blas_thread(monkeypatch):
    """Tiny matrices: BLAS threads made a cross-validated fit 15 times slower (benchmarks/probe_fit_speed.py)."""
    import scipy.optimize
    from threadpoolctl import threadpool_info

    seen = []
    minimize = scipy.optimize.minimize

    def watched(*args, **kwargs):
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
        return minimize(*args, **kwargs)
    monkeypatch.setattr(scipy.optimize, "minimize", watched)
    x, y = np.random.default_rng(1).normal(size=(40, 8)), np.arange(40) % 2
    fit_head(x, y, 2)
    assert seen and set(seen) == {1}


def _clusters(n: int, seed: int, noise: float):
    """Unit vectors around three fixed class centres (the same in every draw), and their classes."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(3, 16))
    y = np.arange(n) % 3
    x = centres[y] + noise * rng.normal(size=(n, 16))
    return x / np.linalg.norm(x, axis=1, keepdims=True), y, centres / np.linalg.norm(centres, axis=1, keepdims=True)


def _prior(directions: np.ndarray) -> Head:
    return Head((10 * directions).astype(np.float32), np.zeros(len(directions), np.float32))


def test_a_strong_pull_keeps_the_head_at_its_prior_and_a_weak_one_fits_the_labels():
    x, y, centres = _clusters(60, seed=1, noise=0.3)
    wrong = _prior(centres[[1, 2, 0]])  # every class pointed at the next one's centre
    pinned = fit_head(x, y, 3, l2=1e4, prior=wrong)
    assert np.allclose(pinned.weight, wrong.weight, atol=0.05)
    assert accuracy(pinned, x, y) < 0.1  # it still answers as the wrong prior does
    assert accuracy(fit_head(x, y, 3, l2=1e-3, prior=wrong), x, y) > 0.95


def test_cross_validation_trusts_a_good_prior_and_overrules_a_bad_one():
    x, y, centres = _clusters(30, seed=3, noise=2.0)  # few, noisy maps
    good, bad = _prior(centres), _prior(centres[[1, 2, 0]])
    assert choose_l2(x, y, 3, good) == max(L2_GRID)
    assert choose_l2(x, y, 3, bad) <= 0.01
    test_x, test_y, _ = _clusters(600, seed=99, noise=2.0)
    pulled = fit_head(x, y, 3, choose_l2(x, y, 3, good), prior=good)
    assert accuracy(pulled, test_x, test_y) > accuracy(fit_head(x, y, 3), test_x, test_y) + 0.05
    assert choose_l2(x[:4], y[:4], 3, good) == FALLBACK_L2  # one map of a class: nothing to cross-validate


def test_a_probe_is_saved_inside_a_model_given_by_path_and_used_by_classify(model, labelled):
    summary = train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "truth")], labels_from="truth",
                                            out="fab1"))
    folder = model / "probes" / "fab1"
    assert summary["folder"] == str(folder) and (folder / "head.safetensors").exists()
    info = json.loads((folder / "probe.json").read_text())
    assert info["labels"] == sorted(s.title() if s != "edge ring" else "Edge-Ring" for s in SPECS)
    assert info["model"] == str(model) and len(info["model_sha256"]) == 64
    assert info["train_maps"] == 24 and info["held_out_maps"] == 6
    assert 0 <= info["held_out_accuracy"] <= 1 and info["train_accuracy"] > 0.5 and "created" in info
    assert info["views"] == 8 and info["prior"] == "zero-shot"
    assert info["l2"] in L2_GRID and info["l2_from"] == "cross-validation"

    encoder = load_dual_encoder(str(model))
    result = classify_files([labelled / "truth"], ClassifyOptions(model=str(model), probe="fab1"), encoder=encoder)
    assert result["method"] == "probe" and result["labels"] == info["labels"] and len(result["results"]) == 24
    assert result["views"] == 8  # the probe's own, as it was fitted
    probe = load_probe(encoder, "fab1")
    vectors = encoder.embed_wafers([s.wafer for spec in SPECS for s in generate(spec, n=8, seed=1)], views=8)
    expected = probe.probabilities(vectors)
    for row, p in zip(result["results"], expected):
        assert row["scores"] == {label: pytest.approx(float(v), abs=1e-4) for label, v in zip(probe.labels, p)}


def test_labels_from_a_stack_and_from_a_csv_give_the_same_classes(model, labelled, tmp_path):
    by_label = train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "stack.npz")], out="stack"))
    rows = ["source,wafer_id,label"] + [f"{i:03d}.npz,,{'big' if i < 8 else 'small'}" for i in range(20)]
    (labelled / "truth" / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="4 map"):
        by_csv = train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "truth")], labels_from="csv",
                                               labels_csv=str(labelled / "truth" / "labels.csv"), out="csv"))
    assert by_label["class_counts"] == {"Center": 8, "Edge-Ring": 8, "Scratch": 8}
    assert by_csv["class_counts"] == {"big": 8, "small": 12} and by_csv["unlabelled"] == 4
    (tmp_path / "twice.csv").write_text("source,wafer_id,label\n000.npz,,big\n001.npz,,big\n000.npz,,small\n")
    twice = r"line 4: 000.npz \(every wafer\) is labelled a second time \(first on line 2\)"
    with pytest.raises(InputError, match=twice):
        train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "truth")], labels_from="csv",
                                      labels_csv=str(tmp_path / "twice.csv"), out="twice"))


def test_a_csv_of_ids_as_classify_gives_them_labels_the_same_maps(model, labelled, tmp_path):
    stack = str(labelled / "stack.npz")
    classified = classify_files([stack], ClassifyOptions(model=str(model)))["results"]
    rows = ["id,label"] + [f"{row['id']},{row['label']}" for row in classified[:20]]  # the last 4 left unlabelled
    (tmp_path / "ids.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="4 map"):
        by_id = train_probe(ProbeTrainOptions(model=str(model), data=[stack], labels_from="csv",
                                              labels_csv=str(tmp_path / "ids.csv"), out="ids"))
    assert by_id["class_counts"] == dict(Counter(row["label"] for row in classified[:20]))
    for text, message in (("id,label\nx,\n", "line 2: id and label must not be blank"),
                          ("id,label\nx,Center\ny,Donut,Loc\n", "line 3: more cells than the header has columns"),
                          ("id,label\nx,Center\ny,Donut\nx,Loc\n", "1 id.s. appear more than once: 'x'")):
        (tmp_path / "bad.csv").write_text(text)
        with pytest.raises(InputError, match=message):
            train_probe(ProbeTrainOptions(model=str(model), data=[stack], labels_from="csv",
                                          labels_csv=str(tmp_path / "bad.csv"), out="bad"))


def test_a_shipped_model_keeps_its_probes_in_the_users_folder(tiny_siglip_folder, labelled, tmp_path, monkeypatch):
    monkeypatch.setenv("FABSIGHT_HOME", str(tmp_path / "home"))
    shipped = registry.ShippedModel("tiny-shipped", "dual-encoder", tiny_siglip_folder, "test model", "none")
    monkeypatch.setattr(registry, "SHIPPED", registry.SHIPPED + (shipped,))
    before = sorted(p.name for p in tiny_siglip_folder.rglob("*"))
    summary = train_probe(ProbeTrainOptions(model="tiny-shipped", data=[str(labelled / "stack.npz")], out="mine"))
    assert summary["folder"] == str(tmp_path / "home" / "probes" / "tiny-shipped" / "mine")
    assert sorted(p.name for p in tiny_siglip_folder.rglob("*")) == before  # the package is never written to
    result = classify_files([labelled / "stack.npz"], ClassifyOptions(model="tiny-shipped", probe="mine"))
    assert len(result["results"]) == 24


def test_probes_for_another_model_and_unknown_names_are_refused(model, tiny_clip_folder, labelled, tmp_path):
    train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "stack.npz")], out="mine"))
    other = shutil.copytree(tiny_clip_folder, tmp_path / "other")
    shutil.copytree(model / "probes", other / "probes")
    with pytest.raises(FabsightError, match="fitted on model .* not on .*other"):
        classify_files([labelled / "stack.npz"], ClassifyOptions(model=str(other), probe="mine"))
    with pytest.raises(FabsightError, match="no probe named 'nope'.*available: mine"):
        classify_files([labelled / "stack.npz"], ClassifyOptions(model=str(model), probe="nope"))
    with pytest.raises(FabsightError, match="already exists"):
        train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "stack.npz")], out="mine"))
    with pytest.raises(FabsightError, match="name"):
        train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "stack.npz")], out="../escape"))


def test_one_class_is_not_enough(model, labelled):
    with pytest.raises(FabsightError, match="at least two classes"):
        train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "truth" / "000.npz")],
                                      labels_from="truth", out="one"))


def test_a_probe_fitted_before_views_were_recorded_uses_one_view(model, labelled):
    train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "stack.npz")], out="old", views=1))
    info_file = model / "probes" / "old" / "probe.json"
    info = json.loads(info_file.read_text())
    assert info["views"] == 1
    del info["views"]
    info_file.write_text(json.dumps(info))
    result = classify_files([labelled / "stack.npz"], ClassifyOptions(model=str(model), probe="old"))
    assert result["views"] == 1
    info_file.write_text(json.dumps({**info, "views": 9}))
    with pytest.raises(FabsightError, match="views must be a whole number from 1 to 8, not 9"):
        classify_files([labelled / "stack.npz"], ClassifyOptions(model=str(model), probe="old"))


def test_labels_that_cannot_be_prompts_fit_without_a_prior(model, labelled, tmp_path):
    rows = ["source,wafer_id,label"] + [f"{i:03d}.npz,,{'big' if i < 12 else 'BIG'}" for i in range(24)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="no zero-shot prior.*duplicate labels"):
        summary = train_probe(ProbeTrainOptions(model=str(model), data=[str(labelled / "truth")], labels_from="csv",
                                                labels_csv=str(tmp_path / "labels.csv"), out="cased"))
    assert summary["prior"] == "none" and summary["class_counts"] == {"BIG": 12, "big": 12}


def test_the_zero_shot_prior_gives_the_same_scores_as_zero_shot_classification(model):
    from fabsight.tasks.zero_shot import encode_labels, label_probabilities
    from fabsight.train.probe import zero_shot_head

    encoder = load_dual_encoder(str(model))
    labels = ["Center", "Edge-Ring", "Scratch"]
    vectors = encoder.embed_wafers([s.wafer for s in generate("center", n=4, seed=2)])
    expected, _ = label_probabilities(encoder, vectors, encode_labels(encoder, labels))
    logits = zero_shot_head(encoder, labels).logits(vectors)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(axis=1, keepdims=True), expected, atol=1e-5)
