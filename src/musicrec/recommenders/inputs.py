"""Checks and index the inputs of the trained recommenders before any training starts.

Every problem that would otherwise surface hours into a GPU job (a NaN in the item
matrix, a validation user without history, an empty validation split) is reported here,
with the file it came from and what to do about it.

Item rows listed as failures in the embedding sidecar (``on_bad_audio: skip`` writes NaN
rows for tracks whose audio could not be decoded) are *excluded*: they are replaced by
zeros, never drawn as negatives, never recommended, and dropped from every user's
history, validation and test items. Only NaN/inf in rows that are *not* listed as
failures is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from musicrec.io import read_embedding

SPLIT_COLUMNS = ("user_id", "track_idx", "timestamp", "count")
CANDIDATE_SETS = ("train", "catalogue")
DEFAULT_SOURCES = {
    "embeddings": "embeddings/{embedding}.npy",
    "sidecar": "embeddings/{embedding}.json",
    "train": "data/train.parquet",
    "val": "data/val.parquet",
    "test": "data/test.parquet",
    "options": "the model's config block",
}


class InputError(ValueError):
    """An input file or option is unusable; the message names it and the fix."""


def _source(sources: Mapping[str, str] | None, key: str) -> str:
    return (sources or {}).get(key, DEFAULT_SOURCES[key])


def _few(values: Sequence | np.ndarray, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def excluded_rows_from_sidecar(sidecar: Mapping, source: str = DEFAULT_SOURCES["sidecar"]) -> np.ndarray:
    """Rows of the embedding matrix whose audio failed, from the sidecar's ``failures``.

    In: the parsed sidecar JSON. Out: sorted unique int64 track indices (possibly empty).
    """
    failures = sidecar.get("failures", []) or []
    rows = []
    for position, failure in enumerate(failures):
        if not isinstance(failure, Mapping) or "track_idx" not in failure:
            raise InputError(
                f"{source}: failures[{position}] has no 'track_idx'; every failure must be an "
                "object with track_idx, track_id and reason (rerun the merge step that wrote it)"
            )
        rows.append(int(failure["track_idx"]))
    return np.unique(np.asarray(rows, dtype=np.int64))


def check_embeddings(
    embeddings: np.ndarray,
    excluded_rows: np.ndarray | Sequence[int] = (),
    source: str = DEFAULT_SOURCES["embeddings"],
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the (n_tracks, d) item matrix and blank its excluded rows.

    In: the embedding matrix and the rows listed as failures. Out: a float32 copy with the
    excluded rows set to zero, and a (n_tracks,) bool mask of usable rows. Raises
    :class:`InputError` for a matrix that is not 2-D, has no rows, or holds NaN/inf in a
    row that is not excluded.
    """
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(
            f"{source}: expected a (n_tracks, d) matrix with at least one row and column, got shape "
            f"{matrix.shape}; re-run the extraction that writes it"
        )
    excluded = np.unique(np.asarray(excluded_rows, dtype=np.int64))
    if excluded.size and (excluded[0] < 0 or excluded[-1] >= matrix.shape[0]):
        raise InputError(
            f"{source}: the sidecar lists failed rows outside 0..{matrix.shape[0] - 1} "
            f"({_few(excluded[(excluded < 0) | (excluded >= matrix.shape[0])])}); the sidecar and the "
            "matrix come from different runs: re-run the merge step"
        )
    usable = np.ones(matrix.shape[0], dtype=bool)
    usable[excluded] = False
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1) & usable)
    if bad_rows.size:
        raise InputError(
            f"{source}: rows {_few(bad_rows)} contain NaN or inf but are not listed as failures in the "
            "sidecar. Re-extract this backbone; to skip tracks whose audio cannot be embedded set "
            "extraction.on_bad_audio: skip, which lists them as failures so they are excluded"
        )
    if not usable.any():
        raise InputError(f"{source}: every row is listed as a failure; there are no items to recommend")
    cleaned = matrix.astype(np.float32, copy=True)
    cleaned[~usable] = 0.0
    return cleaned, usable


@dataclass(frozen=True)
class Interactions:
    """The splits as integer arrays, with users indexed 0..n_users-1.

    ``user_ids[u]`` is the original id of user index ``u`` (sorted, all train users), of the
    split's own type (strings stay strings, integers integers). Train arrays keep the
    contract's order: by user, then first-play time, then track. Excluded items are
    already removed everywhere. Candidates are the items any recommender may rank.
    """

    user_ids: np.ndarray  # (n_users,): original user ids, sorted, their own dtype
    train_user: np.ndarray  # (n_train,) int64 user index
    train_item: np.ndarray  # (n_train,) int64 track index
    train_count: np.ndarray  # (n_train,) float32 play count
    val_user: np.ndarray  # (n_val,) int64
    val_item: np.ndarray  # (n_val,) int64
    val_count: np.ndarray  # (n_val,) float32
    target_users: np.ndarray  # (n_targets,) int64: sorted user indices of val ∪ test users
    item_is_usable: np.ndarray  # (n_items,) bool
    item_is_candidate: np.ndarray  # (n_items,) bool: usable and allowed by the candidate set

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_is_usable)

    def train_indptr(self) -> np.ndarray:
        """(n_users + 1,) offsets: user u's train rows are ``indptr[u]:indptr[u + 1]``."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.train_user, minlength=self.n_users))])

    def seen(self) -> sp.csr_matrix:
        """(n_users, n_items) binary CSR of each user's train items."""
        data = np.ones(len(self.train_user), dtype=np.float32)
        matrix = sp.csr_matrix((data, (self.train_user, self.train_item)), shape=(self.n_users, self.n_items))
        matrix.sum_duplicates()
        return matrix


def _check_frame(frame: pd.DataFrame, name: str, sources: Mapping[str, str] | None, n_items: int) -> None:
    source = _source(sources, name)
    missing = [column for column in SPLIT_COLUMNS if column not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {missing}; the split must have user_id, track_id, track_idx, "
            "timestamp, count (re-run split_interactions)"
        )
    items = frame["track_idx"].to_numpy()
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        bad = np.flatnonzero((items < 0) | (items >= n_items))
        raise InputError(
            f"{source}: track_idx out of range 0..{n_items - 1} in rows {_few(bad)}; the split and the "
            "embedding matrix must index the same data/trackid_sorted.csv (re-run the stage that is stale)"
        )


def prepare_interactions(
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    item_is_usable: np.ndarray,
    sources: Mapping[str, str] | None = None,
    candidates: str = "train",
) -> Interactions:
    """Validate the three splits and turn them into integer arrays.

    In: the split frames (contract of ``data/{train,val,test}.parquet``), the (n_items,)
    usable-row mask from :func:`check_embeddings`, and the candidate set: ``train`` (the
    Onion protocol's: val/test items are tracks played in train, so only those are ranked)
    or ``catalogue`` (every usable track). Out: :class:`Interactions`. Raises
    :class:`InputError` for missing columns, out-of-range track indices, an empty train or
    val split, or a val/test user with no (usable) train items.
    """
    n_items = len(item_is_usable)
    for name, frame in (("train", train), ("val", val), ("test", test)):
        _check_frame(frame, name, sources, n_items)
    for name, frame in (("train", train), ("val", val)):
        if len(frame) == 0:
            raise InputError(
                f"{_source(sources, name)}: the {name} split is empty. Training needs train interactions "
                "and the validation loss needs val interactions: check split.test_date / end_date and "
                "val_fraction, or the data set's date range"
            )

    def usable_rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[item_is_usable[frame["track_idx"].to_numpy()]]

    train_kept = usable_rows(train)
    val_kept = usable_rows(val)
    if len(val_kept) == 0:
        raise InputError(
            f"{_source(sources, 'val')}: every val interaction is with an excluded (failed) track; "
            "the validation loss needs at least one usable val item"
        )

    if candidates not in CANDIDATE_SETS:
        raise InputError(f"evaluation.candidates = {candidates!r}; expected one of {CANDIDATE_SETS}")
    user_ids = np.unique(train_kept["user_id"].to_numpy())
    for name, frame in (("val", val), ("test", test)):
        ids = np.unique(frame["user_id"].to_numpy())
        without_history = ids[~np.isin(ids, user_ids)]
        if without_history.size:
            raise InputError(
                f"{_source(sources, name)}: user(s) {_few(without_history)} have no usable train items "
                f"(none in {_source(sources, 'train')}, or all of them excluded as failed audio). Every "
                "val/test user must have train history: re-run split_interactions, which keeps only such users"
            )

    def user_index(frame: pd.DataFrame) -> np.ndarray:
        return np.searchsorted(user_ids, frame["user_id"].to_numpy()).astype(np.int64)

    targets = np.union1d(user_index(val), user_index(test)).astype(np.int64)
    train_user = user_index(train_kept)
    train_item = train_kept["track_idx"].to_numpy().astype(np.int64)
    # The contract already sorts this way; re-sorting (by the user *index*) makes the
    # per-user offsets and the sequences' order independent of the id column's dtype.
    keys = pd.DataFrame({"user": train_user, "time": train_kept["timestamp"].to_numpy(), "item": train_item})
    order = keys.sort_values(["user", "time", "item"], kind="stable").index.to_numpy()
    return Interactions(
        user_ids=user_ids,
        train_user=train_user[order],
        train_item=train_item[order],
        train_count=train_kept["count"].to_numpy().astype(np.float32)[order],
        val_user=user_index(val_kept),
        val_item=val_kept["track_idx"].to_numpy().astype(np.int64),
        val_count=val_kept["count"].to_numpy().astype(np.float32),
        target_users=targets,
        item_is_usable=np.asarray(item_is_usable, dtype=bool),
        item_is_candidate=candidate_items(train_item, item_is_usable, candidates),
    )


def candidate_items(train_items: np.ndarray, item_is_usable: np.ndarray, candidates: str) -> np.ndarray:
    """(n_items,) bool: the items a recommender may rank under the candidate set ``candidates``."""
    allowed = np.asarray(item_is_usable, dtype=bool).copy()
    if candidates == "train":
        allowed &= np.bincount(train_items, minlength=len(allowed)).astype(bool)
    return allowed


def read_training_inputs(embeddings: str, sidecar: str, train: str, val: str, test: str, track_ids: str) -> dict:
    """Read a recommender's input files (the one place they are opened).

    In: paths of the embedding matrix (.npy), its sidecar (.json), the three splits
    (.parquet) and ``data/trackid_sorted.csv`` (row i of every matrix is its track i).
    Out: keyword arguments for the registry's fit functions: ``embeddings``,
    ``excluded_rows`` (from the sidecar's failures), ``train_frame``, ``val_frame``,
    ``test_frame`` and ``sources`` (the paths, for error messages). Raises
    :class:`musicrec.io.ArtefactError` naming the file when the matrix is not 2-D, its rows
    are not the catalogue's tracks, or it disagrees with its sidecar.
    """
    n_tracks = len(pd.read_csv(track_ids, usecols=["track_id"]))
    matrix, metadata = read_embedding(embeddings, sidecar, n_tracks=n_tracks)
    return {
        "embeddings": matrix,
        "excluded_rows": excluded_rows_from_sidecar(metadata, sidecar),
        "train_frame": pd.read_parquet(train),
        "val_frame": pd.read_parquet(val),
        "test_frame": pd.read_parquet(test),
        "sources": {
            "embeddings": str(embeddings),
            "sidecar": str(sidecar),
            "train": str(train),
            "val": str(val),
            "test": str(test),
        },
    }
