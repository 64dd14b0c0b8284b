import dataclasses

import numpy as np
import pandas as pd
import pytest

from musicrec.recommenders.inputs import InputError, check_embeddings, prepare_interactions
from musicrec.users.real_listeners import (
    ScoreMapping,
    UsersOptions,
    count_quantile_scores,
    fit_estimator,
    listener_feedback,
)
from users_world import ALIGNER, ESTIMATOR, SIMULATION, embedding, single_thread  # noqa: F401 (fixture)

OPTIONS = {
    "simulation": dataclasses.asdict(SIMULATION),
    "aligner": dataclasses.asdict(ALIGNER) | {"max_epochs": 3, "fold_in_steps": 20},
    "estimator": dataclasses.asdict(ESTIMATOR) | {"max_epochs": 2},
    "coldstart": {"n_songs": [0, 4, 16], "lambda_grid": [0.1, 1.0]},
    "real": {"scores": {"levels": [3, 4, 5], "negatives_per_play": 1.0}},
}
FAILED = np.array([5, 17])
TOP_N = 10


def _split(n_users=24, n_tracks=160, seed=0):
    rng = np.random.default_rng(seed)
    parts = {"train": [], "val": [], "test": []}
    for user in range(n_users):
        tracks = rng.choice(n_tracks, size=14, replace=False)
        for position, track in enumerate(tracks):
            part = "train" if position < 10 else ("val" if position < 12 else "test")
            parts[part].append({"user_id": f"u{user:02d}", "track_id": f"t{track}", "track_idx": int(track),
                                "timestamp": pd.Timestamp("2019-01-01") + pd.Timedelta(days=position),
                                "count": int(rng.integers(1, 20))})
    return [pd.DataFrame(parts[name]) for name in ("train", "val", "test")]


def test_fit_estimator_writes_the_recommendations_contract():
    matrix = embedding().copy()
    matrix[FAILED] = np.nan
    train, val, test = _split()
    train = pd.concat([train, pd.DataFrame([{**train.iloc[0].to_dict(), "track_idx": 5, "track_id": "t5"}])],
                      ignore_index=True)  # a play of a failed track: excluded, as for the other recommenders
    recs = fit_estimator(matrix, train, val, test, OPTIONS, seed=3, top_n=TOP_N, excluded_rows=FAILED)
    assert list(recs.columns) == ["user_id", "rank", "track_idx", "score"]
    users = sorted(set(val["user_id"]) | set(test["user_id"]))
    assert sorted(recs["user_id"].unique()) == users
    assert recs.groupby("user_id")["rank"].apply(list).map(lambda r: r == list(range(1, TOP_N + 1))).all()
    assert not recs["track_idx"].isin(FAILED).any()
    seen = set(zip(train["user_id"], train["track_idx"]))
    assert not any(pair in seen for pair in zip(recs["user_id"], recs["track_idx"]))
    assert recs.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert recs.attrs["n_prior_only"] == 0
    again = fit_estimator(matrix, train, val, test, OPTIONS, seed=3, top_n=TOP_N, excluded_rows=FAILED)
    pd.testing.assert_frame_equal(recs, again)


def test_unlisted_nan_rows_are_an_error_as_for_knn():
    matrix = embedding().copy()
    matrix[FAILED] = np.nan
    with pytest.raises(InputError, match="not listed as failures"):
        fit_estimator(matrix, *_split(), OPTIONS, seed=3, top_n=TOP_N)


def test_plays_become_scores_by_the_users_own_count_quantiles():
    users = np.array([0, 0, 0, 0, 0, 0, 1])
    counts = np.array([1, 2, 3, 4, 5, 6, 9])
    np.testing.assert_array_equal(count_quantile_scores(users, counts, [3, 4, 5]), [3, 3, 4, 4, 5, 5, 5])
    np.testing.assert_array_equal(count_quantile_scores(users[:6], np.full(6, 2), [3, 4, 5]), np.full(6, 4))


def test_listener_feedback_pads_plays_then_negatives():
    train, val, test = _split()
    _, usable = check_embeddings(embedding(), FAILED)
    interactions = prepare_interactions(train, val, test, usable)
    mapping = ScoreMapping(levels=[3, 4, 5], negatives_per_play=0.5, max_history=6)
    songs, scores, weights = listener_feedback(interactions, np.array([0, 3]), mapping, seed=0)
    seen = interactions.seen()
    for row, user in enumerate([0, 3]):
        plays = songs[row][scores[row] >= 3]
        assert len(plays) == 6 and all(seen[user, item] for item in plays)  # the 6 most recent plays
        negatives = songs[row][(songs[row] >= 0) & (scores[row] == 0)]
        assert len(negatives) <= 3 and not any(seen[user, item] for item in negatives)
        assert not np.isin(negatives, [5, 17]).any()
    revealed, _, _ = listener_feedback(interactions, np.array([0, 3]), mapping, seed=0, reveal=2)
    assert ((revealed >= 0).sum(axis=1) <= 3).all()


def test_bad_score_mappings_name_their_key():
    with pytest.raises(InputError, match="users.real.scores.levels"):
        ScoreMapping(levels=[5, 3])
    with pytest.raises(InputError, match="users.real.scores.levels"):
        ScoreMapping(levels=[3, 6])
    with pytest.raises(Exception, match="users.aligner"):
        UsersOptions.from_mapping({"aligner": {"dimm": 3}})
