import numpy as np
import pandas as pd
import pytest

from musicrec.evaluation.metrics import evaluate, metric_columns
from musicrec.recommenders.inputs import InputError, prepare_interactions
from musicrec.recommenders.knn import fit_knn, l2_normalise, mean_item_vectors


def _split(rows):
    """A split frame (the data/{train,val,test}.parquet contract) from (user, track) pairs."""
    return pd.DataFrame(
        {
            "user_id": [user for user, _ in rows],
            "track_id": [f"t{track}" for _, track in rows],
            "track_idx": np.array([track for _, track in rows], dtype=np.int64),
            "timestamp": pd.Timestamp("2019-03-01") + pd.to_timedelta(np.arange(len(rows)), unit="h"),
            "count": np.ones(len(rows), dtype=np.int64),
        }
    )


def test_profile_is_mean_of_usable_items_only():
    items = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [3.0, 3.0]], dtype=np.float32)
    usable = np.array([True, True, False, True])  # row 2: failed audio
    interactions = prepare_interactions(
        _split([("a", 0), ("a", 1), ("a", 2), ("b", 3)]), _split([("a", 3)]), _split([("b", 0)]), usable
    )
    np.testing.assert_allclose(mean_item_vectors(interactions, items), [[0.5, 0.5], [3.0, 3.0]])


def test_l2_normalise_keeps_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_recommends_nearest_unseen_items_by_cosine():
    # Two clusters of items; a user who played cluster A gets the rest of A first. Only
    # tracks 0 and 3 have train plays, so the whole catalogue is the candidate set here
    # (tests/unit/test_candidates.py covers the protocol's default, train tracks only).
    items = np.array([[1, 0.0], [1, 0.1], [1, -0.1], [0, 1.0], [0.1, 1], [-0.1, 1]], dtype=np.float32)
    recs = fit_knn(
        items,
        _split([("u1", 0), ("u2", 3)]),
        _split([("u1", 1)]),
        _split([("u2", 4)]),
        top_n=4,
        candidates="catalogue",
    )
    assert list(recs.columns) == ["user_id", "rank", "track_idx", "score"]
    u1 = recs[recs.user_id == "u1"]
    assert list(u1["rank"]) == [1, 2, 3, 4]
    assert set(u1["track_idx"].iloc[:2]) == {1, 2}
    assert 0 not in set(u1["track_idx"])  # seen item removed
    assert u1["score"].is_monotonic_decreasing
    np.testing.assert_allclose(u1["score"].iloc[0], l2_normalise(items[[0]]) @ l2_normalise(items[[1]]).T, rtol=1e-6)
    u2 = recs[recs.user_id == "u2"]
    assert set(u2["track_idx"].iloc[:2]) == {4, 5} and 3 not in set(u2["track_idx"])


def test_excluded_tracks_are_never_recommended_and_every_user_gets_n():
    rng = np.random.default_rng(0)
    items = rng.standard_normal((50, 8)).astype(np.float32)
    items[[3, 7]] = np.nan  # failed audio, listed in the sidecar
    train = _split([(f"u{u}", int(i)) for u in range(20) for i in rng.choice(50, 5, replace=False)])
    val = _split([(f"u{u}", 0) for u in range(10)])
    test = _split([(f"u{u}", 1) for u in range(10, 20)])
    recs = fit_knn(items, train, val, test, top_n=30, excluded_rows=np.array([3, 7]))
    assert not recs["track_idx"].isin([3, 7]).any()
    assert (recs.groupby("user_id").size() == 30).all()
    assert set(recs["user_id"]) == {f"u{u}" for u in range(20)}
    assert recs.merge(train[["user_id", "track_idx"]], on=["user_id", "track_idx"]).empty


def test_nan_rows_not_listed_as_failures_are_an_error():
    items = np.eye(3, dtype=np.float32)
    items[2] = np.nan
    with pytest.raises(InputError, match="not listed as failures"):
        fit_knn(items, _split([("u1", 0)]), _split([("u1", 1)]), _split([("u1", 1)]), top_n=2)


def test_user_without_train_plays_is_an_error():
    items = np.eye(3, dtype=np.float32)
    with pytest.raises(InputError, match="no usable train items"):
        fit_knn(items, _split([("u1", 0)]), _split([("u1", 1)]), _split([("ghost", 2)]), top_n=2)


def test_integer_user_ids_stay_integers_and_evaluate_against_integer_truth():
    # Issue 9 point 13: ids used to come back as strings, which evaluate() could not match
    # against integer-id truth.
    rng = np.random.default_rng(3)
    items = rng.standard_normal((12, 4)).astype(np.float32)
    histories = {7: range(0, 6), 11: range(6, 12), 40: range(0, 12, 2)}  # every track has a train play
    train = _split([(user, track) for user, tracks in histories.items() for track in tracks])
    val = _split([(7, 6)])
    test = _split([(11, 0), (40, 1)])
    assert train["user_id"].dtype.kind == "i"
    recs = fit_knn(items, train, val, test, top_n=5)
    assert recs["user_id"].dtype.kind == "i"
    assert sorted(recs["user_id"].unique().tolist()) == [7, 11, 40]
    scored = evaluate(recs, test[["user_id", "track_idx"]], k=5)
    assert scored["user_id"].tolist() == [11, 40]
    assert list(scored.columns) == ["user_id", *metric_columns(5)]
    # The metrics are those of the lists actually returned, user for user.
    for user, track in zip(test["user_id"], test["track_idx"]):
        top = recs.loc[recs["user_id"] == user].sort_values("rank")["track_idx"].tolist()
        expected_hit = float(track in top)
        assert scored.set_index("user_id").at[user, "hitrate@5"] == expected_hit
