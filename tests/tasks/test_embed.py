import numpy as np

from fabsight.tasks.embed import EmbedOptions, embed_files, save_embeddings
from fabsight.wafer.synth import generate


def test_every_readable_format_is_embedded_and_the_corrupt_file_reported(siglip, mixed_folder):
    result = embed_files([mixed_folder], EmbedOptions(text=["edge ring", "scratch"]), encoder=siglip)
    names = [r["source"].rsplit("/", 1)[-1] for r in result.wafers]
    expected = ["a.npz", "b.npy", "b.npy", "c.png", "d.csv"] + (["e.stdf.gz"] if (mixed_folder / "e.stdf.gz").exists()
                                                               else [])
    assert names == expected
    assert [r["index"] for r in result.wafers][:3] == [0, 0, 1]
    assert result.vectors.shape == (len(expected), siglip.dim) and result.text_vectors.shape == (2, siglip.dim)
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(result.text_vectors, axis=1), 1.0, atol=1e-5)
    assert [e["source"] for e in result.errors] == [str(mixed_folder / "z_corrupt.npz")]
    document = result.to_json()
    assert document["dim"] == siglip.dim and len(document["wafers"][0]["vector"]) == siglip.dim
    assert document["texts"][1]["text"] == "scratch"


def test_a_map_with_no_on_wafer_dies_is_reported_not_embedded(siglip, tmp_path):
    good = generate("scratch", n=1, seed=5)[0].grid
    np.save(tmp_path / "stack.npy", np.stack([np.zeros_like(good), good]))  # the first map: every cell off-wafer
    result = embed_files([tmp_path / "stack.npy"], encoder=siglip)
    assert [r["index"] for r in result.wafers] == [1] and result.vectors.shape == (1, siglip.dim)
    (error,) = result.errors
    assert error["source"] == str(tmp_path / "stack.npy")
    assert "number 1 of 2" in error["error"] and "no on-wafer dies" in error["error"]


def test_a_map_without_off_wafer_cells_is_embedded_with_a_warning(siglip, tmp_path):
    import warnings

    from fabsight.errors import FabsightWarning

    round_map = generate("edge ring", n=1, seed=5)[0].grid
    np.save(tmp_path / "round.npy", round_map)
    np.save(tmp_path / "square.npy", np.where(round_map == 0, 1, round_map))  # the same fails, no outline
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = embed_files([tmp_path / "round.npy", tmp_path / "square.npy"], encoder=siglip)
    assert len(result.wafers) == 2 and not result.errors
    messages = [str(w.message) for w in caught if issubclass(w.category, FabsightWarning)]
    assert messages == [f"{tmp_path / 'square.npy'}: 1 map(s) have no off-wafer cells (0), so the models take the "
                        "array's sides for the wafer's edge and edge patterns read poorly; mark off-wafer positions 0"]


def test_batch_size_does_not_change_vectors(siglip, mixed_folder):
    one = embed_files([mixed_folder], EmbedOptions(batch_size=1), encoder=siglip)
    many = embed_files([mixed_folder], EmbedOptions(batch_size=64), encoder=siglip)
    np.testing.assert_allclose(one.vectors, many.vectors, atol=1e-5)


def test_a_picture_of_a_map_embeds_like_the_map(siglip, tmp_path):
    from fabsight.wafer.npz import save_npz
    from fabsight.wafer.render import save_png

    wafer = generate("edge ring", n=1, seed=3)[0].wafer
    save_npz(wafer, tmp_path / "w.npz")
    save_png(wafer, tmp_path / "w.png")
    vectors = embed_files([tmp_path / "w.npz", tmp_path / "w.png"], encoder=siglip).vectors
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)


def test_saved_npz_holds_vectors_and_ids_without_pickle(siglip, mixed_folder, tmp_path):
    result = embed_files([mixed_folder], EmbedOptions(text=["donut"]), encoder=siglip)
    path = save_embeddings(result, tmp_path / "out" / "vectors.npz")
    saved = np.load(path, allow_pickle=False)
    np.testing.assert_array_equal(saved["vectors"], result.vectors)
    assert saved["source"].tolist() == [r["source"] for r in result.wafers]
    assert saved["wafer_id"].tolist() == ["" if r["wafer_id"] is None else r["wafer_id"] for r in result.wafers]
    assert saved["texts"].tolist() == ["donut"] and saved["text_vectors"].shape == (1, siglip.dim)
