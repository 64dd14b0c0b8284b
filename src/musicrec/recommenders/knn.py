"""KNN recommender: a user is the mean of their train items' audio embeddings.

User and item vectors are L2-normalised, so inner product = cosine similarity,
and the top-N items are retrieved exactly (FAISS flat inner-product index) with
the user's train items removed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from musicrec.recommenders.retrieval import recommendations_frame, top_n_excluding_seen


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero. (n, d) -> (n, d) float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def interaction_matrix(user_codes: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary (n_users, n_items) CSR matrix of who played what (duplicates collapse to 1)."""
    matrix = sp.csr_matrix(
        (np.ones(len(user_codes), dtype=np.float32), (user_codes, item_idx)), shape=(n_users, n_items)
    )
    matrix.data[:] = 1.0
    return matrix


def mean_item_profiles(seen: sp.csr_matrix, item_vectors: np.ndarray, usable_items: np.ndarray) -> np.ndarray:
    """Each user's mean over their usable seen items' vectors.

    seen: (n_users, n_items) binary CSR; item_vectors: (n_items, d); usable_items:
    (n_items,) bool, False for tracks without an embedding (bad audio, NaN rows),
    which are left out of the mean. Returns (n_users, d) float32; a user with no
    usable item gets a zero vector (and then only popularity-free ties).
    """
    usable = seen @ sp.diags(usable_items.astype(np.float32))
    counts = np.asarray(usable.sum(axis=1)).ravel()
    safe_items = np.where(usable_items[:, None], item_vectors, 0.0).astype(np.float32)
    sums = usable @ safe_items
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)


def recommend_knn(
    item_vectors: np.ndarray,
    train: pd.DataFrame,
    users: np.ndarray,
    top_n: int,
) -> pd.DataFrame:
    """Top-N recommendations for ``users`` from their ``train`` history.

    item_vectors: (n_items, d) embedding matrix, NaN rows = tracks to exclude;
    train: frame with ``user_id`` and ``track_idx``; users: user ids to recommend
    for (each must have train plays). Returns ``user_id, rank, track_idx, score``
    with ``top_n`` rows per user (fewer only if the catalogue runs out).
    """
    n_items = item_vectors.shape[0]
    usable_items = np.isfinite(item_vectors).all(axis=1)
    train = train[train["user_id"].isin(users)]
    user_index = pd.Index(np.sort(np.asarray(users)))
    missing = np.setdiff1d(user_index.to_numpy(), train["user_id"].unique())
    if len(missing):
        raise ValueError(
            f"{len(missing)} users to recommend for have no train plays (e.g. {list(missing[:5])}); "
            "the split keeps only users present in train, so the split outputs are inconsistent"
        )
    seen = interaction_matrix(
        user_index.get_indexer(train["user_id"]), train["track_idx"].to_numpy(), len(user_index), n_items
    )
    profiles = l2_normalise(mean_item_profiles(seen, item_vectors, usable_items))
    items = l2_normalise(np.where(usable_items[:, None], item_vectors, 0.0))
    indices, scores = top_n_excluding_seen(
        profiles, items, seen, top_n, excluded_items=np.flatnonzero(~usable_items)
    )
    return recommendations_frame(user_index.to_numpy(), indices, scores)
