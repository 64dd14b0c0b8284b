"""Mean and Student-t confidence interval of each per-user metric."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

SUMMARY_COLUMNS = ("metric", "mean", "lower", "upper", "n_users")


def summarise(per_user: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Average each metric over users, with a two-sided Student-t interval for the mean.

    Args:
        per_user: one row per user: a ``user_id`` column and one numeric
            column per metric (as :func:`musicrec.evaluation.metrics.evaluate`
            returns), at least one row, no missing values.
        confidence: the interval's coverage, strictly between 0 and 1 (0.95).

    Returns:
        One row per metric column, in column order, with columns ``metric``,
        ``mean``, ``lower``, ``upper`` (float64) and ``n_users`` (int):
        ``mean -/+ t_{(1 + confidence) / 2, n - 1} * s / sqrt(n)`` with ``s``
        the sample standard deviation (ddof = 1).

        The edge cases are decided here rather than left to scipy:

        - all users equal (zero variance, e.g. nobody hit): the interval is
          the point ``[mean, mean]``; scipy's ``t.interval`` would give NaN.
        - one user: the sample standard deviation, hence the interval, does
          not exist; ``lower`` and ``upper`` are NaN on purpose, so that no
          table or plot shows a made-up certainty.

    Raises:
        ValueError: on no metric column, no rows, a non-numeric metric
            column, a missing value (naming the user), or a confidence
            outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    metrics = [column for column in per_user.columns if column != "user_id"]
    if not metrics:
        raise ValueError(f"per-user metrics have no metric column, only {list(per_user.columns)}")
    n_users = len(per_user)
    if n_users == 0:
        raise ValueError(f"per-user metrics have no rows; cannot summarise {metrics}")
    for column in metrics:
        if not pd.api.types.is_numeric_dtype(per_user[column]):
            raise ValueError(f"metric column {column!r} is not numeric (dtype {per_user[column].dtype})")
    values = per_user[metrics].to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():
        row, column = np.argwhere(missing)[0]
        user = per_user["user_id"].iloc[row] if "user_id" in per_user.columns else f"row {row}"
        raise ValueError(f"metric {metrics[column]!r} is missing for user {user!r}")

    mean = values.mean(axis=0)
    if n_users == 1:
        half_width = np.full(len(metrics), np.nan)
    else:
        standard_error = values.std(axis=0, ddof=1) / np.sqrt(n_users)
        half_width = stats.t.ppf((1.0 + confidence) / 2.0, df=n_users - 1) * standard_error
        # Rounding in the mean can leave a constant column a standard
        # deviation of a few ulps; its interval is exactly the point.
        half_width[np.ptp(values, axis=0) == 0] = 0.0
    return pd.DataFrame(
        {
            "metric": metrics,
            "mean": mean,
            "lower": mean - half_width,
            "upper": mean + half_width,
            "n_users": n_users,
        },
        columns=list(SUMMARY_COLUMNS),
    )
