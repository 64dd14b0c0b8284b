"""Baselines of the cold-start curve, batched over users: prior only, mean of liked songs,
closed-form ridge, Bayesian linear regression (posterior mean).

All work in the aligner's space on a :class:`~musicrec.users.estimator.FeedbackBatch`
(songs (B, N, h), scores (B, N), mask (B, N)). The regressions need a numeric target per score:
:func:`score_targets` maps score k to the mean cosine between the reference vector and the songs
scored k by the train users (so targets live on the scale of the references), and gives the
residual variance that Bayesian linear regression takes as its noise variance.
"""

from __future__ import annotations

import numpy as np
import torch

from musicrec.users.estimator import FeedbackBatch
from musicrec.users.simulation import N_SCORES


def score_targets(
    references: np.ndarray, song_vectors: np.ndarray, observed: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, float]:
    """Target per score level (6,) and the noise variance, from train users.

    In: references (U, h) of the train users, song_vectors (n_songs, h), observed (U, P) song
    indices they scored, scores (U, n_songs). Out: ``targets[k]`` = mean of ``r_u · v_s`` over
    pairs scored k (a level nobody used gets the linear interpolation of its neighbours) and
    the variance of ``r_u · v_s − targets[score]``.
    """
    cosines = np.einsum("uh,uph->up", references, song_vectors[observed])
    levels = np.take_along_axis(scores, observed, axis=1)
    targets = np.full(N_SCORES, np.nan)
    for k in range(N_SCORES):
        if (levels == k).any():
            targets[k] = cosines[levels == k].mean()
    known = np.flatnonzero(np.isfinite(targets))
    if known.size == 0:
        raise ValueError("no scored pair among the train users: cannot calibrate the score targets")
    targets = np.interp(np.arange(N_SCORES), known, targets[known])
    noise = float(np.var(cosines - targets[levels]))
    return targets.astype(np.float32), max(noise, 1e-6)


def prior_only(prior_mean: torch.Tensor, batch: int) -> torch.Tensor:
    """(B, h): the prior mean for every user."""
    return prior_mean.expand(batch, -1).clone()


def mean_of_liked(feedback: FeedbackBatch, like_threshold: int, prior_mean: torch.Tensor) -> torch.Tensor:
    """(B, h): mean of the revealed liked songs' vectors (KNN's user); the prior when none is liked."""
    liked = (feedback.mask & (feedback.scores >= like_threshold)).to(feedback.songs.dtype)
    total = torch.einsum("bn,bnh->bh", liked, feedback.songs)
    count = liked.sum(dim=1, keepdim=True)
    return torch.where(count > 0, total / count.clamp(min=1.0), prior_mean.expand_as(total))


def _design(feedback: FeedbackBatch, targets: torch.Tensor):
    present = feedback.mask.to(feedback.songs.dtype)
    design = feedback.songs * present.unsqueeze(-1)  # padded rows are zero: they drop out of VᵀV and Vᵀy
    y = targets.to(feedback.songs)[feedback.scores] * present
    return design, y


def ridge(feedback: FeedbackBatch, targets: torch.Tensor, prior_mean: torch.Tensor, strength: float) -> torch.Tensor:
    """(B, h): ``argmin_u Σ_i (y_i − v_i·u)² + λ‖u − μ‖²`` = ``μ + (VᵀV + λI)⁻¹ Vᵀ(y − Vμ)``."""
    design, y = _design(feedback, targets)
    h = design.shape[-1]
    gram = design.transpose(1, 2) @ design + strength * torch.eye(h, dtype=design.dtype, device=design.device)
    residual = y - design @ prior_mean
    return prior_mean + torch.linalg.solve(gram, (design.transpose(1, 2) @ residual.unsqueeze(-1)).squeeze(-1))


def blr_posterior(
    feedback: FeedbackBatch,
    targets: torch.Tensor,
    prior_mean: torch.Tensor,
    prior_covariance: torch.Tensor,
    noise_variance: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bayesian linear regression ``y = V u + ε``, ``u ~ N(μ, Σ)``, ``ε ~ N(0, σ²)``: posterior (mean (B, h), covariance (B, h, h)).

    Posterior precision ``A = Σ⁻¹ + VᵀV/σ²`` and mean ``A⁻¹ (Σ⁻¹μ + Vᵀy/σ²)``.
    """
    design, y = _design(feedback, targets)
    prior_precision = torch.linalg.inv(prior_covariance)
    precision = prior_precision + design.transpose(1, 2) @ design / noise_variance
    right = prior_precision @ prior_mean + (design.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1) / noise_variance
    covariance = torch.linalg.inv(precision)
    return (covariance @ right.unsqueeze(-1)).squeeze(-1), covariance
