"""Student-t intervals over users, including the degenerate cases."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from musicrec.evaluation.intervals import SUMMARY_COLUMNS, summarise


def per_user_frame(values: dict[str, list[float]]) -> pd.DataFrame:
    n_users = len(next(iter(values.values())))
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)], **values})


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_matches_scipy_t_interval(confidence):
    rng = np.random.default_rng(0)
    hits = rng.integers(0, 2, 57).astype(float)
    ndcg = rng.random(57) * hits
    summary = summarise(per_user_frame({"hitrate@50": hits, "ndcg@50": ndcg}), confidence)

    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary["metric"].tolist() == ["hitrate@50", "ndcg@50"]
    assert (summary["n_users"] == 57).all()
    for row, values in zip(summary.itertuples(), (hits, ndcg)):
        lower, upper = stats.t.interval(confidence, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert row.mean == pytest.approx(values.mean(), rel=1e-12)
        assert row.lower == pytest.approx(lower, rel=1e-12)
        assert row.upper == pytest.approx(upper, rel=1e-12)


def test_wider_confidence_gives_wider_interval():
    frame = per_user_frame({"recall@10": [0.1, 0.5, 0.2, 0.0, 0.9]})
    narrow = summarise(frame, 0.8).iloc[0]
    wide = summarise(frame, 0.99).iloc[0]
    assert wide["lower"] < narrow["lower"] < narrow["mean"] < narrow["upper"] < wide["upper"]


def test_constant_metric_gives_a_point_interval_without_warnings():
    frame = per_user_frame({"hitrate@50": [0.0] * 6, "mrr@50": [0.1] * 6})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarise(frame, 0.95)
    assert (summary["lower"] == summary["mean"]).all()
    assert (summary["upper"] == summary["mean"]).all()
    assert summary["mean"].tolist() == pytest.approx([0.0, 0.1])


def test_single_user_has_a_mean_but_no_interval():
    summary = summarise(per_user_frame({"ndcg@50": [0.3]}), 0.95)
    assert summary.loc[0, "mean"] == 0.3
    assert np.isnan(summary.loc[0, "lower"]) and np.isnan(summary.loc[0, "upper"])
    assert summary.loc[0, "n_users"] == 1


@pytest.mark.parametrize(
    ("frame", "confidence", "message"),
    [
        (per_user_frame({"ndcg@50": [0.3, 0.2]}), 1.0, "strictly between 0 and 1"),
        (per_user_frame({"ndcg@50": [0.3, 0.2]}), 0.0, "strictly between 0 and 1"),
        (pd.DataFrame({"user_id": ["a"]}), 0.95, "no metric column"),
        (per_user_frame({"ndcg@50": []}), 0.95, "no rows"),
        (per_user_frame({"ndcg@50": [0.3, np.nan]}), 0.95, "'ndcg@50' is missing for user 'u1'"),
        (per_user_frame({"ndcg@50": ["high", "low"]}), 0.95, "not numeric"),
    ],
)
def test_bad_input_is_rejected_clearly(frame, confidence, message):
    with pytest.raises(ValueError, match=message):
        summarise(frame, confidence)
