"""Top-N retrieval by inner product with each user's seen items removed.

One implementation for every recommender that scores items by ``user · item``: KNN
(normalised means), Shallow Net (its projected vectors) and BERT4Rec (the hidden state at
[MASK] against the tied item table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

USER_CHUNK = 4096  # users searched at once: bounds the (chunk, n + max_seen) candidate arrays


def _as_csr(seen, n_users: int, n_items: int) -> sp.csr_matrix:
    if sp.issparse(seen):
        matrix = sp.csr_matrix(seen)
    else:
        indptr, indices = seen
        indptr = np.asarray(indptr, dtype=np.int64)
        indices = np.asarray(indices, dtype=np.int64)
        matrix = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(n_users, n_items))
    if matrix.shape != (n_users, n_items):
        raise ValueError(f"seen has shape {matrix.shape}, expected (n_users, n_items) = {(n_users, n_items)}")
    return matrix


def top_n_excluding_seen(
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    seen,
    n: int,
    excluded_items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The n highest-scoring items per user by inner product, seen and excluded items removed.

    In: user_vectors (n_users, d), item_vectors (n_items, d), ``seen`` as a (n_users, n_items)
    scipy sparse matrix or an ``(indptr, indices)`` pair (CSR rows aligned with
    user_vectors), n, and optionally item indices that must never be returned.
    Out: indices (n_users, n) int64 and scores (n_users, n) float32, best first. Every user
    gets n items whenever the catalogue has n items that are neither seen nor excluded;
    otherwise the row is padded with index -1 and score -inf.

    Excluded items are left out of the FAISS ``IndexFlatIP``; each chunk of users is searched
    for ``n + max_seen`` candidates (so dropping seen items still leaves n), then the first
    n unseen ones are kept.
    """
    import faiss  # imported here: training code runs where FAISS is not installed

    users = np.ascontiguousarray(user_vectors, dtype=np.float32)
    items = np.ascontiguousarray(item_vectors, dtype=np.float32)
    if users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1]:
        raise ValueError(f"user_vectors {users.shape} and item_vectors {items.shape} must be 2-D with equal width")
    n_users, n_items = len(users), len(items)
    seen_csr = _as_csr(seen, n_users, n_items)
    keep = np.ones(n_items, dtype=bool)
    if excluded_items is not None and len(excluded_items):
        keep[np.asarray(excluded_items, dtype=np.int64)] = False
    candidate_items = np.flatnonzero(keep)
    indices = np.full((n_users, n), -1, dtype=np.int64)
    scores = np.full((n_users, n), -np.inf, dtype=np.float32)
    if n_users == 0 or n <= 0 or candidate_items.size == 0:
        return indices, scores

    index = faiss.IndexFlatIP(items.shape[1])
    index.add(np.ascontiguousarray(items[candidate_items]))
    seen_counts = np.diff(seen_csr.indptr)
    for start in range(0, n_users, USER_CHUNK):
        stop = min(start + USER_CHUNK, n_users)
        depth = int(min(candidate_items.size, n + seen_counts[start:stop].max(initial=0)))
        found_scores, found = index.search(users[start:stop], depth)
        found_items = np.where(found >= 0, candidate_items[np.maximum(found, 0)], -1)
        rows = seen_csr[start:stop]
        # A candidate is seen when (row, item) is a stored entry of the chunk's CSR rows.
        row_of = np.repeat(np.arange(stop - start), np.diff(rows.indptr))
        seen_keys = row_of * n_items + rows.indices.astype(np.int64)
        candidate_keys = np.arange(stop - start)[:, None] * n_items + found_items
        usable = (found_items >= 0) & ~np.isin(candidate_keys, seen_keys)
        # Stable sort puts usable candidates first in their score order.
        order = np.argsort(~usable, axis=1, kind="stable")[:, :n]
        picked_usable = np.take_along_axis(usable, order, axis=1)
        width = order.shape[1]
        indices[start:stop, :width] = np.where(picked_usable, np.take_along_axis(found_items, order, axis=1), -1)
        scores[start:stop, :width] = np.where(picked_usable, np.take_along_axis(found_scores, order, axis=1), -np.inf)
    return indices, scores


def recommendations_frame(user_ids: np.ndarray, indices: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Long table of recommendations: ``user_id, rank (1-based), track_idx, score``.

    In: user_ids (n_users,), indices and scores (n_users, n) from :func:`top_n_excluding_seen`.
    Out: one row per recommended item (padding -1 dropped), ordered by user then rank.
    """
    n_users, n = indices.shape
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.asarray(user_ids), n),
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int64), n_users),
            "track_idx": indices.reshape(-1),
            "score": scores.reshape(-1).astype(np.float32),
        }
    )
    return frame[frame["track_idx"] >= 0].reset_index(drop=True)


def recommend(
    interactions,
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    n: int,
    scores_from_inner_products=None,
) -> pd.DataFrame:
    """Top-n recommendations for every val ∪ test user among the candidates, train items removed.

    In: :class:`~musicrec.recommenders.inputs.Interactions`, user_vectors (n_users, h) in
    its user order, item_vectors (n_items, h), n, and an optional function mapping the
    (n_targets, n) inner products to the model's scores. Out: the recommendations table
    (``user_id, rank, track_idx, score``).
    """
    targets = interactions.target_users
    indices, scores = top_n_excluding_seen(
        user_vectors[targets],
        item_vectors,
        interactions.seen()[targets],
        n,
        excluded_items=np.flatnonzero(~interactions.item_is_candidate),
    )
    if scores_from_inner_products is not None:
        scores = np.where(indices >= 0, scores_from_inner_products(scores), -np.inf).astype(np.float32)
    return recommendations_frame(interactions.user_ids[targets], indices, scores)
