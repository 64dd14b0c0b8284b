"""Intervals over users: Wilson, bootstrap (BCa, percentile) and Student-t, including the degenerate cases."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from musicrec.evaluation.intervals import INTERVAL_METHODS, SUMMARY_COLUMNS, summarise, wilson_interval


def per_user_frame(values: dict[str, list[float]]) -> pd.DataFrame:
    n_users = len(next(iter(values.values())))
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)], **values})


def skewed_metrics(n_users: int, seed: int = 0) -> pd.DataFrame:
    """Hits about 30 % of the time and an MRR-like value piled up at 0, as real per-user metrics are."""
    rng = np.random.default_rng(seed)
    hits = (rng.random(n_users) < 0.3).astype(float)
    return per_user_frame({"hitrate@10": hits, "mrr@10": hits * rng.random(n_users) ** 3})


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_student_t_matches_scipy_t_interval(confidence):
    rng = np.random.default_rng(0)
    hits = rng.integers(0, 2, 57).astype(float)
    ndcg = rng.random(57) * hits
    summary = summarise(per_user_frame({"hitrate@50": hits, "ndcg@50": ndcg}), confidence, method="student-t")

    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary["metric"].tolist() == ["hitrate@50", "ndcg@50"]
    assert (summary["n_users"] == 57).all()
    assert (summary["method"] == "student-t").all()
    for row, values in zip(summary.itertuples(), (hits, ndcg)):
        lower, upper = stats.t.interval(confidence, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert row.mean == pytest.approx(values.mean(), rel=1e-12)
        assert row.lower == pytest.approx(lower, rel=1e-12)
        assert row.upper == pytest.approx(upper, rel=1e-12)


def test_student_t_is_clipped_to_the_metric_range():
    # 9 hits of 10: the t-interval's upper end would be about 1.126.
    summary = summarise(per_user_frame({"hitrate@10": [1.0] * 9 + [0.0]}), 0.95, method="student-t").iloc[0]
    unclipped = stats.t.interval(0.95, 9, loc=0.9, scale=stats.sem([1.0] * 9 + [0.0]))
    assert unclipped[1] > 1.0
    assert summary["upper"] == 1.0
    assert summary["lower"] == pytest.approx(unclipped[0], rel=1e-12)


def test_auto_uses_wilson_for_hitrate_and_bca_for_the_rest():
    summary = summarise(skewed_metrics(200), 0.95)
    assert summary.set_index("metric")["method"].to_dict() == {"hitrate@10": "wilson", "mrr@10": "bca"}


def test_wilson_equals_the_hand_computed_interval():
    # 12 hits among 40 users, 95 %: p = 0.3, z = 1.959964, z^2 / n = 0.0960366.
    frame = per_user_frame({"hitrate@10": [1.0] * 12 + [0.0] * 28})
    row = summarise(frame, 0.95).iloc[0]
    z = stats.norm.ppf(0.975)
    centre = (0.3 + z * z / 80) / (1 + z * z / 40)
    half = z / (1 + z * z / 40) * math.sqrt(0.3 * 0.7 / 40 + z * z / 6400)
    assert row["method"] == "wilson"
    assert row["mean"] == 0.3
    assert row["lower"] == pytest.approx(centre - half, rel=1e-12)
    assert row["upper"] == pytest.approx(centre + half, rel=1e-12)
    # By hand: centre 0.3480182 / 1.0960366 = 0.317524, half-width 1.959964 * sqrt(0.00525 + 0.000600228)
    # / 1.0960366 = 0.136777.
    assert (round(row["lower"], 4), round(row["upper"], 4)) == (0.1807, 0.4543)


def test_wilson_of_no_hits_is_not_a_point():
    # Nobody hit: the proportion could still be up to z^2 / (n + z^2).
    lower, upper = wilson_interval(np.array([0, 20]), 20, 0.95)
    z2 = stats.norm.ppf(0.975) ** 2
    assert lower[0] == 0.0 and upper[0] == pytest.approx(z2 / (20 + z2), rel=1e-12)
    assert upper[1] == 1.0 and lower[1] == pytest.approx(20 / (20 + z2), rel=1e-12)


def test_wilson_rejects_a_non_binary_column():
    with pytest.raises(ValueError, match=r"'hitrate@10'.*needs per-user values 0 or 1.*user 'u1' has 0.5"):
        summarise(per_user_frame({"hitrate@10": [1.0, 0.5, 0.0]}), 0.95)


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_bootstrap_agrees_with_scipy_bootstrap(method):
    frame = skewed_metrics(300)
    mrr = frame["mrr@10"].to_numpy()
    ours = summarise(frame[["user_id", "mrr@10"]], 0.95, method=method, n_boot=20_000).iloc[0]
    reference = stats.bootstrap(
        (mrr,),
        np.mean,
        confidence_level=0.95,
        method="BCa" if method == "bca" else "percentile",
        n_resamples=20_000,
        random_state=0,
    ).confidence_interval
    width = reference.high - reference.low
    # Two Monte-Carlo estimates of the same bounds: they agree to a few % of the width.
    assert ours["lower"] == pytest.approx(reference.low, abs=0.05 * width)
    assert ours["upper"] == pytest.approx(reference.high, abs=0.05 * width)


def test_bca_corrects_for_skew():
    # A metric piled up at 0 has a long right tail: BCa moves the interval right of the percentile one.
    frame = skewed_metrics(150, seed=3)[["user_id", "mrr@10"]]
    bca = summarise(frame, 0.95, method="bca").iloc[0]
    percentile = summarise(frame, 0.95, method="percentile").iloc[0]
    assert bca["upper"] > percentile["upper"] and bca["lower"] > percentile["lower"]


def test_bootstrap_is_deterministic_contains_the_mean_and_stays_in_range():
    # Small sets near the bounds are where Student-t leaves [0, 1].
    frame = per_user_frame({"ndcg@10": [0.0] * 7 + [0.9], "recall@10": [1.0] * 7 + [0.2]})
    first = summarise(frame, 0.99, seed=5)
    pd.testing.assert_frame_equal(first, summarise(frame, 0.99, seed=5))
    assert not first.equals(summarise(frame, 0.99, seed=6))
    assert (first["lower"] <= first["mean"]).all() and (first["mean"] <= first["upper"]).all()
    assert (first["lower"] >= 0.0).all() and (first["upper"] <= 1.0).all()
    assert (first["lower"] < first["upper"]).all()
    t = summarise(frame, 0.99, method="student-t")
    assert t.loc[0, "lower"] == 0.0 and t.loc[1, "upper"] == 1.0  # clipped, where bootstrap needs no clipping


@pytest.mark.parametrize("method", ["auto", "bca", "percentile", "student-t"])
def test_wider_confidence_gives_wider_interval(method):
    frame = per_user_frame({"recall@10": [0.1, 0.5, 0.2, 0.0, 0.9, 0.4, 0.3, 0.6]})
    narrow = summarise(frame, 0.8, method=method).iloc[0]
    wide = summarise(frame, 0.99, method=method).iloc[0]
    assert wide["lower"] < narrow["lower"] < narrow["mean"] < narrow["upper"] < wide["upper"]


@pytest.mark.parametrize("method", ["bca", "percentile", "student-t"])
def test_constant_metric_gives_a_point_interval_without_warnings(method):
    frame = per_user_frame({"ndcg@50": [0.0] * 6, "mrr@50": [0.1] * 6})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarise(frame, 0.95, method=method)
    assert (summary["lower"] == summary["mean"]).all()
    assert (summary["upper"] == summary["mean"]).all()
    assert summary["mean"].tolist() == pytest.approx([0.0, 0.1])


@pytest.mark.parametrize("method", INTERVAL_METHODS)
def test_single_user_has_a_mean_but_no_interval(method):
    summary = summarise(
        per_user_frame({"hitrate@50": [1.0], "ndcg@50": [0.3]}), 0.95, method=method if method != "wilson" else "auto"
    )
    assert summary["mean"].tolist() == [1.0, 0.3]
    assert summary[["lower", "upper"]].isna().all().all()
    assert (summary["n_users"] == 1).all()


@pytest.mark.parametrize(
    ("frame", "confidence", "options", "message"),
    [
        (per_user_frame({"ndcg@50": [0.3, 0.2]}), 1.0, {}, "strictly between 0 and 1"),
        (per_user_frame({"ndcg@50": [0.3, 0.2]}), 0.0, {}, "strictly between 0 and 1"),
        (pd.DataFrame({"user_id": ["a"]}), 0.95, {}, "no metric column"),
        (per_user_frame({"ndcg@50": []}), 0.95, {}, "no rows"),
        (per_user_frame({"ndcg@50": [0.3, np.nan]}), 0.95, {}, "'ndcg@50' is missing for user 'u1'"),
        (per_user_frame({"ndcg@50": ["high", "low"]}), 0.95, {}, "not numeric"),
        (per_user_frame({"ndcg@50": [0.3, 1.2]}), 0.95, {}, r"'ndcg@50' of user 'u1' is 1.2, outside the metric range"),
        (per_user_frame({"ndcg@50": [0.3, 0.2]}), 0.95, {"method": "wald"}, "unknown interval method 'wald'"),
        (per_user_frame({"ndcg@50": [0.3, 0.2]}), 0.95, {"method": "wilson"}, "needs per-user values 0 or 1"),
        (per_user_frame({"ndcg@50": [0.3, 0.2]}), 0.95, {"n_boot": 10}, "n_boot must be an integer >= 100"),
    ],
)
def test_bad_input_is_rejected_clearly(frame, confidence, options, message):
    with pytest.raises(ValueError, match=message):
        summarise(frame, confidence, **options)
