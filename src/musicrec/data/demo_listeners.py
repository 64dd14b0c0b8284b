"""Simulated listeners for the embedded demo: a Music4All-Onion-like listening log.

Tracks live in a *style space* built from what can be heard: tempo,
brightness, percussion, mode, softness, distortion, register and the genre
(which decides instruments, drum patterns and harmony). A listener's taste is
a mixture of one to three points in that space (each near a real track), so
their affinity for a track is the log of a Gaussian-mixture density there.

Listening is a sequence of sessions from the day the listener joins until the
end of the log. Each play either returns to a track already in the listener's
library (in proportion to how often it was played: favourites) or discovers a
new one, drawn from the taste mixture weighted by popularity, with a small
share of popularity-only exploration. Discoveries continue throughout, slowing
only as a listener comes to know the catalogue, so the last month holds first
plays drawn from the same taste as the year before: what a content-based
recommender can predict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from musicrec.data.demo_catalogue import random_ids
from musicrec.data.demo_audio import GENRES, STYLE_FACTORS

# Music4All-Onion's time span and the start of its test month.
ONION_START = pd.Timestamp("2019-02-20")
ONION_TEST_START = pd.Timestamp("2020-02-20")
ONION_END = pd.Timestamp("2020-03-20")

USER_ID_PREFIX = "user_"
USER_ID_LENGTH = 8

# How much each factor's difference counts in the style space; mode is hard to hear, so it counts less.
FACTOR_WEIGHTS = {"tempo": 1.0, "brightness": 1.0, "percussion": 1.0, "major": 0.4, "softness": 1.0,
                  "distortion": 1.0, "register": 0.6}
GENRE_WEIGHT = 0.5  # coordinate of the genre one-hot block: another genre is 2 * 0.5**2 = 0.5 away
TEMPO_RANGE_BPM = (60.0, 200.0)  # mapped onto [0, 1]
TASTE_WIDTH = 0.3  # standard deviation of a taste mode in the style space
ANCHOR_NOISE = 0.05  # how far a taste mode sits from the track it was modelled on
MAX_TASTE_MODES = 3
TASTE_MODE_PROBABILITIES = (0.45, 0.4, 0.15)  # one, two or three modes
EXPLORATION = 0.15  # share of discoveries driven by popularity alone
POPULARITY_EXPONENT = 0.6
JOIN_WINDOW = 0.7  # listeners join within the first 70% of the time before the test month
MEAN_SESSIONS_PER_DAY = 0.14
RATE_SPREAD = 0.45  # log-normal spread of how often listeners start a session
MEAN_SESSION_PLAYS = 4.0
# A play's chance of being a discovery is discovery * (unknown share of the catalogue) ** DISCOVERY_SLOWDOWN:
# barely slower in a large catalogue, but a small one is not exhausted before the test month.
DISCOVERY_SLOWDOWN = 0.5
DISCOVERY_BETA = (2.0, 5.0)  # per-listener probability (mean 0.29) that a play is a new track, while all are new
# Relative chance that a session starts in each hour of the day: quiet nights, busy evenings.
HOURLY_ACTIVITY = np.array([3, 2, 1, 1, 1, 1, 2, 4, 6, 6, 6, 6, 7, 7, 6, 6, 7, 8, 10, 11, 11, 10, 8, 5], dtype=float)


def style_matrix(catalogue: pd.DataFrame) -> np.ndarray:
    """Each track's position in the style space: (n_tracks, 7 + n_genres) float64.

    The first columns are :data:`STYLE_FACTORS` scaled to [0, 1] and by
    :data:`FACTOR_WEIGHTS`, the rest a one-hot genre code scaled by
    :data:`GENRE_WEIGHT`.
    """
    low, high = TEMPO_RANGE_BPM
    columns = []
    for factor in STYLE_FACTORS:
        values = catalogue[factor].to_numpy(dtype=float)
        if factor == "tempo":
            values = np.clip((values - low) / (high - low), 0.0, 1.0)
        columns.append(FACTOR_WEIGHTS[factor] * values)
    genre_codes = pd.Categorical(catalogue["genre"], categories=list(GENRES))
    if (genre_codes.codes < 0).any():
        unknown = sorted(set(catalogue["genre"][genre_codes.codes < 0]))
        raise ValueError(f"catalogue column 'genre': unknown genre(s) {unknown}; expected some of {list(GENRES)}")
    one_hot = GENRE_WEIGHT * np.eye(len(GENRES))[genre_codes.codes]
    return np.column_stack(columns + [one_hot])


@dataclass(frozen=True)
class Listeners:
    """Simulated listeners: their ids, tastes and habits (n users)."""

    user_id: np.ndarray  # (n,) str
    taste_modes: np.ndarray  # (n, MAX_TASTE_MODES, style dims): centres of the taste mixture
    taste_weights: np.ndarray  # (n, MAX_TASTE_MODES): mixture weights, 0 for unused modes, rows sum to 1
    sessions_per_day: np.ndarray  # (n,)
    discovery: np.ndarray  # (n,) probability that a play is a track not played before
    joined: np.ndarray  # (n,) datetime64[s], midnight of the first day of listening


def make_listeners(
    catalogue: pd.DataFrame,
    n_users: int,
    rng: np.random.Generator,
    start: pd.Timestamp = ONION_START,
    join_by: pd.Timestamp = ONION_TEST_START,
) -> Listeners:
    """Draw ``n_users`` listeners whose tastes sit near tracks of ``catalogue``.

    Each taste mode is modelled on a catalogue track (picked in proportion to
    the square root of popularity) plus a little noise, so tastes fall where
    music exists and can span genres. Listeners join between ``start`` and
    ``start + JOIN_WINDOW * (join_by - start)``.
    """
    styles = style_matrix(catalogue)
    n_factors = len(STYLE_FACTORS)
    popularity = np.sqrt(catalogue["popularity"].to_numpy(dtype=float))
    n_modes = rng.choice(np.arange(1, MAX_TASTE_MODES + 1), size=n_users, p=TASTE_MODE_PROBABILITIES)
    modes = np.zeros((n_users, MAX_TASTE_MODES, styles.shape[1]))
    weights = np.zeros((n_users, MAX_TASTE_MODES))
    for user, count in enumerate(n_modes):
        models = rng.choice(len(catalogue), size=count, replace=False, p=popularity / popularity.sum())
        modes[user, :count] = styles[models]
        modes[user, :count, :n_factors] += ANCHOR_NOISE * rng.standard_normal((count, n_factors))
        weights[user, :count] = rng.dirichlet(np.full(count, 2.0))

    sessions_per_day = rng.lognormal(np.log(MEAN_SESSIONS_PER_DAY) - 0.5 * RATE_SPREAD**2, RATE_SPREAD, size=n_users)
    discovery = rng.beta(*DISCOVERY_BETA, size=n_users)
    join_days = int((join_by - start).days * JOIN_WINDOW)
    join_day = rng.integers(0, max(join_days, 1), size=n_users)
    joined = np.datetime64(start.normalize(), "s") + join_day * np.timedelta64(1, "D")
    return Listeners(
        user_id=np.array(random_ids(n_users, USER_ID_LENGTH, rng, prefix=USER_ID_PREFIX)),
        taste_modes=modes,
        taste_weights=weights,
        sessions_per_day=sessions_per_day,
        discovery=discovery,
        joined=joined,
    )


def affinity(listeners: Listeners, catalogue: pd.DataFrame) -> np.ndarray:
    """Log taste density of every listener for every track: (n_users, n_tracks) float64.

    ``log sum_m w_m exp(-|z_track - mode_m|^2 / (2 TASTE_WIDTH^2))``; higher
    means closer to what the listener likes.
    """
    styles = style_matrix(catalogue)  # (t, d)
    modes = listeners.taste_modes  # (u, m, d)
    squared = (
        np.sum(modes**2, axis=2)[:, :, None]
        + np.sum(styles**2, axis=1)[None, None, :]
        - 2.0 * np.einsum("umd,td->umt", modes, styles)
    )
    log_kernel = -np.maximum(squared, 0.0) / (2.0 * TASTE_WIDTH**2)
    return logsumexp(log_kernel, axis=1, b=listeners.taste_weights[:, :, None])


def discovery_distribution(listeners: Listeners, catalogue: pd.DataFrame) -> np.ndarray:
    """Chance of each track being a listener's next discovery, known tracks not yet removed: (n_users, n_tracks)."""
    popularity = catalogue["popularity"].to_numpy(dtype=float) ** POPULARITY_EXPONENT
    taste = affinity(listeners, catalogue)
    taste = np.exp(taste - taste.max(axis=1, keepdims=True)) * popularity
    taste /= taste.sum(axis=1, keepdims=True)
    return (1.0 - EXPLORATION) * taste + EXPLORATION * popularity / popularity.sum()


def _session_starts(
    joined: np.datetime64, end: np.datetime64, rate_per_day: float, rng: np.random.Generator
) -> np.ndarray:
    """Sorted session start times (int seconds since the epoch): one on the day of joining, then a Poisson process."""
    seconds_per_day = 86_400
    first_day = joined.astype("datetime64[s]").astype(np.int64)
    n_days = max(int((end - joined) // np.timedelta64(1, "D")), 1)
    n_sessions = 1 + rng.poisson(rate_per_day * n_days)
    day = np.concatenate([[0], rng.integers(0, n_days, size=n_sessions - 1)])
    hour = rng.choice(24, size=n_sessions, p=HOURLY_ACTIVITY / HOURLY_ACTIVITY.sum())
    second_of_day = hour * 3600 + rng.integers(0, 3600, size=n_sessions)
    return np.sort(first_day + day * seconds_per_day + second_of_day)


def _draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to the non-negative ``weights``."""
    cumulative = np.cumsum(weights)
    return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))


def simulate_listening(
    catalogue: pd.DataFrame,
    listeners: Listeners,
    rng: np.random.Generator,
    end: pd.Timestamp = ONION_END,
) -> pd.DataFrame:
    """Simulate every listener's plays from the day they joined until ``end`` (exclusive).

    Returns ``user_id``, ``track_id``, ``timestamp`` (datetime64[s]), sorted
    by user then time; consecutive plays in a session are a track's
    ``duration_ms`` plus a short pause apart.
    """
    chance = discovery_distribution(listeners, catalogue)
    duration_s = catalogue["duration_ms"].to_numpy(dtype=float) / 1000.0
    end_s = int(np.datetime64(end, "s").astype(np.int64))
    end_day = np.datetime64(end, "s")
    users, tracks, times = [], [], []
    for user in range(len(listeners.user_id)):
        plays_per_track = np.zeros(len(catalogue))
        undiscovered = chance[user].copy()
        n_undiscovered = len(catalogue)
        last_play_ends = 0
        for session_start in _session_starts(listeners.joined[user], end_day, listeners.sessions_per_day[user], rng):
            now = max(int(session_start), last_play_ends)
            for _ in range(rng.geometric(1.0 / MEAN_SESSION_PLAYS)):
                if now >= end_s:
                    break
                # Discoveries slow down as the listener comes to know the catalogue.
                slowdown = (n_undiscovered / len(catalogue)) ** DISCOVERY_SLOWDOWN
                if n_undiscovered == len(catalogue) or rng.random() < listeners.discovery[user] * slowdown:
                    track = _draw(undiscovered, rng)
                    undiscovered[track] = 0.0
                    n_undiscovered -= 1
                else:
                    track = _draw(plays_per_track, rng)
                plays_per_track[track] += 1
                users.append(user)
                tracks.append(track)
                times.append(now)
                now += int(duration_s[track] + rng.integers(1, 20))
            last_play_ends = now
    log = pd.DataFrame({
        "user_id": listeners.user_id[np.asarray(users, dtype=np.int64)],
        "track_id": catalogue["track_id"].to_numpy()[np.asarray(tracks, dtype=np.int64)],
        "timestamp": np.asarray(times, dtype=np.int64).astype("datetime64[s]"),
    })
    return log.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
