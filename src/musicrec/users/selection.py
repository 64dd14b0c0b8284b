"""Which songs a new user is asked to score next: at random, or actively.

Both return, per user, an order over the columns of its candidate pool (B, P), so the first N of
that order are "the N songs revealed". Active selection runs Bayesian linear regression along the
way (batched over users, rank-one updates) and, at each step, asks for the candidate with the
largest posterior variance of its predicted score (``uncertainty``) or the largest upper
confidence bound ``mean + α·sd`` (``linucb``), reveals its score, and updates the posterior.
"""

from __future__ import annotations

import torch

SELECTION_MODES = ("random", "uncertainty", "linucb")


def random_order(n_users: int, n_candidates: int, generator: torch.Generator) -> torch.Tensor:
    """(n_users, n_candidates) int64: an independent random permutation per user."""
    keys = torch.rand(n_users, n_candidates, generator=generator, device=generator.device)
    return keys.argsort(dim=1)


def active_order(
    candidates: torch.Tensor,
    targets: torch.Tensor,
    prior_mean: torch.Tensor,
    prior_covariance: torch.Tensor,
    noise_variance: float,
    n: int,
    mode: str = "uncertainty",
    alpha: float = 1.0,
) -> torch.Tensor:
    """(B, n) int64: the first n columns each user is asked about, in order.

    In: candidates (B, P, h) song vectors of each user's pool, targets (B, P) the numeric value
    of the score each song would get (revealed only once asked), the BLR prior (h,), (h, h), the
    noise variance, n <= P, mode ``uncertainty`` or ``linucb``, alpha the UCB width.
    """
    if mode not in ("uncertainty", "linucb"):
        raise ValueError(f"active selection mode {mode!r}; expected 'uncertainty' or 'linucb'")
    batch, pool, h = candidates.shape
    n = min(n, pool)
    mean = prior_mean.expand(batch, h).clone()
    covariance = prior_covariance.expand(batch, h, h).clone()
    asked = torch.zeros(batch, pool, dtype=torch.bool, device=candidates.device)
    order = torch.empty(batch, n, dtype=torch.long, device=candidates.device)
    rows = torch.arange(batch, device=candidates.device)
    for step in range(n):
        spread = torch.einsum("bph,bhk,bpk->bp", candidates, covariance, candidates).clamp(min=0.0)
        value = spread if mode == "uncertainty" else torch.einsum("bph,bh->bp", candidates, mean) + alpha * spread.sqrt()
        pick = value.masked_fill(asked, -torch.inf).argmax(dim=1)
        order[:, step] = pick
        asked[rows, pick] = True
        v = candidates[rows, pick]  # (B, h)
        shared = torch.einsum("bhk,bk->bh", covariance, v)
        denominator = noise_variance + (v * shared).sum(-1, keepdim=True)
        residual = targets[rows, pick].unsqueeze(-1) - (v * mean).sum(-1, keepdim=True)
        mean = mean + shared * residual / denominator
        covariance = covariance - torch.einsum("bh,bk->bhk", shared, shared) / denominator.unsqueeze(-1)
    return order
