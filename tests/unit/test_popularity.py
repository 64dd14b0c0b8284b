"""Popularity baseline: most-played train tracks first, seen ones removed, deterministic ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicrec.recommenders.inputs import InputError
from musicrec.recommenders.options import PopularityOptions
from musicrec.recommenders.popularity import fit_popularity, popularity_scores


def split(rows: list[tuple]) -> pd.DataFrame:
    """A split frame (data/{train,val,test}.parquet contract) from (user, track[, count]) rows."""
    users = [row[0] for row in rows]
    tracks = np.array([row[1] for row in rows], dtype=np.int64)
    counts = np.array([row[2] if len(row) > 2 else 1 for row in rows], dtype=np.int64)
    return pd.DataFrame(
        {
            "user_id": users,
            "track_id": [f"t{t}" for t in tracks],
            "track_idx": tracks,
            "timestamp": pd.Timestamp("2019-03-01") + pd.to_timedelta(np.arange(len(rows)), unit="h"),
            "count": counts,
        }
    )


# Track 1 has the most listeners (a, b, c: one play each); track 2 the most plays (d: 10);
# track 3 two listeners (a, d), track 0 one (e); tracks 4 and 5 were never played in train.
N_ITEMS = 6
TRAIN = split([("a", 1), ("b", 1), ("c", 1), ("d", 2, 10), ("a", 3), ("d", 3), ("e", 0)])
VAL = split([("a", 0), ("b", 2)])
TEST = split([("c", 3), ("e", 1)])


def lists(recs: pd.DataFrame) -> dict:
    return {user: group.sort_values("rank")["track_idx"].tolist() for user, group in recs.groupby("user_id")}


def test_scores_count_listeners_or_plays():
    items = np.array([1, 1, 2, 0])
    counts = np.array([1.0, 3.0, 10.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(popularity_scores(items, counts, 4, "listeners"), [1, 2, 1, 0])
    np.testing.assert_array_equal(popularity_scores(items, counts, 4, "plays"), [2, 4, 10, 0])


def test_ordered_by_listeners_seen_removed():
    recs = fit_popularity(N_ITEMS, TRAIN, VAL, TEST, top_n=10)
    assert list(recs.columns) == ["user_id", "rank", "track_idx", "score"]
    # Listeners: 1 (3) > 3 (2) > 0 = 2 (1 each; the lower index first); 4, 5 are no candidates.
    assert lists(recs) == {"a": [0, 2], "b": [3, 0, 2], "c": [3, 0, 2], "e": [1, 3, 2]}
    scores = recs.set_index(["user_id", "track_idx"])["score"]
    assert scores[("b", 3)] == 2 and scores[("e", 1)] == 3 and scores[("e", 2)] == 1  # the popularity itself
    assert set(recs["user_id"]) == {"a", "b", "c", "e"}  # val ∪ test users only (d is in neither)


def test_ordered_by_plays():
    recs = fit_popularity(N_ITEMS, TRAIN, VAL, TEST, top_n=10, options=PopularityOptions(by="plays"))
    # Plays: 2 (10) > 1 (3) > 3 (2) > 0 (1).
    assert lists(recs) == {"a": [2, 0], "b": [2, 3, 0], "c": [2, 3, 0], "e": [2, 1, 3]}
    assert recs.set_index(["user_id", "track_idx"]).at[("a", 2), "score"] == 10


def test_top_n_cuts_each_list():
    recs = fit_popularity(N_ITEMS, TRAIN, VAL, TEST, top_n=1)
    assert lists(recs) == {"a": [0], "b": [3], "c": [3], "e": [1]}


def test_ties_are_broken_by_track_index_whatever_the_input_order():
    # Twelve tracks with one listener each: every list is in track order, for any row order or seed.
    train = split([(f"u{track}", track) for track in range(12)])
    val, test = split([("u0", 5)]), split([("u7", 1)])
    expected = {"u0": list(range(1, 12)), "u7": [t for t in range(12) if t != 7]}
    assert lists(fit_popularity(12, train, val, test, top_n=20)) == expected
    shuffled = train.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = fit_popularity(12, shuffled, val, test, top_n=20, seed=123)
    assert lists(again) == expected


def test_only_train_tracks_are_candidates_by_default_but_the_catalogue_may_be_asked_for():
    recs = fit_popularity(N_ITEMS, TRAIN, VAL, TEST, top_n=10)
    assert not recs["track_idx"].isin([4, 5]).any()
    catalogue = fit_popularity(N_ITEMS, TRAIN, VAL, TEST, top_n=10, candidates="catalogue")
    # Never-played tracks come last (popularity 0), lower index first.
    assert lists(catalogue)["a"] == [0, 2, 4, 5]
    assert catalogue.set_index(["user_id", "track_idx"]).at[("a", 4), "score"] == 0


def test_excluded_tracks_are_never_recommended():
    recs = fit_popularity(N_ITEMS, TRAIN, VAL, TEST, top_n=10, excluded_rows=np.array([3]))
    assert lists(recs) == {"a": [0, 2], "b": [0, 2], "c": [0, 2], "e": [1, 2]}


def test_bad_input_is_named():
    with pytest.raises(InputError, match="evaluation.candidates = 'everything'"):
        fit_popularity(N_ITEMS, TRAIN, VAL, TEST, top_n=10, candidates="everything")
    with pytest.raises(InputError, match=r"data/test.parquet: user\(s\) ghost have no usable train items"):
        fit_popularity(N_ITEMS, TRAIN, VAL, split([("ghost", 1)]), top_n=10)
    with pytest.raises(InputError, match=r"data/train.parquet: track_idx out of range 0..2"):
        fit_popularity(3, TRAIN, VAL, TEST, top_n=10)
