"""Track search: "tracks like this one" from any embedding, and its quality on held-out artists.

:func:`nearest_tracks` builds an exact FAISS inner-product index over L2-normalised rows
(cosine similarity) and returns each track's top-k other tracks. :func:`same_artist_recall`
scores an embedding by whether a held-out track's nearest neighbours are its artist's other
tracks: for every query track of a held-out artist with at least two tracks, Recall@k =
(its same-artist tracks among its top k) / (its same-artist tracks), averaged over queries.
The index holds every valid track, so the rest of the catalogue are distractors. Held-out
artists are those no fusion was trained or validated on
(:func:`musicrec.layers.fusion_training.artist_roles`), so layers and fusion compare fairly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

NEIGHBOUR_COLUMNS = ["track_idx", "rank", "neighbour_idx", "score"]


def _unit_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid row indices, their L2-normalised float32 rows); rows with NaN or zero norm are left out."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    valid = np.flatnonzero(np.isfinite(norms) & (norms > 0))
    return valid, np.ascontiguousarray(matrix[valid] / norms[valid, None])


def _search(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid rows (m,), neighbours (m, k) as track indices, cosine scores (m, k)), self excluded."""
    import faiss

    valid, unit = _unit_rows(matrix)
    if len(valid) < 2:
        raise ValueError(f"need at least 2 tracks with a finite, non-zero embedding to search, got {len(valid)}")
    k = min(int(k), len(valid) - 1)
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    scores, positions = index.search(unit, k + 1)
    # Drop each query itself (normally first; with duplicate vectors anywhere in the list).
    own = positions == np.arange(len(valid))[:, None]
    own[~own.any(axis=1), -1] = True  # the query fell off the list: drop the last instead
    keep = ~own
    positions = positions[keep].reshape(len(valid), k)
    scores = scores[keep].reshape(len(valid), k)
    return valid, valid[positions], scores


def nearest_tracks(matrix: np.ndarray, k: int) -> pd.DataFrame:
    """Top-``k`` most cosine-similar other tracks of every valid track.

    In: an embedding (n, d) (NaN rows = failed tracks, neither queried nor returned), k.
    Out: ``track_idx, rank (1..k), neighbour_idx, score`` sorted by track then rank.
    """
    valid, neighbours, scores = _search(matrix, k)
    k_eff = neighbours.shape[1]
    return pd.DataFrame(
        {
            "track_idx": np.repeat(valid, k_eff).astype(np.int64),
            "rank": np.tile(np.arange(1, k_eff + 1), len(valid)).astype(np.int64),
            "neighbour_idx": neighbours.reshape(-1).astype(np.int64),
            "score": scores.reshape(-1).astype(np.float32),
        }
    )


def same_artist_recall(
    matrix: np.ndarray, artists: np.ndarray, queries: np.ndarray, ks: list[int], confidence: float = 0.95
) -> pd.DataFrame:
    """Recall@k of same-artist tracks for the ``queries`` (bool (n,), e.g. held-out artists' tracks).

    Out: one row per k: ``k, recall, lower, upper, n_queries`` (Student-t interval over queries).
    A query needs another valid track of its artist; queries without one are not counted.
    """
    artists = np.asarray(artists).astype(str)
    valid, neighbours, _ = _search(matrix, max(ks))
    codes = np.unique(artists, return_inverse=True)[1]
    is_valid = np.zeros(len(artists), dtype=bool)
    is_valid[valid] = True
    per_artist = np.bincount(codes[valid], minlength=codes.max() + 1)
    position = np.full(len(artists), -1)
    position[valid] = np.arange(len(valid))
    query_rows = np.flatnonzero(np.asarray(queries, dtype=bool) & is_valid)
    query_rows = query_rows[per_artist[codes[query_rows]] > 1]
    if len(query_rows) == 0:
        raise ValueError("no query track has another track of its artist; Recall@k is undefined")
    relevant = per_artist[codes[query_rows]] - 1
    hits = codes[neighbours[position[query_rows]]] == codes[query_rows][:, None]  # (q, k_max)
    rows = []
    for k in ks:
        recall = hits[:, :k].sum(axis=1) / relevant
        mean = float(recall.mean())
        if len(recall) > 1 and recall.std(ddof=1) > 0:
            half = float(stats.t.ppf((1 + confidence) / 2, len(recall) - 1) * recall.std(ddof=1) / np.sqrt(len(recall)))
        else:
            half = 0.0 if len(recall) > 1 else np.nan
        rows.append((int(k), mean, mean - half, mean + half, len(recall)))
    return pd.DataFrame(rows, columns=["k", "recall", "lower", "upper", "n_queries"])
