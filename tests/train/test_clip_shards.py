"""Training in several processes: the gradients they add up are one process's gradients of the whole batch."""

import numpy as np
import pytest

from fabsight.train.clip_train import ClipTrainOptions, batch_loss, class_prompts, fresh_model
from fabsight.train.descriptions import describe
from fabsight.train.shards import Shard, run_in_processes
from fabsight.train.tokenizer import train_tokenizer
from fabsight.train.wafer_data import draw_wafer_set

pytest.importorskip("torch")


def _gradients(model) -> dict[str, np.ndarray]:
    return {name: p.grad.numpy().copy() for name, p in model.named_parameters()}


def _gradient_worker(shard: Shard, options, tokenizer, data, batch, captions, prompts, out) -> None:
    model = fresh_model(options, tokenizer)
    loss = batch_loss(model, tokenizer, shard, data, batch, captions, prompts, options)
    loss.backward()
    shard.sum_gradients(model)
    np.savez(f"{out}-{shard.rank}.npz", loss=loss.item(), **_gradients(model))


@pytest.mark.parametrize("family, with_captions", [("siglip", True), ("clip", False)])
def test_two_processes_add_up_to_the_one_process_gradient(tmp_path, family, with_captions):
    rng = np.random.default_rng(0)
    data = draw_wafer_set(12, 4, seed=0)
    tokenizer = train_tokenizer([describe(t, rng) for t in data.truths for _ in range(3)], vocab_size=300)
    options = ClipTrainOptions(out=str(tmp_path / "m"), family=family, batch_size=11, image_size=16, patch_size=4,
                               width=16, layers=1, class_warmup_steps=0)
    batch = rng.choice(len(data), size=11, replace=False)  # 11 maps: the processes' shares differ (6 and 5)
    captions = [describe(data.truths[i], rng) for i in batch] if with_captions else []
    prompts = class_prompts(rng)

    model = fresh_model(options, tokenizer)
    loss = batch_loss(model, tokenizer, Shard(), data, batch, captions, prompts, options)
    loss.backward()
    expected = _gradients(model)

    out = tmp_path / "shared"
    run_in_processes(_gradient_worker, (options, tokenizer, data, batch, captions, prompts, out), 2)
    shared, other = np.load(f"{out}-0.npz"), np.load(f"{out}-1.npz")
    for name in expected:  # both processes hold the same sum, so their weights stay the same step after step
        assert np.array_equal(shared[name], other[name]), name
    assert float(shared["loss"]) == pytest.approx(loss.item(), rel=1e-5)
    assert set(shared.files) - {"loss"} == set(expected)
    scale = max(np.abs(g).max() for g in expected.values())  # rounding is relative to the largest gradient
    for name, gradient in expected.items():
        np.testing.assert_allclose(shared[name], gradient, rtol=1e-4, atol=1e-6 * scale, err_msg=name)
    # A share counted twice or not at all would be far off: the smallest real gradients are well above 1e-6.
    assert np.abs(expected["vision_model.embeddings.patch_embedding.weight"]).max() > 1e-3 * scale


@pytest.mark.parametrize("processes", [0, 10])
def test_a_process_count_without_a_share_for_each_is_refused(processes):
    from fabsight import InputError

    with pytest.raises(InputError, match="--processes"):
        ClipTrainOptions(processes=processes)
