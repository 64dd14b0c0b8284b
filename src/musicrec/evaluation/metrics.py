"""Per-user ranking metrics at a cut-off k: HitRate, MRR, Precision, Recall, NDCG.

The values equal those of ``rs_metrics`` 0.6.0 (``hitrate``, ``mrr``,
``precision``, ``recall``, ``ndcg`` with ``apply_mean=False``), which the
paper used, user for user, but are computed for all users at once: the
recommendations are scattered into an ``(n_users, k)`` relevance matrix and
every metric is a reduction along its rows. Where the two differ, it is on
input our pipeline never produces (see :func:`evaluate`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

METRIC_NAMES = ("hitrate", "mrr", "precision", "recall", "ndcg")

RECS_COLUMNS = ("user_id", "rank", "track_idx")
TRUTH_COLUMNS = ("user_id", "track_idx")


def metric_columns(k: int) -> list[str]:
    """The per-user metric column names at cut-off ``k``: ``["hitrate@k", ..., "ndcg@k"]``."""
    return [f"{name}@{k}" for name in METRIC_NAMES]


def evaluate(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """Score each ground-truth user's top-``k`` recommendations.

    Args:
        recs: one row per recommendation, columns ``user_id``, ``rank``
            (1-based, contiguous per user: 1, 2, ..., n) and ``track_idx``
            (non-negative int); any row order. Ranks above ``k`` are ignored,
            and so are users absent from ``truth``.
        truth: one row per (user, relevant track), columns ``user_id`` and
            ``track_idx``, no duplicated pair.
        k: the cut-off, >= 1.

    Returns:
        One row per distinct ``truth.user_id``, sorted by it (the order
        ``rs_metrics`` returns), columns ``user_id`` and
        :func:`metric_columns` ``(k)``, float64:

        - ``hitrate@k``: 1 if any of the top k is relevant, else 0;
        - ``mrr@k``: 1 / rank of the first relevant item in the top k, else 0;
        - ``precision@k``: relevant items in the top k / k;
        - ``recall@k``: relevant items in the top k / relevant items;
        - ``ndcg@k``: sum over relevant top-k ranks r of 1 / log2(r + 1),
          divided by the same sum over ranks 1..min(relevant items, k).

    Differences from ``rs_metrics`` 0.6.0, all on input the pipeline rules out
    (it returns at least k items per evaluated user, one row per truth pair):

    - precision divides by k, where ``rs_metrics`` divides by the number of
      recommendations (at most k) and so returns NaN for a user with none and
      inflates users with fewer than k. Such users score as if the missing
      slots were irrelevant, and a ``UserWarning`` names them: a ground-truth
      user without recommendations keeps its row and scores 0 everywhere.
    - a duplicated (user, track) in ``truth`` is an error: ``rs_metrics``
      would count it twice in recall's numerator and denominator.
    - a relevant track recommended twice to a user within the top k is an
      error: ``rs_metrics`` would count it twice in precision and NDCG
      (NDCG above 1). A duplicated irrelevant track changes no metric and is
      not looked for.

    Raises:
        ValueError: on a missing column or user_id, a non-integer rank or
            track_idx, ``k < 1``, a rank below 1, a duplicated or skipped
            rank within a user's top k, a negative track_idx, the duplicates
            above, or no user in common (user_id columns of different types).
    """
    _require_columns(recs, RECS_COLUMNS, "recommendations")
    _require_columns(truth, TRUTH_COLUMNS, "ground truth")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)

    _require_user_ids(truth["user_id"], "ground truth")
    _require_user_ids(recs["user_id"], "recommendations")
    # Users are numbered in sorted order so the output matches rs_metrics'
    # (its dicts come from a sorted groupby).
    truth_user, users = pd.factorize(truth["user_id"], sort=True)
    rec_user = _user_codes(recs["user_id"], users)
    n_users = len(users)
    if len(recs) and n_users and not (rec_user >= 0).any():
        raise ValueError(
            "no user of the recommendations appears in the ground truth "
            f"(e.g. recommendations user {recs['user_id'].iloc[0]!r}, truth user {users[0]!r}); "
            "are both user_id columns of the same type?"
        )

    rank = recs["rank"].to_numpy()
    _require_integers(rank, "recommendations", "rank")
    if len(rank) and rank.min() < 1:
        row = int(np.argmin(rank))
        raise ValueError(
            f"recommendations row {row} (user {recs['user_id'].iloc[row]!r}) has rank "
            f"{rank[row]}; ranks are 1-based"
        )
    in_top_k = (rec_user >= 0) & (rank <= k)
    top_user = rec_user[in_top_k]
    # Slot (user, rank - 1) of the flattened (n_users, k) relevance matrix.
    slot = top_user * k + (rank[in_top_k].astype(np.int64, copy=False) - 1)
    _check_ranks_fill_slots(slot, users, k)

    truth_track = truth["track_idx"].to_numpy()
    rec_track = recs["track_idx"].to_numpy()
    top_track = rec_track[in_top_k]
    # One int64 key per (user, track) pair: relevance is one membership test.
    track_span = 1 + max(_max_track(truth_track, "ground truth"), _max_track(rec_track, "recommendations"))
    if n_users * track_span >= np.iinfo(np.int64).max:
        raise ValueError(f"{n_users} users x {track_span} track indices overflow the int64 pair keys")
    truth_keys = pd.Index(truth_user.astype(np.int64, copy=False) * track_span + truth_track)
    if not truth_keys.is_unique:
        row = int(np.flatnonzero(truth_keys.duplicated())[0])
        raise ValueError(
            f"ground truth row {row} repeats (user {truth['user_id'].iloc[row]!r}, "
            f"track_idx {truth_track[row]}); expected one row per (user, track)"
        )
    top_keys = top_user.astype(np.int64, copy=False) * track_span + top_track
    hit = _is_member(top_keys, truth_keys)
    hit_keys = pd.Index(top_keys[hit])
    if not hit_keys.is_unique:
        repeated = hit_keys[hit_keys.duplicated()][0]
        raise ValueError(
            f"user {users[repeated // track_span]!r} is recommended relevant track_idx "
            f"{repeated % track_span} more than once within the top {k}"
        )

    relevance = np.zeros(n_users * k, dtype=bool)
    relevance[slot[hit]] = True
    relevance = relevance.reshape(n_users, k)
    n_relevant = np.bincount(truth_user, minlength=n_users)
    n_recommended = np.bincount(top_user, minlength=n_users)
    _warn_short_lists(n_recommended, users, k)

    return pd.DataFrame(
        {"user_id": users, **dict(zip(metric_columns(k), _metrics(relevance, n_relevant), strict=True))}
    )


def _metrics(relevance: np.ndarray, n_relevant: np.ndarray) -> tuple[np.ndarray, ...]:
    """HitRate, MRR, Precision, Recall, NDCG per row of an ``(n_users, k)`` bool matrix.

    The floating-point operations follow rs_metrics' so the values agree to
    the last bit: NDCG sums each row's gains / discounts with ``np.sum`` and
    divides by an ideal DCG summed the same way.
    """
    k = relevance.shape[1]
    n_hits = relevance.sum(axis=1)
    any_hit = n_hits > 0
    hitrate = any_hit.astype(np.float64)
    mrr = np.where(any_hit, 1.0 / (relevance.argmax(axis=1) + 1), 0.0)
    precision = n_hits / k
    recall = n_hits / n_relevant
    discounts = np.log2(np.arange(k) + 2)
    dcg = np.sum(relevance / discounts, axis=1)
    ideal_dcg = np.array([np.sum(np.ones(n) / discounts[:n]) for n in range(k + 1)])
    ndcg = dcg / ideal_dcg[np.minimum(n_relevant, k)]
    return hitrate, mrr, precision, recall, ndcg


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {missing}; expected {list(columns)}, got {list(frame.columns)}")


def _is_member(keys: np.ndarray, members: pd.Index) -> np.ndarray:
    """Whether each of ``keys`` (int64) is in ``members`` (unique int64), as a bool array.

    Most keys are not members (a user hits a few of k recommendations), so a
    one-hash table of ~8 buckets per member first rejects the bulk of them
    with one array read; only the candidates it lets through (the members and
    ~1/8 of the rest) pay for an exact hash-table lookup. On 5M keys and 1M
    members this halves the lookup's time.
    """
    n_bits = int(np.clip(np.ceil(np.log2(8 * max(len(members), 1))), 10, 28))

    def bucket(values: np.ndarray) -> np.ndarray:
        # Fibonacci hashing: the top bits of key * 2**64 / golden ratio.
        return (values.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - n_bits)

    occupied = np.zeros(1 << n_bits, dtype=bool)
    occupied[bucket(members.to_numpy())] = True
    candidates = np.flatnonzero(occupied[bucket(keys)])
    member = np.zeros(len(keys), dtype=bool)
    member[candidates[members.get_indexer(keys[candidates]) >= 0]] = True
    return member


def _require_user_ids(user_ids: pd.Series, what: str) -> None:
    missing = user_ids.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{what} row {int(np.argmax(missing))} has a missing user_id")


def _user_codes(user_ids: pd.Series, users: pd.Index) -> np.ndarray:
    """Position in ``users`` of each row's user id, -1 where it is not there.

    Recommendations come grouped by user, so only the first row of each run
    of equal ids is looked up: a hundred times fewer hash lookups than one
    per row (the dominant cost otherwise). Any row order stays correct.
    """
    values = user_ids.array
    if len(values) == 0:
        return np.empty(0, dtype=np.intp)
    changes = np.asarray(values[1:] != values[:-1], dtype=bool)
    run_starts = np.flatnonzero(np.concatenate([[True], changes]))
    run_lengths = np.diff(np.append(run_starts, len(values)))
    return np.repeat(users.get_indexer(values.take(run_starts)), run_lengths)


def _require_integers(values: np.ndarray, what: str, column: str) -> None:
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{what} column {column} must hold integers, got dtype {values.dtype}")


def _max_track(track_idx: np.ndarray, what: str) -> int:
    _require_integers(track_idx, what, "track_idx")
    if len(track_idx) == 0:
        return 0
    if track_idx.min() < 0:
        raise ValueError(f"{what} row {int(np.argmin(track_idx))} has negative track_idx {track_idx.min()}")
    return int(track_idx.max())


def _check_ranks_fill_slots(slot: np.ndarray, users: pd.Index, k: int) -> None:
    """Each user's ranks up to k must be 1..n without repeats or gaps.

    rs_metrics reads positions, not ranks; on such ranks the two coincide.
    """
    occupancy = np.bincount(slot, minlength=len(users) * k).reshape(len(users), k)
    repeated = occupancy > 1
    if repeated.any():
        user, position = np.argwhere(repeated)[0]
        raise ValueError(f"user {users[user]!r} has rank {position + 1} {occupancy[user, position]} times")
    gap = occupancy[:, 1:] > occupancy[:, :-1]
    if gap.any():
        user, position = np.argwhere(gap)[0]
        raise ValueError(f"user {users[user]!r} has rank {position + 2} but no rank {position + 1}")


def _warn_short_lists(n_recommended: np.ndarray, users: pd.Index, k: int) -> None:
    short = np.flatnonzero(n_recommended < k)
    if len(short):
        first = short[0]
        warnings.warn(
            f"{len(short)} of {len(users)} ground-truth users have fewer than k={k} recommendations "
            f"(e.g. user {users[first]!r}: {n_recommended[first]}); their missing slots count as irrelevant",
            stacklevel=3,
        )
