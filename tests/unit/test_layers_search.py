"""FAISS track search, same-artist Recall@k, and the embeddings derived from a layer stack."""

import numpy as np
import pandas as pd
import pytest

from musicrec.layers.derived import best_layer, embedding_name, layer_embedding, mean_embedding, pick_layer
from musicrec.layers.search import nearest_tracks, same_artist_recall
from musicrec.layers.stack import LayerStackError, check_stack, resolve_layer


def clustered(n_artists=10, per_artist=4, noise=0.05, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_artists, d))
    artists = np.repeat(np.arange(n_artists), per_artist)
    return centres[artists] + noise * rng.standard_normal((len(artists), d)), artists.astype(str)


def test_nearest_tracks_exclude_self_and_skip_failed_rows():
    matrix, _ = clustered()
    matrix[3] = np.nan
    top = nearest_tracks(matrix, k=5)
    assert list(top.columns) == ["track_idx", "rank", "neighbour_idx", "score"]
    assert 3 not in set(top["track_idx"]) and 3 not in set(top["neighbour_idx"])
    assert (top["track_idx"] != top["neighbour_idx"]).all()
    assert top.groupby("track_idx")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()
    assert (top.groupby("track_idx")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()


def test_recall_is_perfect_on_clusters_and_low_on_noise():
    matrix, artists = clustered()
    queries = np.isin(artists, ["0", "1", "2"])
    recall = same_artist_recall(matrix, artists, queries, ks=[3, 10])
    assert recall.set_index("k").loc[3, "recall"] == pytest.approx(1.0)
    assert recall.set_index("k").loc[3, "n_queries"] == 12
    noise = np.random.default_rng(1).standard_normal(matrix.shape)
    assert same_artist_recall(noise, artists, queries, ks=[3]).loc[0, "recall"] < 0.5


def make_stack():
    rng = np.random.default_rng(2)
    values = np.zeros((6, 3, 4), dtype=np.float32)
    values[:, 0, :2] = rng.standard_normal((6, 2)) * 100
    values[:, 1, :4] = rng.standard_normal((6, 4))
    values[:, 2, :3] = rng.standard_normal((6, 3))
    values[4] = np.nan
    return check_stack(values, {"layer_names": ["cnn", "mid", "top"], "layer_dims": [2, 4, 3]}, "stack")


def test_layer_and_mean_embeddings():
    stack = make_stack()
    first = layer_embedding(stack, 0)
    assert first.shape == (6, 2) and np.isnan(first[4]).all()
    mean = mean_embedding(stack)
    assert mean.shape == (6, 4) and np.isnan(mean[4]).all()
    valid = np.delete(np.arange(6), 4)
    # Standardised per layer before the mean (the x100 layer does not dominate); column 3 exists in layer 1 only.
    def z(column):
        return (column - column.mean()) / column.std()

    values = stack.values[valid].astype(np.float64)
    expected = (z(values[:, 0, 0]) + z(values[:, 1, 0]) + z(values[:, 2, 0])) / 3
    np.testing.assert_allclose(mean[valid, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(mean[valid, 3], z(values[:, 1, 3]) / 3, rtol=1e-5)
    raw = mean_embedding(stack, standardise=False)
    np.testing.assert_allclose(raw[valid, 3], stack.values[valid, 1, 3] / 3, rtol=1e-6)


def test_layer_references_and_their_errors():
    names = ("cnn", "mid", "top")
    assert resolve_layer("last", names) == 2 and resolve_layer("mid", names) == 1 and resolve_layer(-3, names) == 0
    with pytest.raises(LayerStackError, match="out of range"):
        resolve_layer(3, names, key="layers.recommend")
    with pytest.raises(LayerStackError, match="unknown layer 'deep'"):
        resolve_layer("deep", names)
    with pytest.raises(LayerStackError, match="not multi-layer"):
        check_stack(np.zeros((4, 5), dtype=np.float32), {"layer_names": [], "layer_dims": []}, "flat.npy")
    assert embedding_name("whisper", "best") == "whisper@best" and embedding_name("whisper", "mean") == "whisper-mean"


def test_best_layer_follows_the_probe_table():
    table = pd.DataFrame(
        {
            "layer_index": [0, 1, 2, 0, 1, 2],
            "layer": ["cnn", "mid", "top"] * 2,
            "target": ["tempo"] * 3 + ["genre"] * 3,
            "task": ["regression"] * 3 + ["classification"] * 3,
            "mean": [0.1, 0.5, 0.3, 0.2, 0.1, 0.9],
        }
    )
    assert best_layer(table, "mean_r2")[:2] == (1, "mid")
    assert best_layer(table, "genre")[:2] == (2, "top")
    index, provenance = pick_layer(make_stack(), "best", table, "genre")
    assert index == 2 and provenance["chosen_by"] == "probe:genre"
    with pytest.raises(LayerStackError, match="not a probed target"):
        best_layer(table, "loudness")
