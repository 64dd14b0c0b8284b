"""Per-user metrics: equal to rs_metrics 0.6.0 user for user, and strict about bad input."""

import math

import numpy as np
import pandas as pd
import pytest
import rs_metrics

from musicrec.evaluation.metrics import METRIC_NAMES, evaluate, metric_columns


def random_run(seed: int, n_users: int = 400, top_n: int = 30, n_items: int = 200):
    """Recommendations (top_n distinct items per user, rows shuffled) and ground truth.

    Users get 1..25 relevant items, so some have more than k; a fifth of the
    users' relevant items avoid their recommendations entirely (no hits).
    """
    rng = np.random.default_rng(seed)
    users = [f"user{i}" for i in rng.permutation(n_users)]  # "user10" sorts before "user2"
    recs, truth = [], []
    for user in users:
        items = rng.permutation(n_items)
        recommended = items[:top_n]
        n_relevant = int(rng.integers(1, 26))
        pool = items[top_n:] if rng.random() < 0.2 else items
        relevant = rng.choice(pool, size=n_relevant, replace=False)
        recs.append(pd.DataFrame({"user_id": user, "rank": np.arange(1, top_n + 1), "track_idx": recommended}))
        truth.append(pd.DataFrame({"user_id": user, "track_idx": relevant}))
    recs = pd.concat(recs, ignore_index=True).astype({"track_idx": np.int64})
    truth = pd.concat(truth, ignore_index=True).astype({"track_idx": np.int64})
    return recs.sample(frac=1.0, random_state=seed).reset_index(drop=True), truth


def reference(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> dict[str, np.ndarray]:
    """rs_metrics' per-user values; it reads positions from row order, so rows go in rank order."""
    in_rank_order = recs.sort_values(["user_id", "rank"])
    return {
        name: np.asarray(
            getattr(rs_metrics, name)(truth, in_rank_order, k=k, apply_mean=False, item_col="track_idx"),
            dtype=np.float64,
        )
        for name in METRIC_NAMES
    }


@pytest.mark.parametrize(("seed", "k"), [(0, 10), (1, 20), (2, 1), (3, 30)])
def test_equals_rs_metrics_per_user(seed, k):
    recs, truth = random_run(seed)
    ours = evaluate(recs, truth, k)
    expected = reference(recs, truth, k)

    assert list(ours.columns) == ["user_id", *metric_columns(k)]
    assert ours["user_id"].tolist() == sorted(truth["user_id"].unique())
    for name, column in zip(METRIC_NAMES, metric_columns(k)):
        np.testing.assert_allclose(ours[column].to_numpy(), expected[name], rtol=0, atol=1e-12, err_msg=column)
    # The random data must exercise both sides of every metric; at k = 30
    # (the whole list) no user has more relevant items than k.
    assert 0 < ours[f"hitrate@{k}"].mean() < 1
    assert (truth.groupby("user_id").size() > k).any() == (k < 25)


def test_hand_computed_user():
    # Relevant: 11, 13, 99 (never recommended). Hits at ranks 2 and 4 of k = 5.
    recs = pd.DataFrame({"user_id": "a", "rank": [1, 2, 3, 4, 5, 6], "track_idx": [10, 11, 12, 13, 14, 99]})
    truth = pd.DataFrame({"user_id": "a", "track_idx": [11, 13, 99]})
    row = evaluate(recs, truth, k=5).iloc[0]
    assert row["hitrate@5"] == 1.0
    assert row["mrr@5"] == 0.5
    assert row["precision@5"] == pytest.approx(2 / 5)
    assert row["recall@5"] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert row["ndcg@5"] == pytest.approx(dcg / ideal)


def test_row_order_does_not_matter_and_ranks_beyond_k_are_ignored():
    recs, truth = random_run(4, n_users=50)
    k = 10
    shuffled = evaluate(recs.sample(frac=1.0, random_state=9), truth, k)
    top_only = evaluate(recs[recs["rank"] <= k], truth, k)
    pd.testing.assert_frame_equal(shuffled, top_only)


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_user_without_recommendations_scores_zero_not_nan():
    recs, truth = random_run(5, n_users=30, top_n=12)
    silent = sorted(truth["user_id"].unique())[3]
    without = recs[recs["user_id"] != silent]
    with pytest.warns(UserWarning, match=f"1 of 30 .*{silent}"):
        ours = evaluate(without, truth, k=10)

    assert len(ours) == 30
    row = ours.set_index("user_id").loc[silent]
    assert (row == 0.0).all()
    expected = reference(without, truth, 10)
    # rs_metrics divides precision by the number of recommendations: NaN here.
    assert np.isnan(expected["precision"][3])
    others = (ours["user_id"] != silent).to_numpy()
    np.testing.assert_array_equal(ours["precision@10"].to_numpy()[others], expected["precision"][others])


def test_users_only_in_recommendations_are_ignored():
    recs, truth = random_run(6, n_users=20)
    extra = pd.DataFrame({"user_id": "stranger", "rank": np.arange(1, 31), "track_idx": np.arange(30)})
    ours = evaluate(pd.concat([recs, extra], ignore_index=True), truth, k=10)
    pd.testing.assert_frame_equal(ours, evaluate(recs, truth, k=10))


def test_short_list_divides_precision_by_k():
    recs = pd.DataFrame({"user_id": "a", "rank": [1, 2], "track_idx": [5, 6]})
    truth = pd.DataFrame({"user_id": "a", "track_idx": [6]})
    with pytest.warns(UserWarning, match="fewer than k=4"):
        row = evaluate(recs, truth, k=4).iloc[0]
    assert row["precision@4"] == 0.25
    assert row["mrr@4"] == 0.5


@pytest.mark.parametrize(
    ("recs", "truth", "k", "message"),
    [
        ({"user_id": ["a"], "rank": [1]}, {"user_id": ["a"], "track_idx": [1]}, 1, "lack column.*track_idx"),
        ({"user_id": ["a"], "rank": [1], "track_idx": [1]}, {"user_id": ["a"], "track_idx": [1]}, 0, "positive"),
        ({"user_id": ["a"], "rank": [0], "track_idx": [1]}, {"user_id": ["a"], "track_idx": [1]}, 1, "1-based"),
        (
            {"user_id": ["a", "a"], "rank": [1, 1], "track_idx": [1, 2]},
            {"user_id": ["a"], "track_idx": [1]},
            2,
            "user 'a' has rank 1 2 times",
        ),
        (
            {"user_id": ["a", "a"], "rank": [1, 3], "track_idx": [1, 2]},
            {"user_id": ["a"], "track_idx": [1]},
            3,
            "rank 3 but no rank 2",
        ),
        (
            {"user_id": ["a", "a"], "rank": [1, 2], "track_idx": [1, 2]},
            {"user_id": ["a", "a"], "track_idx": [2, 2]},
            2,
            "ground truth row 1 repeats.*track_idx 2",
        ),
        (
            {"user_id": ["a", "a"], "rank": [1, 2], "track_idx": [7, 7]},
            {"user_id": ["a"], "track_idx": [7]},
            2,
            "relevant track_idx 7 more than once",
        ),
        (
            {"user_id": ["a"], "rank": [1], "track_idx": [-1]},
            {"user_id": ["a"], "track_idx": [1]},
            1,
            "negative track_idx",
        ),
        (
            {"user_id": [1], "rank": [1], "track_idx": [1]},
            {"user_id": ["1"], "track_idx": [1]},
            1,
            "no user of the recommendations",
        ),
        (
            {"user_id": ["a"], "rank": [1.0], "track_idx": [1]},
            {"user_id": ["a"], "track_idx": [1]},
            1,
            "rank must hold integers",
        ),
    ],
)
def test_bad_input_is_rejected_clearly(recs, truth, k, message):
    with pytest.raises(ValueError, match=message):
        evaluate(pd.DataFrame(recs), pd.DataFrame(truth), k)


def test_duplicated_irrelevant_track_is_tolerated_like_rs_metrics():
    recs = pd.DataFrame({"user_id": "a", "rank": [1, 2, 3], "track_idx": [4, 4, 5]})
    truth = pd.DataFrame({"user_id": "a", "track_idx": [5]})
    ours = evaluate(recs, truth, k=3)
    expected = reference(recs, truth, 3)
    for name, column in zip(METRIC_NAMES, metric_columns(3)):
        assert ours[column].iloc[0] == expected[name][0]


@pytest.mark.parametrize("as_type", [object, "category"])
def test_user_id_dtype_does_not_change_values(as_type):
    recs, truth = random_run(7, n_users=40)
    expected = evaluate(recs, truth, k=10)
    ours = evaluate(recs.astype({"user_id": as_type}), truth.astype({"user_id": as_type}), k=10)
    assert ours["user_id"].astype(str).tolist() == expected["user_id"].tolist()
    pd.testing.assert_frame_equal(ours.drop(columns="user_id"), expected.drop(columns="user_id"))
