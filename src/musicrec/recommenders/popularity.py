"""Popularity baseline: every user gets the most-played train tracks they have not heard.

No embedding is involved, so its row in every table says what the audio (and the
collaborative signal a trained model extracts) adds over "play the hits".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from musicrec.recommenders.inputs import prepare_interactions
from musicrec.recommenders.options import PopularityOptions
from musicrec.recommenders.retrieval import recommend


def popularity_scores(train_item: np.ndarray, train_count: np.ndarray, n_items: int, by: str) -> np.ndarray:
    """(n_items,) float32 popularity: distinct train listeners (``listeners``) or summed plays (``plays``)."""
    weights = np.ones_like(train_count) if by == "listeners" else train_count
    return np.bincount(train_item, weights=weights, minlength=n_items).astype(np.float32)


def fit_popularity(
    n_items: int,
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    top_n: int,
    options: PopularityOptions | None = None,
    excluded_rows: np.ndarray | None = None,
    sources: Mapping[str, str] | None = None,
    candidates: str = "train",
    seed: int = 0,
) -> pd.DataFrame:
    """Top-N most popular candidate tracks for every val ∪ test user, their train tracks removed.

    In: the catalogue size, the three split frames, top_n, the options, the rows that are
    excluded (tracks no compared embedding could embed are still excluded from the item
    set at evaluation), input names for error messages, the candidate set. Ties are broken
    by track index, so the lists are deterministic (``seed`` changes nothing).
    Out: ``user_id, rank, track_idx, score`` (the popularity).
    """
    options = options or PopularityOptions()
    usable = np.ones(n_items, dtype=bool)
    if excluded_rows is not None:
        usable[np.asarray(excluded_rows, dtype=np.int64)] = False
    interactions = prepare_interactions(train_frame, val_frame, test_frame, usable, sources, candidates=candidates)
    scores = popularity_scores(interactions.train_item, interactions.train_count, n_items, options.by)
    # A rank-1 "embedding": every user's inner product with item i is its popularity, and a
    # tiny index-based term breaks ties in favour of the lower track index.
    tie_break = -np.arange(n_items, dtype=np.float64) / (n_items * 10.0 * (1 + scores.max()))
    item_vectors = (scores.astype(np.float64) / (1 + scores.max()) + tie_break).astype(np.float32)[:, None]
    user_vectors = np.ones((interactions.n_users, 1), dtype=np.float32)
    recs = recommend(interactions, user_vectors, item_vectors, top_n)
    recs["score"] = scores[recs["track_idx"].to_numpy()]
    return recs
