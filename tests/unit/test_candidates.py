"""The candidate set (issue 9 point 1): under the Onion protocol only tracks played in train are ranked.

Four *cold* tracks (no train play) are added to the planted catalogue: three copies of
played tracks and one at the centre of a cluster, where KNN would put it first for that
cluster's users. Under ``candidates: train`` (the default) no recommender may return them;
under ``catalogue`` they compete like any other track. Before the candidate set existed,
KNN and Shallow Net ranked such tracks (guaranteed misses) and this test failed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicrec.recommenders.bert4rec_training import fit_bert4rec
from musicrec.recommenders.inputs import InputError, candidate_items, prepare_interactions
from musicrec.recommenders.knn import fit_knn
from musicrec.recommenders.shallow_training import fit_shallow
from test_training import FAST_BERT, FAST_SHALLOW, planted_listening

TOP_N = 100  # more than any user has unheard: the whole candidate set is ranked
TWINS = [5, 6, 7]  # played tracks whose copies are the cold tracks 64, 65, 66


@pytest.fixture(scope="module")
def data():
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    assert train_frame["track_idx"].nunique() == len(embeddings) == 64
    cluster_0 = embeddings[np.arange(0, 64, 4)]  # planted_listening: track i is in cluster i % 4
    cold = np.vstack([embeddings[TWINS], cluster_0.mean(axis=0, keepdims=True)]).astype(np.float32)
    return np.vstack([embeddings, cold]), train_frame, val_frame, test_frame


COLD = np.arange(64, 68)


def lists(recs: pd.DataFrame) -> dict:
    return {user: group.sort_values("rank")["track_idx"].tolist() for user, group in recs.groupby("user_id")}


def assert_train_lists_are_catalogue_lists_without_cold_tracks(train_recs, catalogue_recs) -> None:
    """Same model, same scores: the train-candidate list is the catalogue list with cold tracks removed."""
    assert not train_recs["track_idx"].isin(COLD).any(), "a track with no train play was recommended"
    assert catalogue_recs["track_idx"].isin(COLD).any()
    by_catalogue = lists(catalogue_recs)
    for user, ranked in lists(train_recs).items():
        assert ranked == [track for track in by_catalogue[user] if track not in COLD]
    merged = train_recs.merge(catalogue_recs, on=["user_id", "track_idx"], suffixes=("", "_catalogue"))
    assert len(merged) == len(train_recs)
    np.testing.assert_allclose(merged["score"], merged["score_catalogue"], rtol=1e-5, atol=1e-6)


def assert_copies_score_like_their_twins(catalogue_recs) -> None:
    """Frozen items: a cold copy of a played track gets that track's score, user for user."""
    scores = catalogue_recs.set_index(["user_id", "track_idx"])["score"]
    compared = 0
    for user in catalogue_recs["user_id"].unique():
        for twin, copy in zip(TWINS, COLD[:3]):
            if (user, twin) in scores.index:  # the user has not heard the twin
                assert scores[(user, copy)] == pytest.approx(scores[(user, twin)], rel=1e-5, abs=1e-6)
                compared += 1
    assert compared > 0


def test_candidate_items_are_usable_train_tracks_or_every_usable_track():
    usable = np.array([True, True, False, True, True])
    np.testing.assert_array_equal(candidate_items(np.array([0, 2, 2, 3]), usable, "train"), [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(candidate_items(np.array([0, 2, 2, 3]), usable, "catalogue"), usable)


def test_interactions_carry_the_candidate_set_and_reject_an_unknown_one(data):
    embeddings, train_frame, val_frame, test_frame = data
    usable = np.ones(len(embeddings), dtype=bool)
    default = prepare_interactions(train_frame, val_frame, test_frame, usable)
    assert default.item_is_candidate.tolist() == [True] * 64 + [False] * 4
    everything = prepare_interactions(train_frame, val_frame, test_frame, usable, candidates="catalogue")
    assert everything.item_is_candidate.all()
    with pytest.raises(InputError, match=r"evaluation.candidates = 'all'; expected one of \('train', 'catalogue'\)"):
        prepare_interactions(train_frame, val_frame, test_frame, usable, candidates="all")


def test_knn_ranks_only_train_tracks_by_default(data):
    embeddings, *frames = data
    default = fit_knn(embeddings, *frames, top_n=TOP_N)
    catalogue = fit_knn(embeddings, *frames, top_n=TOP_N, candidates="catalogue")
    assert_train_lists_are_catalogue_lists_without_cold_tracks(default, catalogue)
    assert_copies_score_like_their_twins(catalogue)
    # The cluster centre is the best match of cluster 0's users: rank 1 when it may be ranked.
    firsts = catalogue[catalogue["rank"] == 1]
    cluster_0_users = [f"u{user:03d}" for user in range(0, 48, 4)]
    assert (firsts.set_index("user_id").loc[cluster_0_users, "track_idx"] == 67).mean() >= 0.5


def test_shallow_net_ranks_only_train_tracks_by_default(data, tmp_path):
    embeddings, *frames = data
    options = {**FAST_SHALLOW, "max_epochs": 1}
    default = fit_shallow(embeddings, *frames, options, "embedding", TOP_N, seed=1, state_dir=tmp_path, progress=False)
    # The same finished training (the candidate set is not part of what is trained), other candidates.
    catalogue = fit_shallow(
        embeddings,
        *frames,
        options,
        "embedding",
        TOP_N,
        seed=1,
        state_dir=tmp_path,
        candidates="catalogue",
        progress=False,
    )
    assert catalogue.training.trained_epochs == 0
    assert_train_lists_are_catalogue_lists_without_cold_tracks(default.recommendations, catalogue.recommendations)
    assert_copies_score_like_their_twins(catalogue.recommendations)


def test_shallow_net_interaction_variant_ranks_only_train_tracks_by_default(data):
    embeddings, *frames = data
    options = {**FAST_SHALLOW, "max_epochs": 1}
    fit = fit_shallow(embeddings, *frames, options, "interaction", TOP_N, seed=1, progress=False)
    assert not fit.recommendations["track_idx"].isin(COLD).any()
    assert (fit.recommendations.groupby("user_id").size() == 64 - 10).all()  # every unheard train track


def test_bert4rec_ranks_only_train_tracks_by_default(data, tmp_path):
    embeddings, *frames = data
    options = {**FAST_BERT, "max_epochs": 1}
    default = fit_bert4rec(embeddings, *frames, options, TOP_N, seed=1, state_dir=tmp_path, progress=False)
    catalogue = fit_bert4rec(
        embeddings, *frames, options, TOP_N, seed=1, state_dir=tmp_path, candidates="catalogue", progress=False
    )
    assert catalogue.training.trained_epochs == 0
    assert_train_lists_are_catalogue_lists_without_cold_tracks(default.recommendations, catalogue.recommendations)
    assert_copies_score_like_their_twins(catalogue.recommendations)
