"""KNN recommender: a user is the mean of their train items' audio embeddings.

User and item vectors are L2-normalised, so inner product = cosine similarity, and the top-N
items are retrieved exactly (FAISS flat inner-product index) with the user's train items
removed. Inputs are checked and indexed like the trained models' (``inputs``), and retrieval
is the one shared path (``retrieval.recommend``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from musicrec.recommenders.inputs import Interactions, check_embeddings, prepare_interactions
from musicrec.recommenders.options import KnnOptions
from musicrec.recommenders.retrieval import recommend


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero. (n, d) -> (n, d) float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def mean_item_vectors(interactions: Interactions, item_matrix: np.ndarray) -> np.ndarray:
    """(n_users, d): each user's mean train item embedding (KNN's user; Shallow Net's user init).

    Every user of ``interactions`` has at least one usable train item (prepare_interactions),
    and excluded items are already gone from its train arrays.
    """
    seen = interactions.seen()
    counts = np.asarray(seen.sum(axis=1)).ravel()
    return np.asarray(sp.diags(1.0 / counts) @ seen @ item_matrix, dtype=np.float32)


def fit_knn(
    embeddings: np.ndarray,
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    top_n: int,
    excluded_rows: np.ndarray | None = None,
    sources: Mapping[str, str] | None = None,
    candidates: str = "train",
    options: KnnOptions | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Top-N recommendations for every val ∪ test user from their train history.

    In: the (n_tracks, d) embedding matrix (rows listed in ``excluded_rows`` — failed audio —
    are never recommended nor averaged), the three split frames, top_n, and input file names
    for error messages, the candidate set (see ``prepare_interactions``); ``options`` and
    ``seed`` are accepted for the registry's uniform call and change nothing (KNN has no
    options, no randomness). Out: ``user_id, rank, track_idx, score`` (cosine), top_n rows
    per user unless fewer unheard candidate tracks exist.
    """
    item_matrix, usable = check_embeddings(
        embeddings, [] if excluded_rows is None else excluded_rows, (sources or {}).get("embeddings", "embeddings")
    )
    interactions = prepare_interactions(train_frame, val_frame, test_frame, usable, sources, candidates=candidates)
    users = l2_normalise(mean_item_vectors(interactions, item_matrix))
    return recommend(interactions, users, l2_normalise(item_matrix), top_n)
