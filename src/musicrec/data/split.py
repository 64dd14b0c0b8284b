"""The Music4All-Onion time-based split: a year of history, then the next month's new tracks.

Protocol (dates are ``YYYY-MM-DD`` at midnight; intervals are half-open):

* **train** = plays with ``start_date <= t < test_date``, aggregated per (user, track):
  ``timestamp`` = first play in the window, ``count`` = plays in the window.
* **test candidates** = (user, track) pairs whose first play is in
  ``[test_date, end_date)`` (``end_date`` null: no upper bound), aggregated over that
  window the same way. A pair the user already played in ``[start_date, test_date)``
  is never a candidate, however often it is replayed in the test month: the task is
  to predict *new* tracks.
* Candidates whose user or track is absent from train are dropped (no cold start).

The report's ``test_candidates`` gives each test-window pair exactly one fate, so
the counts add up: ``pairs = already_played + novel_with_cold_user +
novel_with_cold_track + kept``. Precedence, first match wins: already played
before ``test_date``; else the user has no train play (whatever the track); else
the track has no train play. So a novel pair of a cold user and a cold track is
counted once, under ``novel_with_cold_user``; ``novel_with_cold_user_and_track``
says how many of those also had a cold track (a part of that count, not an extra
reason). ``cold_users_dropped`` / ``cold_tracks_dropped`` count distinct users and
tracks, not pairs.
* The sorted unique candidate users are shuffled with ``seed``; the first
  ``val_fraction`` of them (rounded, at least one user on each side) form **val**,
  the rest **test**; every user lies wholly in one part.

Plays before ``start_date``: by default they are ignored *entirely*, novelty
included, as the published split does (it truncates the log to ``[start_date, …)``
before anything else). So a track played in 2018 and again in the test month is
a test item. This is the benchmark definition the paper's numbers rest on, and
from the models' side such a track is as unseen as any other, since their
history starts at ``start_date``. Pass ``pre_start_plays_count_as_played=True``
for the stricter "never played before test_date, ever" reading.

Everything runs on integer arrays (user codes, ``track_idx``, epoch seconds),
never on one Python object per play, so a 10M-play log splits in well under 2 GB.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PARTS = ("train", "val", "test")
OUTPUT_COLUMNS = ["user_id", "track_id", "track_idx", "timestamp", "count"]


def split_interactions(
    plays: pd.DataFrame,
    start_date: str,
    test_date: str,
    end_date: str | None,
    val_fraction: float,
    seed: int,
    *,
    pre_start_plays_count_as_played: bool = False,
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Split mapped plays into train / val / test by the Music4All-Onion protocol.

    plays: (n_plays,) rows with ``user_id``, ``track_id`` (str or categorical),
    ``track_idx`` (int, one track_id per track_idx) and ``timestamp`` (naive datetime64).
    Returns ``({"train", "val", "test"} -> frame, report)``. Each frame has
    ``user_id``, ``track_id`` (categorical), ``track_idx`` (int32), ``timestamp``
    (datetime64[s], first play), ``count`` (int32), one row per (user, track),
    sorted by (user_id, timestamp, track_idx). The report is JSON-ready counts.
    Raises ValueError for bad dates, an empty train or test window, or too few
    test users to split.
    """
    start, test, end = check_dates(start_date, test_date, end_date)
    if not 0 < val_fraction < 1:
        raise ValueError(f"split.val_fraction must be strictly between 0 and 1, got {val_fraction}")
    if len(plays) == 0:
        raise ValueError("plays is empty: nothing to split (see the mapping report for why)")

    user_code, user_names = sorted_codes(plays["user_id"], "user_id")
    track_idx = plays["track_idx"].to_numpy()
    if not np.issubdtype(track_idx.dtype, np.integer) or (len(track_idx) and track_idx.min() < 0):
        raise ValueError(f"plays: track_idx must be non-negative integers, got dtype {track_idx.dtype}")
    n_users, n_tracks = len(user_names), int(track_idx.max()) + 1
    track_code_by_idx, track_names = track_lookup(plays["track_id"], track_idx, n_tracks)
    seconds = epoch_seconds(plays["timestamp"])
    # One int64 per play identifies its (user, track) pair; user-major, so sorting keys groups users.
    pair_key = user_code.astype(np.int64)
    pair_key *= n_tracks
    pair_key += track_idx
    del user_code, track_idx

    in_train = (seconds >= start) & (seconds < test)
    in_test = seconds >= test
    if end is not None:
        in_test &= seconds < end
    window_counts = {
        "total": len(seconds),
        "before_start": int(np.count_nonzero(seconds < start)),
        "train_window": int(np.count_nonzero(in_train)),
        "test_window": int(np.count_nonzero(in_test)),
        "after_end": 0 if end is None else int(np.count_nonzero(seconds >= end)),
    }
    for part, window in (("train", "train_window"), ("test", "test_window")):
        if window_counts[window] == 0:
            raise ValueError(_empty_window_message(part, start_date, test_date, end_date, window_counts, seconds))

    train_keys, train_first, train_count = aggregate_pairs(pair_key[in_train], seconds[in_train])
    test_keys, test_first, test_count = aggregate_pairs(pair_key[in_test], seconds[in_test])
    del in_train, in_test
    played_before = np.unique(pair_key[seconds < test]) if pre_start_plays_count_as_played else train_keys
    del pair_key, seconds

    novel = ~sorted_contains(played_before, test_keys)
    test_user, test_track = np.divmod(test_keys, n_tracks)
    user_in_train = np.zeros(n_users, dtype=bool)
    user_in_train[train_keys // n_tracks] = True
    track_in_train = np.zeros(n_tracks, dtype=bool)
    track_in_train[train_keys % n_tracks] = True
    warm_user, warm_track = user_in_train[test_user], track_in_train[test_track]
    kept = novel & warm_user & warm_track
    candidates = {
        "pairs": len(test_keys),
        "already_played": int(np.count_nonzero(~novel)),
        "novel": int(np.count_nonzero(novel)),
        # Exclusive reasons, in precedence order (see the module docstring).
        "novel_with_cold_user": int(np.count_nonzero(novel & ~warm_user)),
        "novel_with_cold_track": int(np.count_nonzero(novel & warm_user & ~warm_track)),
        "novel_with_cold_user_and_track": int(np.count_nonzero(novel & ~warm_user & ~warm_track)),
        "cold_users_dropped": len(np.unique(test_user[novel & ~warm_user])),
        "cold_tracks_dropped": len(np.unique(test_track[novel & ~warm_track])),
        "kept": int(np.count_nonzero(kept)),
    }
    check_candidate_counts(candidates)
    if not kept.any():
        raise ValueError(
            f"no test pairs are left: of {candidates['pairs']} (user, track) pairs played in the test window, "
            f"{candidates['already_played']} were already played before split.test_date={test_date}, "
            f"{candidates['novel_with_cold_user']} have a user and {candidates['novel_with_cold_track']} a track "
            "absent from train. Check the dates in config (split.start_date, split.test_date, split.end_date)."
        )

    val_users = choose_val_users(np.unique(test_user[kept]), val_fraction, seed)
    is_val_user = np.zeros(n_users, dtype=bool)
    is_val_user[val_users] = True
    in_val = kept & is_val_user[test_user]
    in_test_part = kept & ~is_val_user[test_user]

    def frame(keys: np.ndarray, first: np.ndarray, count: np.ndarray) -> pd.DataFrame:
        return pairs_frame(keys, first, count, n_tracks, user_names, track_code_by_idx, track_names)

    parts = {
        "train": frame(train_keys, train_first, train_count),
        "val": frame(test_keys[in_val], test_first[in_val], test_count[in_val]),
        "test": frame(test_keys[in_test_part], test_first[in_test_part], test_count[in_test_part]),
    }
    report = {
        "start_date": str(start_date),
        "test_date": str(test_date),
        "end_date": None if end_date is None else str(end_date),
        "val_fraction": val_fraction,
        "seed": seed,
        "pre_start_plays_count_as_played": pre_start_plays_count_as_played,
        "plays": window_counts,
        "test_candidates": candidates,
        **{name: _part_summary(part) for name, part in parts.items()},
    }
    return parts, report


def check_candidate_counts(candidates: dict) -> None:
    """Raise RuntimeError unless every test-window pair has exactly one fate in ``candidates``."""
    reasons = ("already_played", "novel_with_cold_user", "novel_with_cold_track", "kept")
    if sum(candidates[reason] for reason in reasons) != candidates["pairs"] or (
        candidates["novel"] != candidates["pairs"] - candidates["already_played"]
    ):
        raise RuntimeError(
            f"split report: the test-window pairs do not add up: {candidates}; expected pairs = "
            + " + ".join(reasons)
        )


def check_dates(start_date: str, test_date: str, end_date: str | None) -> tuple[int, int, int | None]:
    """Config dates -> epoch seconds ``(start, test, end or None)``; raises naming the config key."""
    start = _date_seconds("split.start_date", start_date)
    test = _date_seconds("split.test_date", test_date)
    if test <= start:
        raise ValueError(f"split.test_date ({test_date}) must be after split.start_date ({start_date})")
    if end_date is None:
        return start, test, None
    end = _date_seconds("split.end_date", end_date)
    if end <= test:
        raise ValueError(f"split.end_date ({end_date}) must be after split.test_date ({test_date}), or null")
    return start, test, end


def _date_seconds(key: str, value: str) -> int:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{key} is {value!r}, expected a date 'YYYY-MM-DD'") from error
    if pd.isna(stamp) or stamp.tzinfo is not None:
        raise ValueError(f"{key} is {value!r}, expected a date 'YYYY-MM-DD' without time zone")
    return int(stamp.to_datetime64().astype("datetime64[s]").astype(np.int64))


def sorted_codes(column: pd.Series, name: str) -> tuple[np.ndarray, pd.Index]:
    """Ids -> ``(codes, names)``: (n,) int32 codes into ``names``, the sorted unique ids.

    Categoricals are recoded through their categories (no per-row strings); codes
    are then ranks in sorted id order, so sorting codes sorts ids.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        categories = column.cat.categories
        order = np.argsort(categories.to_numpy(), kind="stable")
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        missing = codes < 0
        codes, names = rank[codes], categories[order]
    else:
        codes, names = pd.factorize(column, sort=True)
        missing = codes < 0
        codes, names = codes.astype(np.int32), pd.Index(names)
    if missing.any():
        raise ValueError(
            f"plays: {name} is missing in {int(missing.sum())} rows (first at row {int(np.argmax(missing))})"
        )
    return codes, names


def track_lookup(track_id: pd.Series, track_idx: np.ndarray, n_tracks: int) -> tuple[np.ndarray, pd.Index]:
    """``(code_by_idx, names)``: names[code_by_idx[i]] is the track id of ``track_idx`` i.

    code_by_idx: (n_tracks,) int32, -1 for indices that never occur. Raises if one
    ``track_idx`` carries two different track ids.
    """
    codes, names = sorted_codes(track_id, "track_id")
    code_by_idx = np.full(n_tracks, -1, dtype=np.int32)
    code_by_idx[track_idx] = codes
    clash = np.flatnonzero(code_by_idx[track_idx] != codes)
    if len(clash):
        row = int(clash[0])
        raise ValueError(
            f"plays: track_idx {track_idx[row]} is paired with track ids {names[codes[row]]!r} and "
            f"{names[code_by_idx[track_idx[row]]]!r}; each track_idx must name one track"
        )
    return code_by_idx, names


def epoch_seconds(timestamp: pd.Series) -> np.ndarray:
    """Naive datetime64 column -> (n,) int64 seconds since 1970; raises on time zones or missing values."""
    if not np.issubdtype(timestamp.dtype, np.datetime64):
        raise ValueError(f"plays: timestamp has dtype {timestamp.dtype}, expected timezone-naive datetime64")
    values = timestamp.to_numpy()
    if np.isnat(values).any():
        raise ValueError(f"plays: timestamp is missing in {int(np.isnat(values).sum())} rows")
    return values.astype("datetime64[s]", copy=False).view(np.int64)


def aggregate_pairs(keys: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct key: ``(sorted unique keys, first second, number of plays)``, each (n_pairs,)."""
    if len(keys) == 0:
        return keys[:0], seconds[:0], np.zeros(0, dtype=np.int64)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    sorted_seconds = seconds[order]
    del order
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    first = np.minimum.reduceat(sorted_seconds, starts)
    count = np.diff(np.append(starts, len(sorted_keys)))
    return sorted_keys[starts], first, count


def sorted_contains(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """(n_needles,) bool: which ``needles`` occur in the sorted unique ``haystack``."""
    if len(haystack) == 0:
        return np.zeros(len(needles), dtype=bool)
    position = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return haystack[position] == needles


def choose_val_users(users: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """The val share of ``users`` (sorted unique codes): a seeded shuffle, first ``val_fraction`` of it.

    Rounded half up and kept within [1, n-1], so neither part is empty. Returns the
    chosen codes sorted. Raises with fewer than two users.
    """
    if len(users) < 2:
        raise ValueError(
            f"only {len(users)} test user(s) remain after filtering; at least 2 are needed to split them "
            "into val and test. Check the dates in config (split.test_date, split.end_date)."
        )
    n_val = min(max(int(np.floor(val_fraction * len(users) + 0.5)), 1), len(users) - 1)
    shuffled = np.random.default_rng(seed).permutation(users)
    return np.sort(shuffled[:n_val])


def pairs_frame(
    keys: np.ndarray,
    first: np.ndarray,
    count: np.ndarray,
    n_tracks: int,
    user_names: pd.Index,
    track_code_by_idx: np.ndarray,
    track_names: pd.Index,
) -> pd.DataFrame:
    """Aggregated pairs -> output frame (``OUTPUT_COLUMNS``) sorted by (user_id, timestamp, track_idx)."""
    user, track = np.divmod(keys, n_tracks)
    order = np.lexsort((track, first, user))
    user, track = user[order], track[order]
    return pd.DataFrame(
        {
            "user_id": pd.Categorical.from_codes(user, categories=user_names).remove_unused_categories(),
            "track_id": pd.Categorical.from_codes(
                track_code_by_idx[track], categories=track_names
            ).remove_unused_categories(),
            "track_idx": track.astype(np.int32),
            "timestamp": first[order].astype("datetime64[s]"),
            "count": count[order].astype(np.int32),
        }
    )


def _part_summary(part: pd.DataFrame) -> dict:
    return {
        "pairs": len(part),
        "users": int(part["user_id"].nunique()),
        "tracks": int(part["track_idx"].nunique()),
        "plays": int(part["count"].sum()),
    }


def _empty_window_message(
    part: str, start_date: str, test_date: str, end_date: str | None, counts: dict, seconds: np.ndarray
) -> str:
    first, last = (np.datetime64(int(value), "s") for value in (seconds.min(), seconds.max()))
    test_end = end_date if end_date is not None else "end of log"
    return (
        f"the {part} window is empty: {counts['train_window']} plays fall in train "
        f"[split.start_date={start_date}, split.test_date={test_date}) and {counts['test_window']} in test "
        f"[split.test_date={test_date}, split.end_date={test_end}); the plays span {first} to {last}. "
        "Check the dates in config (split.start_date, split.test_date, split.end_date)."
    )
