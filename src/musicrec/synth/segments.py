"""Listening histories as text: each user's most recent train plays, rendered from the catalogue.

A segment is the ``segment_size`` most recent (by first play) train tracks of a
user, oldest first, so item ``i`` of the prompt is ``segment[i]`` and the pivot
(the most recent remaining activity) is the highest remaining number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TRAIN_COLUMNS = ("user_id", "track_idx", "timestamp")
CATALOGUE_COLUMNS = ("track_id", "artist", "title", "album", "genres", "tags")
MAX_LABELS = 4  # genres / tags shown per track: enough to cluster on, short enough for a small context


@dataclass(frozen=True)
class Segment:
    user_id: str
    tracks: list[int]  # track_idx, oldest first


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; expected {list(columns)}")


def _labels(cell) -> list[str]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    if isinstance(cell, str):
        return [label.strip() for label in cell.split(",") if label.strip()]
    return [str(label) for label in cell]


def track_texts(catalogue: pd.DataFrame, track_ids: pd.Series | None = None,
                source: str = "data/catalogue.parquet") -> tuple[list[str], np.ndarray]:
    """One line of text per track, in ``track_ids`` order (row i = track_idx i), and a has-metadata mask.

    In: the catalogue (``track_id, artist, title, album, genres, tags``) and the
    sorted track ids (``data/trackid_sorted.csv`` order; default: the catalogue
    sorted by track_id). Out: ``(texts (n_tracks,), has_metadata (n_tracks,) bool)``;
    a track without artist and title renders as "unknown track" and is flagged.
    """
    _check_columns(catalogue, CATALOGUE_COLUMNS, source)
    table = catalogue.set_index(catalogue["track_id"].astype(str))
    order = (track_ids.astype(str) if track_ids is not None else pd.Series(sorted(table.index)))
    missing = sorted(set(order) - set(table.index))
    if missing:
        raise ValueError(f"{source}: {len(missing)} track id(s) of the track list are not in the catalogue, "
                         f"e.g. {missing[:5]}")
    rows = table.loc[order.to_numpy()]
    texts, has_metadata = [], []
    for artist, title, album, genres, tags in zip(rows["artist"], rows["title"], rows["album"], rows["genres"],
                                                  rows["tags"]):
        artist, title, album = (str(v).strip() if isinstance(v, str) else "" for v in (artist, title, album))
        known = bool(artist or title)
        has_metadata.append(known)
        parts = [f'"{title}" by {artist}' if known else "unknown track"]
        if album:
            parts.append(f"album {album}")
        if genre_list := _labels(genres)[:MAX_LABELS]:
            parts.append("genres " + ", ".join(genre_list))
        if tag_list := _labels(tags)[:MAX_LABELS]:
            parts.append("tags " + ", ".join(tag_list))
        texts.append("; ".join(parts))
    return texts, np.asarray(has_metadata, dtype=bool)


def user_segments(train: pd.DataFrame, segment_size: int, min_plays: int, users: list[str] | None = None,
                  source: str = "data/train.parquet") -> tuple[list[Segment], list[str]]:
    """The most recent ``segment_size`` train tracks of each user, and the users with fewer than ``min_plays``.

    In: train (``user_id, track_idx, timestamp``, one row per user-track); ``users``
    restricts and orders the result (default: every user, sorted). Out:
    ``(segments, too_short_user_ids)``.
    """
    _check_columns(train, TRAIN_COLUMNS, source)
    ordered = train.sort_values(["user_id", "timestamp", "track_idx"], kind="stable")
    by_user = {str(user): group["track_idx"].to_numpy() for user, group in ordered.groupby("user_id", sort=True)}
    wanted = sorted(by_user) if users is None else [str(user) for user in users]
    segments, too_short = [], []
    for user in wanted:
        tracks = by_user.get(user, np.array([], dtype=np.int64))
        if len(tracks) < min_plays:
            too_short.append(user)
            continue
        segments.append(Segment(user, [int(t) for t in tracks[-segment_size:]]))
    return segments, too_short


def render_items(texts: list[str], segment_tracks: list[int], indices: list[int]) -> str:
    """Numbered lines ``[i] <text of segment_tracks[i]>`` for the given item numbers."""
    return "\n".join(f"[{i}] {texts[segment_tracks[i]]}" for i in indices)


def context_text(texts: list[str], tracks: list[int]) -> str:
    """A listening context as one string (what the embedders and the student read), newest last."""
    return "Listened to: " + " | ".join(texts[t] for t in tracks)


def shard_users(user_ids: list[str], n_shards: int, shard: int, max_users: int | None, seed: int) -> list[str]:
    """The users of one shard: a seeded sample of ``max_users`` (None: all), dealt round-robin."""
    users = sorted(set(str(u) for u in user_ids))
    if max_users is not None and max_users < len(users):
        rng = np.random.default_rng(seed)
        users = sorted(rng.choice(users, size=max_users, replace=False).tolist())
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} outside 0..{n_shards - 1}")
    return users[shard::n_shards]
