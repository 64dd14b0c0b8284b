"""Mean of each per-user metric over users, with a confidence interval that respects [0, 1].

Methods (``summarise(..., method=...)``):

- ``wilson``: the Wilson score interval of a proportion, for per-user binary
  metrics (``hitrate@k``: each user 0 or 1). Unlike the Student-t (Wald)
  interval it never leaves [0, 1] and keeps its coverage near 0 and 1, where
  HitRate on small sets often is.
- ``bca`` (bias-corrected and accelerated) and ``percentile``: bootstrap over
  users. The bootstrap means of values in [0, 1] lie in [0, 1], and so does
  every percentile of them; BCa corrects the percentile interval for the bias
  and skew of metrics such as MRR that pile up at 0.
- ``student-t``: ``mean -/+ t * s / sqrt(n)``, the classical interval, kept for
  comparison with earlier tables; clipped to the metric's range, which it
  would otherwise leave on small sets (HitRate intervals reaching 1.09).
- ``auto`` (default): ``wilson`` for the binary metrics (``BINARY_METRICS``),
  ``bca`` for the rest. The choice goes by the metric's name, not by its
  values, so that one metric gets one method for every embedding (an NDCG
  column that happens to be all 0 stays a bootstrap column).

Resampling is seeded (same input, ``n_boot`` and ``seed`` -> same interval)
and vectorised: each block of resamples is an ``(n_block, n_users)`` matrix of
counts (how often each user was drawn) multiplied into the ``(n_users,
n_metrics)`` values, so all metrics share the same resamples and no Python
loop runs per resample.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
from scipy import special, stats

SUMMARY_COLUMNS = ("metric", "mean", "lower", "upper", "n_users", "method")
INTERVAL_METHODS = ("auto", "wilson", "bca", "percentile", "student-t")
# Metric names (the part before "@k") whose per-user values are 0 or 1.
BINARY_METRICS = ("hitrate",)
METRIC_RANGE = (0.0, 1.0)
DEFAULT_N_BOOT = 2000
DEFAULT_SEED = 0
# Bootstrap resamples are drawn in blocks of about this many (resample, user)
# cells, so memory stays near 100 MB whatever the number of users.
_BLOCK_CELLS = 4_000_000
# Two statistics closer than this, relative to the mean absolute value they
# are computed from, are a tie (as in scipy.stats.permutation_test): a
# resampled mean is computed by a matrix product, the estimate by a plain
# mean, and rounding must not break the exact ties of discrete metrics.
TIE_TOLERANCE = 1e-9


def summarise(
    per_user: pd.DataFrame,
    confidence: float,
    method: str = "auto",
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    binary_metrics: Collection[str] = BINARY_METRICS,
) -> pd.DataFrame:
    """Average each metric over users, with a two-sided interval for the mean.

    Args:
        per_user: one row per user: a ``user_id`` column and one numeric
            column per metric (as :func:`musicrec.evaluation.metrics.evaluate`
            returns), at least one row, no missing values, every value in
            ``METRIC_RANGE`` ([0, 1]).
        confidence: the interval's coverage, strictly between 0 and 1 (0.95).
        method: one of ``INTERVAL_METHODS`` (see the module docstring).
            ``wilson`` for every column requires every column to be binary.
        n_boot: bootstrap resamples (``bca``, ``percentile``, and ``auto``'s
            non-binary columns), >= 100.
        seed: seeds the bootstrap; same seed -> same interval.
        binary_metrics: metric names (without ``@k``) that ``auto`` treats as
            binary; a column named ``name`` or ``name@<k>`` is one of them.

    Returns:
        One row per metric column, in column order, with ``SUMMARY_COLUMNS``:
        ``metric``, ``mean``, ``lower``, ``upper`` (float64, ``lower <= mean
        <= upper`` within [0, 1]), ``n_users`` (int) and ``method`` (the
        method used for that row, never ``auto``).

        The edge cases are decided here rather than left to scipy:

        - one user: no interval exists from one observation; ``lower`` and
          ``upper`` are NaN on purpose (every method), so that no table or
          plot shows a made-up certainty.
        - all users equal (zero variance): ``bca``, ``percentile`` and
          ``student-t`` give the point ``[mean, mean]`` (scipy would give
          NaN). ``wilson`` does not: 0 hits among n users still leaves an
          interval ``[0, z^2 / (n + z^2)]`` (and symmetrically for n hits),
          which is the honest answer for a proportion.

    Raises:
        ValueError: on no metric column, no rows, a non-numeric metric
            column, a missing value or a value outside [0, 1] (naming the
            user), a non-binary value in a column summarised by ``wilson``,
            an unknown method, ``n_boot < 100``, or a confidence outside
            (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if method not in INTERVAL_METHODS:
        raise ValueError(f"unknown interval method {method!r}; expected one of {list(INTERVAL_METHODS)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    metrics = [column for column in per_user.columns if column != "user_id"]
    if not metrics:
        raise ValueError(f"per-user metrics have no metric column, only {list(per_user.columns)}")
    n_users = len(per_user)
    if n_users == 0:
        raise ValueError(f"per-user metrics have no rows; cannot summarise {metrics}")
    values = metric_matrix(per_user, metrics)

    methods = [_method_for(column, method, binary_metrics) for column in metrics]
    for j, column in enumerate(metrics):
        if methods[j] == "wilson":
            _require_binary(values[:, j], column, per_user)

    mean = values.mean(axis=0)
    lower = np.full(len(metrics), np.nan)
    upper = np.full(len(metrics), np.nan)
    if n_users > 1:
        for name in dict.fromkeys(methods):
            columns = np.array([m == name for m in methods])
            lower[columns], upper[columns] = _interval(values[:, columns], confidence, name, n_boot, seed)
        # Rounding can put a bound an ulp outside [0, 1] or past the mean.
        lower = np.clip(np.minimum(lower, mean), *METRIC_RANGE)
        upper = np.clip(np.maximum(upper, mean), *METRIC_RANGE)
    return pd.DataFrame(
        {
            "metric": metrics,
            "mean": mean,
            "lower": lower,
            "upper": upper,
            "n_users": n_users,
            "method": methods,
        },
        columns=list(SUMMARY_COLUMNS),
    )


def metric_matrix(per_user: pd.DataFrame, metrics: list[str], what: str = "per-user metrics") -> np.ndarray:
    """The ``(n_users, n_metrics)`` float64 values of ``metrics``, checked: numeric, present, in [0, 1].

    Raises ValueError naming the column, and the user (``user_id``, else the
    row) of the first missing or out-of-range value; ``what`` names the frame.
    """
    for column in metrics:
        if column not in per_user.columns:
            raise ValueError(f"{what} lack metric column {column!r}; they have {list(per_user.columns)}")
        if not pd.api.types.is_numeric_dtype(per_user[column]):
            raise ValueError(f"{what}: metric column {column!r} is not numeric (dtype {per_user[column].dtype})")
    values = per_user[metrics].to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():
        row, column = np.argwhere(missing)[0]
        raise ValueError(f"{what}: metric {metrics[column]!r} is missing for user {_user(per_user, row)!r}")
    outside = (values < METRIC_RANGE[0]) | (values > METRIC_RANGE[1])
    if outside.any():
        row, column = np.argwhere(outside)[0]
        raise ValueError(
            f"{what}: metric {metrics[column]!r} of user {_user(per_user, row)!r} is {float(values[row, column])!r}, "
            f"outside the metric range {list(METRIC_RANGE)}"
        )
    return values


def is_binary_metric(column: str, binary_metrics: Collection[str] = BINARY_METRICS) -> bool:
    """Whether ``column`` (``name`` or ``name@k``) names a per-user 0/1 metric."""
    return column.split("@", 1)[0] in set(binary_metrics)


def wilson_interval(successes: np.ndarray, n: int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``successes`` out of ``n`` (arrays of counts, n >= 1), inside [0, 1].

    ``(p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` with
    ``p = successes / n`` and ``z`` the ``(1 + confidence) / 2`` normal quantile.
    """
    z = special.ndtri((1.0 + confidence) / 2.0)
    p = np.asarray(successes, dtype=np.float64) / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half_width = z * np.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    return np.clip(centre - half_width, 0.0, 1.0), np.clip(centre + half_width, 0.0, 1.0)


def bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples of the rows of ``values`` (n, m): an ``(n_boot, m)`` array.

    Every column sees the same resampled rows (users), drawn with
    replacement. Each block of resamples is an index matrix turned into a
    ``(n_block, n)`` count matrix and multiplied into ``values``; blocks have
    a size set by ``n`` alone, so the numbers depend on the generator's state,
    ``n_boot`` and ``n`` only.
    """
    n = values.shape[0]
    block = max(1, min(n_boot, _BLOCK_CELLS // n))
    means = np.empty((n_boot, values.shape[1]))
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        draws = rng.integers(0, n, (size, n))
        draws += np.arange(size)[:, None] * n
        counts = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n)
        means[start : start + size] = counts @ values / n
    return means


def bootstrap_bounds(
    estimate: np.ndarray,
    boot: np.ndarray,
    confidence: float,
    acceleration: np.ndarray | None = None,
    tolerance: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile (``acceleration=None``) or BCa bounds from bootstrap replicates.

    Args:
        estimate: (m,) the statistic on the original sample.
        boot: (n_boot, m) its bootstrap replicates.
        confidence: coverage in (0, 1).
        acceleration: (m,) the BCa acceleration (see :func:`mean_acceleration`);
            with it the bias correction ``z0`` comes from the share of
            replicates below the estimate (ties count half, as in
            ``scipy.stats.bootstrap``), kept within half a replicate of 0 and 1
            so that it stays finite.
        tolerance: (m,) or scalar: replicates within it of the estimate
            count as ties in that share.

    Returns:
        ``(lower, upper)``, each (m,): order statistics of ``boot`` (linear
        interpolation), hence within its range.
    """
    alpha = (1.0 - confidence) / 2.0
    n_boot, m = boot.shape
    if acceleration is None:
        levels = np.tile([alpha, 1.0 - alpha], (m, 1))
    else:
        tied = np.abs(boot - estimate) <= tolerance
        share = ((boot < estimate) & ~tied).sum(axis=0) + 0.5 * tied.sum(axis=0)
        share = share / n_boot
        z0 = special.ndtri(np.clip(share, 0.5 / n_boot, 1.0 - 0.5 / n_boot))
        z = special.ndtri(np.array([alpha, 1.0 - alpha]))
        shifted = z0[:, None] + z[None, :]
        levels = special.ndtr(z0[:, None] + shifted / (1.0 - acceleration[:, None] * shifted))
    # np.quantile's "linear" rule, with a level per column: position q (n - 1).
    ordered = np.sort(boot, axis=0)
    position = levels * (n_boot - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, n_boot - 1)
    weight = position - below
    columns = np.arange(m)[:, None]
    bounds = ordered[below, columns] * (1.0 - weight) + ordered[above, columns] * weight
    return bounds[:, 0], bounds[:, 1]


def mean_acceleration(centred_moment2: np.ndarray, centred_moment3: np.ndarray) -> np.ndarray:
    """BCa acceleration of a sample mean from the sums of centred squares and cubes (arrays alike).

    For the mean the jackknife is analytic: leaving user i out moves the mean
    by ``(x_i - mean) / (n - 1)``, so ``a = sum d^3 / (6 (sum d^2)^1.5)`` with
    ``d = x - mean``; 0 where the sample is constant.
    """
    denominator = 6.0 * np.power(centred_moment2, 1.5)
    return np.divide(centred_moment3, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def _interval(values: np.ndarray, confidence: float, method: str, n_boot: int, seed: int):
    """(lower, upper) of each column's mean by ``method``; ``values`` (n >= 2, m)."""
    n = values.shape[0]
    mean = values.mean(axis=0)
    if method == "wilson":
        return wilson_interval(values.sum(axis=0), n, confidence)
    constant = np.ptp(values, axis=0) == 0
    if method == "student-t":
        standard_error = values.std(axis=0, ddof=1) / np.sqrt(n)
        half_width = stats.t.ppf((1.0 + confidence) / 2.0, df=n - 1) * standard_error
        # Rounding in the mean can leave a constant column a standard
        # deviation of a few ulps; its interval is exactly the point.
        half_width[constant] = 0.0
        return mean - half_width, mean + half_width
    boot = bootstrap_means(values, n_boot, np.random.default_rng(seed))
    acceleration = None
    if method == "bca":
        centred = values - mean
        acceleration = mean_acceleration((centred**2).sum(axis=0), (centred**3).sum(axis=0))
    tolerance = TIE_TOLERANCE * np.abs(values).mean(axis=0)
    lower, upper = bootstrap_bounds(mean, boot, confidence, acceleration, tolerance)
    lower[constant] = upper[constant] = mean[constant]
    return lower, upper


def _method_for(column: str, method: str, binary_metrics: Collection[str]) -> str:
    if method != "auto":
        return method
    return "wilson" if is_binary_metric(column, binary_metrics) else "bca"


def _require_binary(values: np.ndarray, column: str, per_user: pd.DataFrame) -> None:
    other = (values != 0.0) & (values != 1.0)
    if other.any():
        row = int(np.argmax(other))
        raise ValueError(
            f"metric {column!r} is summarised by the Wilson interval, which needs per-user values 0 or 1, "
            f"but user {_user(per_user, row)!r} has {float(values[row])!r}"
        )


def _user(per_user: pd.DataFrame, row: int):
    return per_user["user_id"].iloc[row] if "user_id" in per_user.columns else f"row {row}"
