"""Paired per-user comparisons between the embeddings of one recommender run, and the verdict they support.

Every embedding of a run is scored on the same test users, so the question
"is embedding a better than b?" is a paired one: per user, ``d = metric_a -
metric_b``. For every metric and every pair of embeddings this module gives

- the mean difference and its BCa bootstrap interval (users resampled, the
  same resamples for every pair and metric);
- a paired randomisation (sign-flip) test: under "a and b are exchangeable"
  each user's difference is equally likely to have either sign, so the
  observed mean difference ``T`` is compared with ``T*`` under ``n_perm``
  random sign flips: ``p = (1 + #{|T*| >= |T|}) / (1 + n_perm)`` (never 0:
  the observed signs are one of the flips). It assumes nothing about the
  metric's distribution, which for HitRate or MRR is far from normal;
- a paired t-test (``scipy.stats.ttest_rel`` semantics), for comparison;
- Cohen's ``d_z = mean(d) / sd(d)`` with an asymptotic interval;
- Holm–Bonferroni adjusted p-values over all pairs of the run, per metric,
  for both tests; a pair is ``significant`` when its Holm-adjusted
  randomisation p is at most ``alpha = 1 - confidence``.

Cost. With ``E`` embeddings, ``M`` metrics and ``P = E (E - 1) / 2`` pairs,
the randomisation and bootstrap statistics are linear in the per-user
values, so they are computed once per (embedding, metric), not per pair:
one ``(n_perm, n_users)`` sign matrix (in blocks of rows) times the
``(n_users, E * M)`` values gives every embedding's ``T*``, and a pair's
``T*`` is the difference of two columns. That is ``E * M`` columns of matrix
product instead of ``P * M`` (20 embeddings: 100 instead of 950), and no
Python loop per pair, resample or permutation. Only the moments of the
differences (mean, variance, skewness, kurtosis) are per pair: one pass over
``n_users x P x M`` values, in blocks.

Seeds: trained recommenders run over several seeds; :func:`mean_over_seeds`
averages each user's metrics over seeds (the input of the tests), and
:func:`seed_spread` gives the mean, sd, min and max of the per-seed means.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from musicrec.evaluation.intervals import (
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    TIE_TOLERANCE,
    bootstrap_bounds,
    bootstrap_means,
    mean_acceleration,
    metric_matrix,
)

TEST_COLUMNS = (
    "run",
    "metric",
    "a",
    "b",
    "n_users",
    "mean_a",
    "mean_b",
    "diff",
    "diff_lower",
    "diff_upper",
    "effect_size",
    "effect_lower",
    "effect_upper",
    "p_randomisation",
    "p_t",
    "p_randomisation_holm",
    "p_t_holm",
    "significant",
)
MEANS_COLUMNS = ("run", "embedding", "metric", "mean", "n_users")
SPREAD_COLUMNS = ("metric", "mean", "sd", "min", "max", "n_seeds", "n_users")
VERDICT_COLUMNS = (
    "run",
    "metric",
    "embedding",
    "rank",
    "mean",
    "n_users",
    "vs_best",
    "diff_vs_best",
    "p_vs_best_holm",
    "vs_baseline",
    "diff_vs_baseline",
    "p_vs_baseline_holm",
    "verdict",
)
DEFAULT_N_PERM = 10_000
# An embedding may lose at most this share of its users to the intersection
# of all embeddings' users before the comparison is refused: every embedding
# of a run is evaluated on the same ground truth, so a larger gap means the
# inputs are not comparable, not that a few users are missing.
DEFAULT_MAX_DROPPED_FRACTION = 0.01
# Sign-flip blocks hold about this many (flip, user) cells: 25M float64 =
# 200 MB, and the per-pair moments blocks about 8M cells, so the whole test
# stays near 1 GB at 100k users x 20 embeddings x 5 metrics.
_SIGN_BLOCK_CELLS = 25_000_000
_PAIR_BLOCK_CELLS = 8_000_000


# -- aligning the embeddings' users ---------------------------------------------------------------


def shared_users(
    per_user: Mapping[str, pd.DataFrame],
    metrics: Sequence[str] | None = None,
    max_dropped_fraction: float = DEFAULT_MAX_DROPPED_FRACTION,
) -> tuple[pd.Index, np.ndarray, list[str]]:
    """The users every embedding was scored on, and their values, as one array.

    Args:
        per_user: embedding name -> its per-user metrics (``user_id`` and one
            column per metric, values in [0, 1], one row per user), as
            :func:`musicrec.evaluation.metrics.evaluate` or
            :func:`mean_over_seeds` return.
        metrics: the metric columns to compare; default: the first
            embedding's metric columns. Every embedding must have them.
        max_dropped_fraction: the largest share of an embedding's users that
            may be missing from another's; users outside the intersection
            are dropped with a warning that counts them.

    Returns:
        ``(users, values, metrics)``: the shared user ids (in the first
        embedding's order), a float64 array ``(n_users, n_embeddings,
        n_metrics)`` (embeddings in ``per_user`` order), and the metric names.

    Raises:
        ValueError: on no embedding, a missing metric column, a duplicated
            or missing user id (naming the embedding), a bad value (see
            :func:`musicrec.evaluation.intervals.metric_matrix`), no shared
            user, or an embedding losing more than ``max_dropped_fraction``
            of its users (naming it and an example user).
    """
    if not per_user:
        raise ValueError("paired tests need at least one embedding's per-user metrics")
    names = list(per_user)
    first = per_user[names[0]]
    if metrics is None:
        metrics = [column for column in first.columns if column != "user_id"]
    metrics = list(metrics)
    if not metrics:
        raise ValueError(f"per-user metrics of {names[0]!r} have no metric column, only {list(first.columns)}")
    indexes = {}
    for name, frame in per_user.items():
        if "user_id" not in frame.columns:
            raise ValueError(f"per-user metrics of embedding {name!r} lack a user_id column")
        users = _id_index(frame["user_id"])
        if users.hasnans:
            raise ValueError(f"per-user metrics of embedding {name!r} have a missing user_id")
        if not users.is_unique:
            raise ValueError(f"per-user metrics of embedding {name!r} list user {users[users.duplicated()][0]!r} twice")
        indexes[name] = users
    common = indexes[names[0]]
    for users in list(indexes.values())[1:]:
        common = common[users.get_indexer(common) >= 0]
    if len(common) == 0:
        raise ValueError(
            f"embeddings {names} share no user (e.g. {names[0]!r} has {indexes[names[0]][0]!r}); "
            "are their user_id columns of the same type?"
        )
    losses = []
    for name, users in indexes.items():
        dropped = users[common.get_indexer(users) < 0]
        if len(dropped) > max_dropped_fraction * len(users):
            raise ValueError(
                f"embedding {name!r} has {len(dropped)} of its {len(users)} users (e.g. {dropped[0]!r}) "
                f"that another embedding lacks, more than the allowed {max_dropped_fraction:.1%}; "
                "were they evaluated on the same ground truth?"
            )
        if len(dropped):
            losses.append(f"{name!r} {len(dropped)} of {len(users)} (e.g. {dropped[0]!r})")
    if losses:
        warnings.warn(
            f"users missing from some embedding are left out: {', '.join(losses)}; {len(common)} users are compared",
            stacklevel=3,
        )
    values = np.empty((len(common), len(names), len(metrics)))
    for e, name in enumerate(names):
        aligned = per_user[name].iloc[indexes[name].get_indexer(common)]
        values[:, e, :] = metric_matrix(aligned, metrics, what=f"per-user metrics of embedding {name!r}")
    return common, values, metrics


def shared_means(
    per_user: Mapping[str, pd.DataFrame],
    run: str,
    metrics: Sequence[str] | None = None,
    max_dropped_fraction: float = DEFAULT_MAX_DROPPED_FRACTION,
) -> pd.DataFrame:
    """Each embedding's mean of each metric on the users all embeddings share (the tests' users).

    In: as :func:`shared_users`. Out: ``MEANS_COLUMNS`` (``run, embedding,
    metric, mean, n_users``), one row per (embedding, metric), embeddings
    then metrics in input order: the ``means`` that :func:`verdict` ranks.
    """
    users, values, metrics = shared_users(per_user, metrics, max_dropped_fraction)
    names = list(per_user)
    means = values.mean(axis=0)
    return pd.DataFrame(
        {
            "run": run,
            "embedding": np.repeat(names, len(metrics)),
            "metric": np.tile(metrics, len(names)),
            "mean": means.ravel(),
            "n_users": len(users),
        },
        columns=list(MEANS_COLUMNS),
    )


# -- the tests --------------------------------------------------------------------------------------


def paired_tests(
    per_user: Mapping[str, pd.DataFrame],
    run: str,
    confidence: float,
    n_boot: int = DEFAULT_N_BOOT,
    n_perm: int = DEFAULT_N_PERM,
    seed: int = DEFAULT_SEED,
    metrics: Sequence[str] | None = None,
    max_dropped_fraction: float = DEFAULT_MAX_DROPPED_FRACTION,
) -> pd.DataFrame:
    """Compare every pair of embeddings of one run, user by user, for every metric.

    Args:
        per_user: embedding name -> per-user metrics (see :func:`shared_users`);
            compared on the users they share. For a run over several seeds,
            pass each embedding's :func:`mean_over_seeds`.
        run: the recommender run's name (copied to the ``run`` column).
        confidence: coverage of the intervals, in (0, 1);
            ``alpha = 1 - confidence`` is the significance level.
        n_boot: bootstrap resamples of users, >= 100.
        n_perm: random sign flips, >= 100. With P pairs, a Holm-adjusted p
            can only reach ``alpha`` when ``P / (1 + n_perm) <= alpha``; a
            warning says so when it cannot.
        seed: seeds both the bootstrap and the sign flips (independent
            streams of it); same input and seed -> same numbers.
        metrics, max_dropped_fraction: as :func:`shared_users`.

    Returns:
        ``TEST_COLUMNS``, one row per (metric, pair), metrics in order, then
        pairs ``(a, b)`` with ``a`` before ``b`` in ``per_user`` order;
        ``diff = mean_a - mean_b`` on the ``n_users`` shared users, which is
        also the randomisation test's observed statistic ``T``.
        Zero-variance differences are decided here, not left to scipy: all
        differences 0 (identical embeddings) gives ``diff = effect = 0``, a
        point interval and both p = 1; the same non-zero difference for
        every user gives ``p_t = 0`` and an infinite effect size (the
        randomisation p is then its least value). Fewer than two users:
        intervals and p-values NaN, nothing significant. Fewer than two
        embeddings: no rows.

    Raises:
        ValueError: on bad settings, and as :func:`shared_users`.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    for name, value in (("n_boot", n_boot), ("n_perm", n_perm)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 100:
            raise ValueError(f"{name} must be an integer >= 100, got {value!r}")
    users, values, metrics = shared_users(per_user, metrics, max_dropped_fraction)
    names = list(per_user)
    first, second = np.triu_indices(len(names), k=1)
    n_pairs = len(first)
    alpha = 1.0 - confidence
    if n_pairs and n_pairs / (1.0 + n_perm) > alpha:
        warnings.warn(
            f"run {run!r}: with n_perm={n_perm} the smallest randomisation p is 1/{n_perm + 1}, so after Holm "
            f"over {n_pairs} pairs no pair can reach alpha={alpha:g}; use n_perm >= {int(np.ceil(n_pairs / alpha))}",
            stacklevel=2,
        )
    statistics = paired_statistics(values, first, second, confidence, n_boot, n_perm, seed)
    p_randomisation_holm = holm(statistics["p_randomisation"])
    columns = {
        "run": run,
        "metric": np.repeat(metrics, n_pairs),
        "a": np.tile(np.asarray(names, dtype=object)[first], len(metrics)),
        "b": np.tile(np.asarray(names, dtype=object)[second], len(metrics)),
        "n_users": len(users),
    }
    # paired_statistics returns (P, M) arrays; the rows go metric by metric.
    for key, array in statistics.items():
        columns[key] = array.T.ravel()
    columns["p_randomisation_holm"] = p_randomisation_holm.T.ravel()
    columns["p_t_holm"] = holm(statistics["p_t"]).T.ravel()
    columns["significant"] = columns["p_randomisation_holm"] <= alpha
    return pd.DataFrame(columns, columns=list(TEST_COLUMNS))


def resampling_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The bootstrap's and the sign flips' generators: independent streams of one seed."""
    boot, flips = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(boot), np.random.default_rng(flips)


def sign_flip_blocks(n_users: int, n_perm: int, rng: np.random.Generator):
    """Yield the ``(n_perm, n_users)`` matrix of random signs (+1.0 / -1.0) in blocks of rows.

    Each sign is one random bit; blocks have a size set by ``n_users`` alone,
    so the matrix depends on the generator's state, ``n_perm`` and
    ``n_users`` only. The same block buffer is reused: consume each block
    before asking for the next.
    """
    block = max(1, min(n_perm, _SIGN_BLOCK_CELLS // n_users))
    signs = np.empty((block, n_users))
    n_bytes = (n_users + 7) // 8
    for start in range(0, n_perm, block):
        size = min(block, n_perm - start)
        bits = np.unpackbits(rng.integers(0, 256, (size, n_bytes), dtype=np.uint8), axis=1, count=n_users)
        out = signs[:size]
        # Cast first, then compute in float64: a ufunc mixing uint8 and
        # float64 casts through small buffers, ten times slower.
        np.copyto(out, bits)
        out *= -2.0
        out += 1.0
        yield out


def paired_statistics(
    values: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    confidence: float,
    n_boot: int,
    n_perm: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """The per-pair statistics of :func:`paired_tests`, before Holm, as ``(P, M)`` arrays.

    Args:
        values: ``(n_users, n_embeddings, n_metrics)`` float64 per-user values.
        first, second: ``(P,)`` embedding indices of each pair (a, b).
        confidence, n_boot, n_perm, seed: as :func:`paired_tests`.

    Returns:
        A dict of ``(P, M)`` float64 arrays: ``mean_a, mean_b, diff,
        diff_lower, diff_upper, effect_size, effect_lower, effect_upper,
        p_randomisation, p_t``.
    """
    n_users, n_embeddings, n_metrics = values.shape
    n_pairs = len(first)
    shape = (n_pairs, n_metrics)
    # (E, M, n): every reduction over users runs along contiguous memory,
    # where numpy sums pairwise (an axis-0 sum of (n, E, M) would add row by
    # row, with n times the rounding error).
    by_column = np.ascontiguousarray(values.transpose(1, 2, 0))
    means = by_column.mean(axis=-1)
    out = {
        "mean_a": means[first],
        "mean_b": means[second],
    }
    moments = _difference_moments(by_column, first, second)
    diff = moments["mean"]
    out["diff"] = diff
    if n_users < 2 or n_pairs == 0:
        for key in (
            "diff_lower",
            "diff_upper",
            "effect_size",
            "effect_lower",
            "effect_upper",
            "p_randomisation",
            "p_t",
        ):
            out[key] = np.full(shape, np.nan)
        return out
    squares = moments["squares"]
    constant = moments["constant"]
    zero = constant & (diff == 0.0)

    boot_rng, flip_rng = resampling_generators(seed)
    flat = by_column.reshape(n_embeddings * n_metrics, n_users).T  # (n, E * M), a view

    # Bootstrap: the mean of a resample is linear in the values, so a pair's
    # resampled mean difference is the difference of two resampled means.
    boot = bootstrap_means(flat, n_boot, boot_rng).reshape(n_boot, n_embeddings, n_metrics)
    boot_diff = (boot[:, first, :] - boot[:, second, :]).reshape(n_boot, -1)
    acceleration = mean_acceleration(squares, moments["cubes"]).ravel()
    # A pair's statistics are differences of two embeddings' sums, the
    # observed ones direct: equal up to rounding of the values' size.
    scale = np.abs(by_column).mean(axis=-1)
    tolerance = TIE_TOLERANCE * (scale[first] + scale[second])
    lower, upper = bootstrap_bounds(diff.ravel(), boot_diff, confidence, acceleration, tolerance.ravel())
    lower, upper = lower.reshape(shape), upper.reshape(shape)
    lower[constant] = upper[constant] = diff[constant]
    out["diff_lower"], out["diff_upper"] = np.minimum(lower, diff), np.maximum(upper, diff)

    # Randomisation: T* of a pair = T* of a - T* of b, for every sign flip;
    # |T*| >= |T| up to rounding counts (the ties of discrete metrics do).
    threshold = np.abs(diff) - tolerance
    extreme = np.zeros(shape, dtype=np.int64)
    for signs in sign_flip_blocks(n_users, n_perm, flip_rng):
        flipped = (signs @ flat / n_users).reshape(len(signs), n_embeddings, n_metrics)
        extreme += (np.abs(flipped[:, first, :] - flipped[:, second, :]) >= threshold).sum(axis=0)
    out["p_randomisation"] = (1.0 + extreme) / (1.0 + n_perm)

    # Paired t-test, as scipy.stats.ttest_rel; zero variance decided explicitly.
    variance = squares / (n_users - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / np.sqrt(variance / n_users)
    p_t = 2.0 * stats.t.sf(np.abs(t), df=n_users - 1)
    p_t[constant] = 0.0
    p_t[zero] = 1.0
    out["p_t"] = p_t

    effect, effect_lower, effect_upper = _effect_size(moments, n_users, confidence)
    out["effect_size"], out["effect_lower"], out["effect_upper"] = effect, effect_lower, effect_upper
    return out


def _difference_moments(by_column: np.ndarray, first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and centred power sums (2, 3, 4) of each pair's per-user differences, ``(P, M)`` each.

    In: ``(E, M, n_users)`` values and the pairs' embedding indices. Out: also
    ``constant``, where every user has the same difference (exactly, not
    up to the rounding a centred sum of squares would leave). The differences
    are formed explicitly, a block of pairs at a time: a variance from the
    embeddings' covariances would cancel catastrophically for two
    near-identical embeddings.
    """
    _, n_metrics, n_users = by_column.shape
    n_pairs = len(first)
    result = {key: np.empty((n_pairs, n_metrics)) for key in ("mean", "squares", "cubes", "fourths")}
    result["constant"] = np.empty((n_pairs, n_metrics), dtype=bool)
    block = max(1, _PAIR_BLOCK_CELLS // max(1, n_users * n_metrics))
    for start in range(0, n_pairs, block):
        pairs = slice(start, min(n_pairs, start + block))
        differences = by_column[first[pairs]] - by_column[second[pairs]]  # (block, M, n)
        result["constant"][pairs] = differences.max(axis=-1) == differences.min(axis=-1)
        mean = differences.mean(axis=-1)
        differences -= mean[..., None]
        squared = differences * differences
        result["mean"][pairs] = mean
        result["squares"][pairs] = squared.sum(axis=-1)
        result["cubes"][pairs] = (squared * differences).sum(axis=-1)
        result["fourths"][pairs] = (squared * squared).sum(axis=-1)
    result["squares"][result["constant"]] = 0.0
    result["cubes"][result["constant"]] = 0.0
    result["fourths"][result["constant"]] = 0.0
    return result


def _effect_size(moments: dict[str, np.ndarray], n_users: int, confidence: float):
    """Cohen's d_z = mean / sd (ddof 1) of the differences, with an asymptotic interval.

    The interval is ``d_z -/+ z sqrt(V / n)`` with the large-sample variance
    of a standardised mean for any distribution (influence function of
    mean / sd): ``V = 1 - d g1 + d^2 (k - 1) / 4``, ``g1`` the skewness and
    ``k`` the kurtosis of the differences (``V = 1 + d^2 / 2`` for normal
    ones). Per-user metric differences are discrete and skewed, so the
    normal-theory (noncentral t) interval would not fit them; this one is
    accurate at the hundreds-to-100k users evaluated, and cheap: a bootstrap
    of d_z would need a second moment per pair and resample, P times the
    cost of the mean's.
    """
    mean, squares = moments["mean"], moments["squares"]
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = mean / np.sqrt(squares / (n_users - 1))
        m2 = squares / n_users
        skewness = moments["cubes"] / n_users / m2**1.5
        kurtosis = moments["fourths"] / n_users / m2**2
        d = mean / np.sqrt(m2)
        variance = np.maximum(1.0 - d * skewness + d * d * (kurtosis - 1.0) / 4.0, 0.0)
        half_width = special.ndtri((1.0 + confidence) / 2.0) * np.sqrt(variance / n_users)
    constant = moments["constant"]
    effect[constant] = np.where(mean[constant] == 0.0, 0.0, np.copysign(np.inf, mean[constant]))
    half_width[constant] = 0.0
    return effect, effect - half_width, effect + half_width


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values over axis 0 (the pairs), separately for each column.

    In: ``(m,)`` or ``(m, k)`` p-values; NaN ones take no part and stay NaN
    (m counts the others). Out: the same shape, ``p_(i) -> max_{j <= i}
    min(1, (m - j + 1) p_(j))`` in ascending order of p; rejecting where the
    adjusted p is at most alpha is Holm's step-down procedure at level alpha.
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    column = p_values.ndim == 1
    p = p_values[:, None] if column else p_values
    adjusted = np.full(p.shape, np.nan)
    for j in range(p.shape[1]):
        present = np.flatnonzero(~np.isnan(p[:, j]))
        order = present[np.argsort(p[present, j], kind="stable")]
        m = len(order)
        scaled = (m - np.arange(m)) * p[order, j]
        adjusted[order, j] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted[:, 0] if column else adjusted


# -- seeds ------------------------------------------------------------------------------------------


def mean_over_seeds(per_seed: Mapping[object, pd.DataFrame]) -> pd.DataFrame:
    """Each user's metrics averaged over the seeds of one (run, embedding).

    In: seed -> per-user metrics (``user_id`` and metric columns), the same
    users and columns in every seed. Out: ``user_id`` (first seed's order)
    and the same metric columns, float64 mean over seeds.

    Raises:
        ValueError: on no seed, a duplicated user, or a seed whose users or
            metric columns differ from the first seed's (naming both seeds
            and an example user or column).
    """
    if not per_seed:
        raise ValueError("mean_over_seeds needs at least one seed's per-user metrics")
    seeds = list(per_seed)
    reference = per_seed[seeds[0]]
    metrics = [column for column in reference.columns if column != "user_id"]
    users = _unique_users(reference, f"seed {seeds[0]!r}")
    total = np.zeros((len(users), len(metrics)))
    for seed in seeds:
        frame = per_seed[seed]
        columns = [column for column in frame.columns if column != "user_id"]
        if set(columns) != set(metrics):
            extra, lacking = sorted(set(columns) - set(metrics)), sorted(set(metrics) - set(columns))
            raise ValueError(
                f"seed {seed!r} has metric columns {columns}, seed {seeds[0]!r} has {metrics} "
                f"(extra {extra}, lacking {lacking})"
            )
        these = _unique_users(frame, f"seed {seed!r}")
        position = these.get_indexer(users)
        if len(these) != len(users) or (position < 0).any():
            missing, extra = users[position < 0], these[users.get_indexer(these) < 0]
            raise ValueError(
                f"seed {seed!r} scored {len(these)} users, seed {seeds[0]!r} {len(users)}: "
                f"{len(missing)} of seed {seeds[0]!r}'s users are missing"
                + (f" (e.g. {missing[0]!r})" if len(missing) else "")
                + f" and {len(extra)} are extra"
                + (f" (e.g. {extra[0]!r})" if len(extra) else "")
                + "; every seed must be evaluated on the same users"
            )
        total += metric_matrix(frame.iloc[position], metrics, what=f"per-user metrics of seed {seed!r}")
    return pd.DataFrame({"user_id": users.to_numpy(), **dict(zip(metrics, (total / len(seeds)).T, strict=True))})


def seed_spread(per_seed: Mapping[object, pd.DataFrame]) -> pd.DataFrame:
    """How much the seed matters: the spread over seeds of each metric's mean over users.

    In: as :func:`mean_over_seeds` (checked the same way). Out:
    ``SPREAD_COLUMNS``, one row per metric: ``mean`` (of the per-seed means,
    equal to the mean of :func:`mean_over_seeds`), ``sd`` (ddof 1, NaN for one
    seed), ``min``, ``max``, ``n_seeds``, ``n_users``.
    """
    mean_over_seeds(per_seed)  # the same checks: same users and metrics in every seed
    seeds = list(per_seed)
    metrics = [column for column in per_seed[seeds[0]].columns if column != "user_id"]
    means = np.array([per_seed[seed][metrics].to_numpy(dtype=np.float64).mean(axis=0) for seed in seeds])
    return pd.DataFrame(
        {
            "metric": metrics,
            "mean": means.mean(axis=0),
            "sd": means.std(axis=0, ddof=1) if len(seeds) > 1 else np.full(len(metrics), np.nan),
            "min": means.min(axis=0),
            "max": means.max(axis=0),
            "n_seeds": len(seeds),
            "n_users": len(per_seed[seeds[0]]),
        },
        columns=list(SPREAD_COLUMNS),
    )


def _id_index(user_ids: pd.Series) -> pd.Index:
    """The user ids as an index for hash lookups: numeric ids as they are, others as Python objects.

    pandas' Arrow-backed string index answers ``isin`` / ``get_indexer``
    through a Python loop (about 1 s per 100k ids); an object index hashes
    them in C, 25 times faster.
    """
    if pd.api.types.is_numeric_dtype(user_ids):
        return pd.Index(user_ids.to_numpy())
    return pd.Index(user_ids.to_numpy(dtype=object), dtype=object)


def _unique_users(frame: pd.DataFrame, what: str) -> pd.Index:
    if "user_id" not in frame.columns:
        raise ValueError(f"per-user metrics of {what} lack a user_id column")
    users = _id_index(frame["user_id"])
    if not users.is_unique:
        raise ValueError(f"per-user metrics of {what} list user {users[users.duplicated()][0]!r} twice")
    return users


# -- the verdict ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the tests say, per run: ``table`` (``VERDICT_COLUMNS``) and one sentence per run."""

    table: pd.DataFrame
    summaries: dict[str, str]


def verdict(
    tests: pd.DataFrame,
    means: pd.DataFrame,
    baseline: str = "random",
    summary_metric: str | None = None,
) -> Verdict:
    """Which embeddings are best, tied with the best, better or not better than the baseline.

    Args:
        tests: :func:`paired_tests` rows (``TEST_COLUMNS``) of one or more
            runs; ``significant`` (the Holm-adjusted randomisation test)
            decides every call.
        means: ``run, embedding, metric, mean`` (and optionally ``n_users``),
            e.g. :func:`shared_means`: ranks the embeddings; it lists every
            embedding, also those of a run with nothing to compare.
        baseline: the embedding everything should beat; a run without it
            gets ``vs_baseline = "no baseline"``.
        summary_metric: the metric the one-sentence summary speaks of;
            default: each run's first metric in ``means``.

    Returns:
        :class:`Verdict`. ``table`` has one row per (run, metric, embedding),
        by run and metric in ``means`` order, then by rank (1 = highest
        mean; ties keep ``means`` order). ``vs_best`` is ``best`` (rank 1),
        ``tied with best`` (not significantly different from it) or ``worse
        than best``; ``vs_baseline`` is ``better than <b>``, ``not better than
        <b> (tied)``, ``not better than <b> (worse)``, ``baseline`` or ``no
        baseline``; ``verdict`` joins the two for a reader, e.g. ``"tied with
        best, better than random"``. ``summaries``: run -> one sentence.

    Raises:
        ValueError: on a missing column, an embedding pair the tests lack,
            or a significant pair whose direction contradicts ``means``.
    """
    _require(tests, TEST_COLUMNS, "paired tests")
    _require(means, ("run", "embedding", "metric", "mean"), "means")
    pairs = {}
    for row in tests.itertuples(index=False):
        pairs[(row.run, row.metric, row.a, row.b)] = (row.diff, row.p_randomisation_holm, bool(row.significant))
        # 0.0 - diff, not -diff: the reverse of no difference is 0.0, not -0.0.
        pairs[(row.run, row.metric, row.b, row.a)] = (0.0 - row.diff, row.p_randomisation_holm, bool(row.significant))
    n_users = tests.groupby(["run", "metric"])["n_users"].first().to_dict()

    rows = []
    summaries = {}
    for run in dict.fromkeys(means["run"]):
        run_means = means[means["run"] == run]
        run_metrics = list(dict.fromkeys(run_means["metric"]))
        for metric in run_metrics:
            ranked = run_means[run_means["metric"] == metric].sort_values("mean", ascending=False, kind="stable")
            names = ranked["embedding"].tolist()
            best = names[0]
            has_baseline = baseline in names
            users = n_users.get((run, metric), ranked["n_users"].iloc[0] if "n_users" in ranked else np.nan)
            for rank, (name, mean) in enumerate(zip(names, ranked["mean"], strict=True), start=1):
                row = {"run": run, "metric": metric, "embedding": name, "rank": rank, "mean": mean, "n_users": users}
                if name == best:
                    row.update(vs_best="best", diff_vs_best=0.0, p_vs_best_holm=np.nan)
                else:
                    diff, p, significant = _pair(pairs, run, metric, name, best)
                    if significant and diff > 0:
                        raise ValueError(
                            f"run {run!r}, {metric}: {name!r} is significantly better than {best!r} by the tests "
                            "but ranks below it by the means; were they computed on different users?"
                        )
                    row.update(
                        vs_best="worse than best" if significant else "tied with best",
                        diff_vs_best=diff,
                        p_vs_best_holm=p,
                    )
                if not has_baseline:
                    row.update(vs_baseline="no baseline", diff_vs_baseline=np.nan, p_vs_baseline_holm=np.nan)
                elif name == baseline:
                    row.update(vs_baseline="baseline", diff_vs_baseline=0.0, p_vs_baseline_holm=np.nan)
                else:
                    diff, p, significant = _pair(pairs, run, metric, name, baseline)
                    if significant and diff > 0:
                        call = f"better than {baseline}"
                    elif significant:
                        call = f"not better than {baseline} (worse)"
                    else:
                        call = f"not better than {baseline} (tied)"
                    row.update(vs_baseline=call, diff_vs_baseline=diff, p_vs_baseline_holm=p)
                row["verdict"] = _verdict_text(row["vs_best"], row["vs_baseline"], baseline)
                rows.append(row)
        metric = summary_metric if summary_metric is not None else run_metrics[0]
        if metric not in run_metrics:
            raise ValueError(f"summary metric {metric!r} is not among run {run!r}'s metrics {run_metrics}")
        summaries[run] = _summary_sentence(
            run, metric, [r for r in rows if r["run"] == run and r["metric"] == metric], baseline
        )
    return Verdict(pd.DataFrame(rows, columns=list(VERDICT_COLUMNS)), summaries)


def _pair(pairs: dict, run: str, metric: str, a: str, b: str) -> tuple[float, float, bool]:
    try:
        return pairs[(run, metric, a, b)]
    except KeyError:
        raise ValueError(f"paired tests of run {run!r} lack the pair ({a!r}, {b!r}) for {metric}") from None


def _verdict_text(vs_best: str, vs_baseline: str, baseline: str) -> str:
    if vs_baseline == "baseline":
        return f"{vs_best} (the {baseline} baseline)"
    if vs_baseline == "no baseline":
        return vs_best
    return f"{vs_best}, {vs_baseline}"


def _summary_sentence(run: str, metric: str, rows: list[dict], baseline: str) -> str:
    best = rows[0]
    users = best["n_users"]
    opening = f"{run}, {metric}" + (f" over {int(users)} users" if np.isfinite(users) else "")
    if len(rows) == 1:
        return f"{opening}: only {best['embedding']} was evaluated, so there is nothing to compare."
    tied = [r["embedding"] for r in rows if r["vs_best"] == "tied with best"]
    sentence = f"{opening}: {best['embedding']} is best ({best['mean']:.3f})"
    sentence += f", tied with {_listing(tied)}" if tied else ", ahead of every other embedding"
    others = [r for r in rows if r["vs_baseline"] not in ("baseline", "no baseline")]
    if not others and not any(r["vs_baseline"] == "baseline" for r in rows):
        sentence += f"; there is no {baseline!r} embedding to compare with"
    else:
        better = [r["embedding"] for r in others if r["vs_baseline"].startswith("better")]
        tied_baseline = [r["embedding"] for r in others if r["vs_baseline"].endswith("(tied)")]
        worse = [r["embedding"] for r in others if r["vs_baseline"].endswith("(worse)")]
        parts = [f"better than {baseline}: {_listing(better) if better else 'none'}"]
        if tied_baseline:
            parts.append(f"tied with {baseline}: {_listing(tied_baseline)}")
        if worse:
            parts.append(f"worse than {baseline}: {_listing(worse)}")
        sentence += "; " + "; ".join(parts)
    return sentence + " (paired randomisation test, Holm-corrected over all pairs)."


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {missing}; they have {list(frame.columns)}")
