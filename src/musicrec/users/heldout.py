"""Ranking quality of user vectors on held-out songs: per-user AUC, NDCG@k and Recall@k.

Used for the generator's ceiling (true tastes), the aligner and every cold-start estimate, so
all of them are measured by one definition. Relevance is binary: a song is relevant to a user
when the user's (sampled) score reaches the "liked" threshold.
"""

from __future__ import annotations

import numpy as np
import torch

QUALITY_METRICS = ("auc", "ndcg@10", "recall@10")


def ranking_quality(scores: torch.Tensor, relevant: torch.Tensor, k: int = 10) -> dict[str, torch.Tensor]:
    """Per-user AUC, NDCG@k and Recall@k of ``scores`` against binary ``relevant``.

    In: scores (n_users, n_songs) float (higher = ranked first), relevant (n_users, n_songs)
    bool, both over the same held-out songs. Out: {"auc", f"ndcg@{k}", f"recall@{k}"} ->
    (n_users,) float64 tensors on the CPU. AUC is NaN for a user with no relevant or no
    irrelevant song, NDCG and Recall are NaN for a user with no relevant song: such users carry
    no information and are left out of means (``nanmean``), never counted as zero.
    """
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} must be equal 2-D shapes")
    scores = scores.detach().double().cpu()
    relevant = relevant.detach().bool().cpu()
    n_songs = scores.shape[1]
    positives = relevant.sum(dim=1).double()
    negatives = n_songs - positives
    # Mann-Whitney U from ranks (1-based, ascending); continuous scores make ties negligible.
    ranks = torch.empty_like(scores)
    order = scores.argsort(dim=1)
    ranks.scatter_(1, order, torch.arange(1, n_songs + 1, dtype=torch.float64).expand_as(scores).contiguous())
    rank_sum = (ranks * relevant).sum(dim=1)
    auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    auc = torch.where((positives > 0) & (negatives > 0), auc, torch.full_like(auc, float("nan")))

    k = min(k, n_songs)
    top = scores.topk(k, dim=1).indices
    hits = relevant.gather(1, top).double()
    discounts = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    dcg = (hits * discounts).sum(dim=1)
    ideal = torch.cumsum(discounts, 0)[(positives.clamp(min=1, max=k) - 1).long()]
    has_positive = positives > 0
    nan = torch.full_like(dcg, float("nan"))
    return {
        "auc": auc,
        f"ndcg@{k}": torch.where(has_positive, dcg / ideal, nan),
        f"recall@{k}": torch.where(has_positive, hits.sum(dim=1) / positives.clamp(min=1), nan),
    }


def mean_quality(quality: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean of each per-user metric over the users for which it is defined."""
    return {name: float(np.nanmean(values.numpy())) for name, values in quality.items()}
