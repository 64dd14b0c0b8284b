import numpy as np
import pandas as pd
import pytest

from musicrec.recommenders.knn import l2_normalise, mean_item_profiles, interaction_matrix, recommend_knn


def _train(rows):
    return pd.DataFrame(rows, columns=["user_id", "track_idx"])


def test_profile_is_mean_of_usable_items_only():
    items = np.array([[1.0, 0.0], [0.0, 1.0], [np.nan, np.nan], [3.0, 3.0]], dtype=np.float32)
    seen = interaction_matrix(np.array([0, 0, 0, 1]), np.array([0, 1, 2, 3]), 2, 4)
    usable = np.isfinite(items).all(axis=1)
    profiles = mean_item_profiles(seen, items, usable)
    np.testing.assert_allclose(profiles, [[0.5, 0.5], [3.0, 3.0]])


def test_l2_normalise_keeps_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_recommends_nearest_unseen_items_by_cosine():
    # Two clusters of items; a user who played cluster A gets the rest of A first.
    items = np.array(
        [[1, 0.0], [1, 0.1], [1, -0.1], [0, 1.0], [0.1, 1], [-0.1, 1]], dtype=np.float32
    )
    train = _train([("u1", 0), ("u2", 3)])
    recs = recommend_knn(items, train, np.array(["u2", "u1"]), top_n=4)
    assert list(recs.columns) == ["user_id", "rank", "track_idx", "score"]
    u1 = recs[recs.user_id == "u1"]
    assert list(u1["rank"]) == [1, 2, 3, 4]
    assert set(u1["track_idx"].iloc[:2]) == {1, 2}
    assert 0 not in set(u1["track_idx"])  # seen item removed
    assert u1["score"].is_monotonic_decreasing
    u2 = recs[recs.user_id == "u2"]
    assert set(u2["track_idx"].iloc[:2]) == {4, 5} and 3 not in set(u2["track_idx"])


def test_excluded_tracks_are_never_recommended_and_every_user_gets_n():
    rng = np.random.default_rng(0)
    items = rng.standard_normal((50, 8)).astype(np.float32)
    items[[3, 7]] = np.nan
    train = _train([(f"u{u}", i) for u in range(20) for i in rng.choice(50, 5, replace=False)])
    recs = recommend_knn(items, train, np.array([f"u{u}" for u in range(20)]), top_n=30)
    assert not recs["track_idx"].isin([3, 7]).any()
    assert (recs.groupby("user_id").size() == 30).all()
    merged = recs.merge(train, on=["user_id", "track_idx"])
    assert merged.empty


def test_user_without_train_plays_is_an_error():
    items = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="no train plays"):
        recommend_knn(items, _train([("u1", 0)]), np.array(["u1", "ghost"]), top_n=2)
