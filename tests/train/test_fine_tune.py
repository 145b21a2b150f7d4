"""`train probe --fine-tune`: the image tower trained with the head, saved as a new model with its probe inside."""

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from fabsight.errors import FabsightError, FabsightWarning, InputError
from fabsight.models.dual_encoder import load_dual_encoder
from fabsight.models.probes import TUNE_RECORD, load_probe, model_fingerprint
from fabsight.search.query import _query_vector
from fabsight.tasks.classify import ClassifyOptions, classify_files
from fabsight.train import probe as probe_module
from fabsight.train.fine_tune import FineTuneOptions, _batch_pixels, fine_tune
from fabsight.train.probe import ProbeTrainOptions, train_probe
from fabsight.train.probe_fit import Head
from fabsight.wafer.npz import save_npz
from fabsight.wafer.synth import generate

SPECS = ("edge ring", "center", "scratch")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labelled")
    for i, sample in enumerate(s for spec in SPECS for s in generate(spec, n=6, seed=4)):
        save_npz(sample.wafer, folder / f"{i:03d}.npz")
    return folder


def _options(model, labelled, out, **changes) -> ProbeTrainOptions:
    return ProbeTrainOptions(model=str(model), data=[str(labelled)], labels_from="truth", out="fab",
                             fine_tune=str(out), tune_steps=3, tune_batch=8, **changes)


def test_the_tuned_model_holds_its_probe_and_classify_uses_it(tiny_dual_encoder_folder, labelled, tmp_path):
    out = tmp_path / "tuned"
    summary = train_probe(_options(tiny_dual_encoder_folder, labelled, out))
    assert not (tiny_dual_encoder_folder / "probes").exists()  # the base model is not written to
    record = json.loads((out / TUNE_RECORD).read_text())
    assert record["base_model_sha256"] == model_fingerprint(tiny_dual_encoder_folder) and record["steps"] == 3
    assert summary["model"] == str(out) and summary["folder"] == str(out / "probes" / "fab")
    assert summary["held_out_maps"] == 3 and 0 <= summary["held_out_accuracy"] <= 1
    assert summary["frozen_probe"]["held_out_accuracy"] is not None and summary["fine_tune"]["steps"] == 3

    assert (out / "model.safetensors").stat().st_mode & 0o777 == (tiny_dual_encoder_folder / "model.safetensors"
                                                                  ).stat().st_mode & 0o777  # the user's umask
    base, tuned = load_file(tiny_dual_encoder_folder / "model.safetensors"), load_file(out / "model.safetensors")
    assert base.keys() == tuned.keys()
    changed = {name for name in base if not np.array_equal(base[name], tuned[name])}
    assert changed and all(name.startswith(("vision_model.", "visual_projection.")) for name in changed)
    if "visual_projection.weight" in base:  # CLIP: the projection belongs to the image tower
        assert "visual_projection.weight" in changed

    encoder = load_dual_encoder(str(out))
    result = classify_files([labelled], ClassifyOptions(model=str(out), probe="fab"), encoder=encoder)
    probe = load_probe(encoder, "fab")
    vectors = encoder.embed_wafers([s.wafer for spec in SPECS for s in generate(spec, n=6, seed=4)], views=8)
    for row, p in zip(result["results"], probe.probabilities(vectors)):
        assert row["scores"] == {label: pytest.approx(float(v), abs=1e-4) for label, v in zip(probe.labels, p)}
    with pytest.warns(FabsightWarning, match=r"fine-tuned for its probes \(fab\) and its texts no longer match its "
                                             r"maps.*--probe NAME"):
        classify_files([labelled], ClassifyOptions(model=str(out)), encoder=encoder)  # zero-shot on a tuned tower
    with pytest.warns(FabsightWarning, match=r"text queries may miss; search by example \(--like\)"):
        _query_vector(encoder, "a scratch across the wafer", None, 0.0)  # a search index's text query
    with pytest.raises(FabsightError, match="was fitted on model"):  # the tuned head does not fit the base model
        load_probe(load_dual_encoder(str(tiny_dual_encoder_folder)), str(out / "probes" / "fab"))


def test_the_base_models_own_records_and_weight_index_are_not_copied(tiny_siglip_folder, labelled, tmp_path):
    base = shutil.copytree(tiny_siglip_folder, tmp_path / "base")
    for name in ("model.safetensors.index.json", "calibration.json", "README.md"):
        (base / name).write_text("{}")  # a sharded model's index, the base's calibration and card
    out = tmp_path / "tuned"
    train_probe(_options(base, labelled, out))
    assert not {"model.safetensors.index.json", "calibration.json", "README.md"} & {p.name for p in out.iterdir()}
    assert {"tokenizer.json", "preprocessor_config.json", "wafer_pixels.json"} <= {p.name for p in out.iterdir()}
    assert load_dual_encoder(str(out), "torch").dim == load_dual_encoder(str(base), "torch").dim


def test_fine_tuning_is_reproducible_and_starts_from_the_given_head(tiny_siglip_folder, labelled):
    wafers = [s.wafer for spec in SPECS for s in generate(spec, n=4, seed=5)]
    y = np.repeat(np.arange(3), 4)
    dim = load_dual_encoder(str(tiny_siglip_folder), "torch").dim
    start = Head(np.random.default_rng(0).normal(size=(3, dim)).astype(np.float32), np.zeros(3, np.float32))
    options = FineTuneOptions(tune_steps=2, tune_batch=4)
    heads, vectors = [], []
    for _ in range(2):
        encoder = load_dual_encoder(str(tiny_siglip_folder), "torch")
        heads.append(fine_tune(encoder, wafers, y, start, options, views=8, seed=3))
        vectors.append(encoder.embed_wafers(wafers, views=8))
    np.testing.assert_array_equal(heads[0].weight, heads[1].weight)
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert not np.array_equal(heads[0].weight, start.weight)  # it trained
    assert np.abs(heads[0].weight - start.weight).max() < 0.1  # from the start, not from scratch


def test_a_map_is_turned_as_the_views_that_classify_averages(tiny_siglip_folder):
    encoder = load_dual_encoder(str(tiny_siglip_folder), "torch")
    wafers = [s.wafer for s in generate("scratch", n=3, seed=6)]
    every_view = encoder.wafer_pixels(wafers, 8)  # (8 * 3, 3, S, S), view by view
    for k in range(8):
        turned = _batch_pixels(encoder, wafers, np.full(3, k)).numpy()
        np.testing.assert_array_equal(turned, every_view[k * 3:(k + 1) * 3])


def test_an_existing_folder_is_replaced_only_with_overwrite_and_only_if_it_is_a_tuned_model(
        tiny_siglip_folder, labelled, tmp_path):
    out = tmp_path / "tuned"
    train_probe(_options(tiny_siglip_folder, labelled, out))
    first = (out / "model.safetensors").read_bytes()
    with pytest.raises(FabsightError, match="already exists"):
        train_probe(_options(tiny_siglip_folder, labelled, out))
    train_probe(_options(tiny_siglip_folder, labelled, out, overwrite=True, seed=1))
    assert (out / "model.safetensors").read_bytes() != first  # another seed, another model, in place
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FabsightError, match="not replaced"):
        train_probe(_options(tiny_siglip_folder, labelled, other, overwrite=True))
    assert (other / "keep.txt").read_text() == "mine"


def test_a_crash_while_saving_leaves_the_old_model_whole_and_no_partial_folder(
        tiny_siglip_folder, labelled, tmp_path, monkeypatch):
    out = tmp_path / "tuned"
    train_probe(_options(tiny_siglip_folder, labelled, out))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(probe_module, "save_probe", crash)
    with pytest.raises(OSError, match="disk full"):
        train_probe(_options(tiny_siglip_folder, labelled, out, overwrite=True, seed=1))
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned"]
    with pytest.raises(OSError, match="disk full"):
        train_probe(_options(tiny_siglip_folder, labelled, tmp_path / "new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned"]


def test_bad_fine_tuning_settings_are_refused_before_any_work(tiny_siglip_folder):
    with pytest.raises(InputError, match="tune-steps"):
        FineTuneOptions(tune_steps=0)
    with pytest.raises(InputError, match="learning-rate"):
        FineTuneOptions(tune_learning_rate=0)
    with pytest.raises(FabsightError, match="--runtime onnx does not go with it"):
        ProbeTrainOptions(data=["x"], out="p", fine_tune="tuned", runtime="onnx")
    encoder = load_dual_encoder(str(tiny_siglip_folder), "onnx")
    with pytest.raises(FabsightError, match="needs the model in torch"):
        fine_tune(encoder, [], np.zeros(0, int), Head(np.zeros((2, encoder.dim), np.float32), np.zeros(2, np.float32)),
                  FineTuneOptions(), views=1)
