"""Layer fusion: weights over layers, batch independence, training, resume, co-listening triplets."""

import numpy as np
import pandas as pd
import pytest
import torch

from musicrec.layers.fusion import build_fusion
from musicrec.layers.fusion_training import (
    ColisteningTriplets,
    FusionOptions,
    MetadataTriplets,
    artist_roles,
    train_fusion,
)
from musicrec.layers.stack import check_stack


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def planted_stack(n_artists=24, per_artist=5, dims=(16, 16, 16), seed=0):
    """Layer 1 carries the artist (a per-artist centre), the other layers are noise."""
    rng = np.random.default_rng(seed)
    artists = np.repeat([f"a{i}" for i in range(n_artists)], per_artist)
    n, d_max = len(artists), max(dims)
    values = np.zeros((n, len(dims), d_max), dtype=np.float32)
    centres = rng.standard_normal((n_artists, d_max)) * 2.0
    codes = np.repeat(np.arange(n_artists), per_artist)
    for index, width in enumerate(dims):
        values[:, index, :width] = rng.standard_normal((n, width))
        if index == 1:
            values[:, index, :width] += centres[codes, :width]
    sidecar = {"layer_names": [f"l{i}" for i in range(len(dims))], "layer_dims": list(dims)}
    return check_stack(values, sidecar, "planted"), artists


@pytest.mark.parametrize("kind", ["softmax", "attention"])
@pytest.mark.parametrize("dims", [(8, 8, 8), (4, 8, 6)])
def test_weights_sum_to_one_and_tracks_ignore_their_batch_mates(kind, dims):
    torch.manual_seed(0)
    d_max = max(dims)
    model = build_fusion(kind, dims, np.zeros((3, d_max)), np.ones((3, d_max)), out_dim=5, hidden_dim=7, common_dim=6)
    model.eval()
    x = torch.randn(10, 3, d_max)
    for index, width in enumerate(dims):
        x[:, index, width:] = 0.0
    embedding, weights = model.forward_with_weights(x)
    assert weights.shape == (10, 3) and torch.allclose(weights.sum(dim=1), torch.ones(10))
    assert torch.allclose(embedding.norm(dim=1), torch.ones(10), atol=1e-6)
    alone, alone_weights = model.forward_with_weights(x[:1])
    other_mates = torch.cat([x[:1], torch.randn(6, 3, d_max) * 100])
    mixed, mixed_weights = model.forward_with_weights(other_mates)
    torch.testing.assert_close(alone[0], embedding[0])
    torch.testing.assert_close(mixed[0], alone[0])
    torch.testing.assert_close(mixed_weights[0], alone_weights[0])
    if kind == "attention":  # weights are per track: other tracks get other weights
        assert not torch.allclose(weights[0], weights[1])


def test_padded_columns_never_reach_the_output():
    dims = (4, 8)
    model = build_fusion("softmax", dims, np.zeros((2, 8)), np.ones((2, 8)), out_dim=3, hidden_dim=4, common_dim=5)
    x = torch.randn(2, 2, 8)
    x[:, 0, 4:] = 0.0
    y = x.clone()
    y[:, 0, 4:] = 1e6  # garbage in layer 0's padding
    torch.testing.assert_close(model(x), model(y))


def test_metadata_triplets_respect_artists():
    artists = np.repeat(["a", "b", "c", "d"], 3)
    pool = np.arange(9)  # artist d stays out of the pool
    triplets = MetadataTriplets(pool, artists, artists)
    sample = triplets.sample(np.random.default_rng(0), triplets.anchor_slots)
    anchors, positives, negatives = sample.T
    assert set(anchors) == set(pool)
    assert (artists[anchors] == artists[positives]).all() and (anchors != positives).all()
    assert (artists[anchors] != artists[negatives]).all() and np.isin(negatives, pool).all()


def test_colistening_triplets_come_from_shared_listeners():
    interactions = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"], "track_idx": [0, 1, 2, 3, 4]})
    triplets = ColisteningTriplets(np.arange(5), interactions, n_tracks=6)
    assert sorted(triplets.anchor_slots) == [0, 1, 2, 3]  # track 4's only listener played nothing else
    sample = triplets.sample(np.random.default_rng(1), np.array([0, 1, 2, 3]))
    partners = {0: 1, 1: 0, 2: 3, 3: 2}
    assert all(partners[a] == p for a, p, _ in sample)
    assert all(n not in (a, p) and n < 5 for a, p, n in sample)


def test_artist_roles_split_whole_artists():
    artists = np.repeat([f"a{i}" for i in range(20)], 3)
    roles = artist_roles(artists, 0.1, 0.2, seed=3)
    for artist in np.unique(artists):
        assert len(set(roles[artists == artist])) == 1
    assert (roles == "heldout").sum() == 12 and (roles == "val").sum() == 6


def test_fusion_learns_the_informative_layer_and_resumes_identically(tmp_path):
    stack, artists = planted_stack()
    options = FusionOptions(kind="softmax", dim=8, batch_size=32, lr=0.05, max_epochs=6, patience=6,
                            val_triplets=200, heldout_fraction=0.2, val_fraction=0.15)
    whole = train_fusion(stack, artists, artists, options, seed=4)
    table = whole.weight_table(stack.names)
    assert table["weight_mean"].sum() == pytest.approx(1.0)
    assert table["weight_mean"].idxmax() == 1  # the layer that carries the artist
    assert whole.embedding.shape == (len(artists), 8) and np.isfinite(whole.embedding).all()

    # Killed in epoch 3, then rerun: the same weights and embedding as the uninterrupted run.
    state = tmp_path / "state"

    class Killed(Exception):
        pass

    def kill(epoch, step):
        if epoch == 3 and step == 1:
            raise Killed()

    import musicrec.layers.fusion_training as fusion_training

    original = fusion_training.train
    with pytest.raises(Killed):
        fusion_training.train = lambda *a, **k: original(*a, on_step=kill, **k)
        try:
            train_fusion(stack, artists, artists, options, seed=4, state_dir=state)
        finally:
            fusion_training.train = original
    resumed = train_fusion(stack, artists, artists, options, seed=4, state_dir=state)
    assert resumed.outcome.resumed_from_epoch == 2
    np.testing.assert_array_equal(resumed.embedding, whole.embedding)
    np.testing.assert_array_equal(resumed.weights, whole.weights)


def test_failed_rows_stay_out_and_come_back_nan():
    stack, artists = planted_stack(n_artists=12, per_artist=4)
    values = np.array(stack.values)
    values[5] = np.nan
    stack = check_stack(values, stack.sidecar, "with-a-failure")
    options = FusionOptions(kind="attention", dim=4, batch_size=16, max_epochs=1, val_triplets=20,
                            heldout_fraction=0.25, val_fraction=0.25)
    result = train_fusion(stack, artists, artists, options, seed=0)
    assert np.isnan(result.embedding[5]).all() and np.isfinite(np.delete(result.embedding, 5, axis=0)).all()
