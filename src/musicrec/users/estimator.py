"""The feedback estimator: a user vector updated from batches of (song, score), for many users at once.

A generic user (the prior mean ``μ``: the mean of the aligner's user vectors, or an injected
embedding) is refined by ``steps`` proximal gradient steps on, per user,

    L(u) = mean_i NLL(score_i | link(cos(u, v_i)))                  (the feedback likelihood)
         + λ_c · mean_i w_i · ρ(E[score | u, v_i] / 5 − score_i / 5)  (score consistency; ρ: MSE or Huber)
         + λ_p · ½ (u − μ)ᵀ P (u − μ)                                  (prior; P = I or Σ⁻¹)

where the link maps a cosine to 6 categorical logits, ``logit_k = a_k · cos + b_k``, ``w_i`` are
optional confidence weights and ``Σ`` is the covariance of the synthetic train users' vectors
(shrunk towards a scaled identity so it can be inverted). The learnable parts — the link's 12
numbers and the step size — are *meta-trained* through the unrolled steps so that the estimate
approaches the aligner's reference vector for that user: the training loss is the squared L2
distance between the normalised estimate and the reference (the note's objective), trained by the
project's one loop on train users, validated on val users. The regularisers' λ are not trained:
they are chosen afterwards on validation users (:func:`choose_regularisers`).

Vectorised. Users never interact: the objective of a batch is the sum of per-user objectives, so
one autograd call gives every user's gradient, and thousands of users are one (B, N, h) tensor
program (CUDA when present). Songs per user are padded to a common N with a mask; a user with
no revealed song keeps the prior mean.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from musicrec.recommenders.inputs import InputError
from musicrec.recommenders.training import LoopSettings, TrainingOutcome, choose_device, fingerprint, train
from musicrec.users.simulation import N_SCORES

CONSISTENCY_KINDS = ("none", "mse", "huber")
PRIOR_KINDS = ("none", "isotropic", "mahalanobis")


@dataclass(frozen=True)
class Regularisers:
    """Which regularisers the estimate uses, and their weights (λ >= 0)."""

    consistency: str = "none"
    lambda_consistency: float = 0.0
    huber_delta: float = 0.1
    confidence_weighted: bool = False
    prior: str = "none"
    lambda_prior: float = 0.0

    def __post_init__(self):
        if self.consistency not in CONSISTENCY_KINDS:
            raise InputError(f"users.estimator.consistency: {self.consistency!r}; expected one of {CONSISTENCY_KINDS}")
        if self.prior not in PRIOR_KINDS:
            raise InputError(f"users.estimator.prior: {self.prior!r}; expected one of {PRIOR_KINDS}")
        for key in ("lambda_consistency", "lambda_prior", "huber_delta"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InputError(f"users.estimator.{key}: {value!r}; expected a finite number >= 0")

    @property
    def label(self) -> str:
        """The ablation cell: none, consistency, prior or both."""
        uses = (self.consistency != "none" and self.lambda_consistency > 0, self.prior != "none" and self.lambda_prior > 0)
        return {(False, False): "none", (True, False): "consistency", (False, True): "prior", (True, True): "both"}[uses]


@dataclass(frozen=True)
class EstimatorOptions:
    """Config block ``users.estimator`` (its training part; λ grids live in ``users.coldstart``)."""

    steps: int = 20
    initial_step: float = 0.5
    covariance_shrinkage: float = 0.1
    max_songs: int = 64  # songs revealed to a train user during meta-training: 1..max_songs
    batch_size: int = 128
    lr: float = 1e-2
    max_epochs: int = 30
    patience: int = 4
    lr_patience: int = 2
    device: str = "auto"


def prior_from_users(user_vectors: np.ndarray, shrinkage: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean (h,) and precision (h, h) of a set of user vectors (n, h).

    The covariance is shrunk towards ``trace/h · I`` by ``shrinkage`` in [0, 1] (Ledoit-Wolf
    style), so that it is invertible with fewer users than dimensions.
    """
    vectors = np.asarray(user_vectors, dtype=np.float64)
    if len(vectors) < 2:
        raise InputError("the prior needs the vectors of at least 2 train users")
    if not 0.0 <= shrinkage <= 1.0:
        raise InputError(f"users.estimator.covariance_shrinkage: {shrinkage}; expected a value in [0, 1]")
    mean = vectors.mean(axis=0)
    covariance = np.cov(vectors, rowvar=False)
    target = np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    covariance = (1 - shrinkage) * covariance + shrinkage * target
    return mean.astype(np.float32), np.linalg.inv(covariance).astype(np.float32)


class FeedbackEstimator(nn.Module):
    """prior_mean (h,), prior_precision (h, h); steps of gradient descent from the prior."""

    def __init__(self, prior_mean: torch.Tensor, prior_precision: torch.Tensor, steps: int, initial_step: float):
        super().__init__()
        self.register_buffer("prior_mean", torch.as_tensor(prior_mean, dtype=torch.float32).clone())
        self.register_buffer("prior_precision", torch.as_tensor(prior_precision, dtype=torch.float32).clone())
        self.steps = int(steps)
        # An ordinal start: score k grows more likely with the cosine in proportion to k.
        self.slope = nn.Parameter(torch.linspace(-4.0, 4.0, N_SCORES))
        self.bias = nn.Parameter(torch.zeros(N_SCORES))
        self.log_step = nn.Parameter(torch.tensor(math.log(initial_step)))

    def score_logits(self, users: torch.Tensor, songs: torch.Tensor) -> torch.Tensor:
        """users (B, h), songs (B, N, h) unit rows -> (B, N, 6) logits of the 6 scores."""
        cosine = torch.einsum("bh,bnh->bn", F.normalize(users, dim=-1), songs)
        return cosine.unsqueeze(-1) * self.slope + self.bias

    def objective(
        self,
        users: torch.Tensor,
        songs: torch.Tensor,
        scores: torch.Tensor,
        mask: torch.Tensor,
        weights: torch.Tensor | None,
        regularisers: Regularisers,
    ) -> torch.Tensor:
        """L(u) per user: (B,). songs (B, N, h); scores (B, N) int 0..5; mask (B, N) bool; weights (B, N) or None."""
        log_p = torch.log_softmax(self.score_logits(users, songs), dim=-1)
        present = mask.to(log_p.dtype)
        count = present.sum(dim=1).clamp(min=1.0)
        nll = -log_p.gather(-1, scores.unsqueeze(-1)).squeeze(-1)
        loss = (nll * present).sum(dim=1) / count
        if regularisers.consistency != "none" and regularisers.lambda_consistency > 0:
            levels = torch.arange(N_SCORES, dtype=log_p.dtype, device=log_p.device)
            predicted = (log_p.exp() * levels).sum(-1) / (N_SCORES - 1)
            target = scores.to(log_p.dtype) / (N_SCORES - 1)
            if regularisers.consistency == "mse":
                gap = (predicted - target) ** 2
            else:
                gap = F.huber_loss(predicted, target, reduction="none", delta=regularisers.huber_delta)
            weight = present
            if regularisers.confidence_weighted and weights is not None:
                weight = present * weights
            loss = loss + regularisers.lambda_consistency * (gap * weight).sum(dim=1) / weight.sum(dim=1).clamp(
                min=1e-12
            )
        if regularisers.prior != "none" and regularisers.lambda_prior > 0:
            offset = users - self.prior_mean
            if regularisers.prior == "isotropic":
                penalty = 0.5 * (offset**2).sum(dim=-1)
            else:
                penalty = 0.5 * torch.einsum("bh,hk,bk->b", offset, self.prior_precision, offset)
            loss = loss + regularisers.lambda_prior * penalty
        return loss

    def estimate(
        self,
        songs: torch.Tensor,
        scores: torch.Tensor,
        mask: torch.Tensor,
        weights: torch.Tensor | None = None,
        regularisers: Regularisers = Regularisers(),
        start: torch.Tensor | None = None,
        create_graph: bool = False,
    ) -> torch.Tensor:
        """Estimated user vectors (B, h) from revealed feedback.

        In: songs (B, N, h) unit song vectors, scores (B, N) int, mask (B, N) bool (False =
        padding), optional confidence weights (B, N), the regularisers, an optional injected
        start (B, h) or (h,) (default: the prior mean), and ``create_graph`` (True only to
        meta-train through the steps). A user whose mask is all False keeps its start.
        """
        batch = songs.shape[0]
        users = (self.prior_mean if start is None else start.to(self.prior_mean)).expand(batch, -1).clone()
        step = self.log_step.exp()
        # Proximal gradient: a gradient step on the feedback terms, then the exact minimiser of
        # the quadratic prior around it, u ← (I + ηλP)⁻¹ (u − η∇ + ηλPμ). A plain gradient step
        # on the prior diverges once ηλ·eig(P) > 2 (the Mahalanobis precision of unit vectors in
        # h dimensions has eigenvalues of order h), so any λ is stable this way.
        data_terms = replace(regularisers, prior="none", lambda_prior=0.0)
        proximal = None
        if regularisers.prior != "none" and regularisers.lambda_prior > 0:
            h = users.shape[1]
            precision = self.prior_precision if regularisers.prior == "mahalanobis" else torch.eye(h).to(users)
            weight = step * regularisers.lambda_prior
            system = torch.eye(h, dtype=users.dtype, device=users.device) + weight * precision
            proximal = (system, weight * (precision @ self.prior_mean))
        with torch.enable_grad():
            if not create_graph:
                users = users.detach()
            for _ in range(self.steps):
                if not users.requires_grad:
                    users.requires_grad_(True)
                loss = self.objective(users, songs, scores, mask, weights, data_terms).sum()
                (gradient,) = torch.autograd.grad(loss, users, create_graph=create_graph)
                users = users - step * gradient
                if proximal is not None:
                    system, shift = proximal
                    users = torch.linalg.solve(system, (users + shift).T).T
                if not create_graph:
                    users = users.detach()
        return users if create_graph else users.detach()


def normalised_distance(estimates: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(B,) L2 distance between unit-normalised estimates and (unit) references: in [0, 2]."""
    return (F.normalize(estimates, dim=-1) - F.normalize(references, dim=-1)).norm(dim=-1)


@dataclass
class FeedbackBatch:
    """Revealed feedback of B users, padded: songs (B, N, h), scores (B, N), mask (B, N), weights (B, N) or None."""

    songs: torch.Tensor
    scores: torch.Tensor
    mask: torch.Tensor
    weights: torch.Tensor | None = None

    def first(self, n: int | torch.Tensor) -> "FeedbackBatch":
        """Only the first n columns of each user revealed (an int, or (B,) per-user counts)."""
        width = self.mask.shape[1]
        limit = torch.as_tensor(n, device=self.mask.device)
        keep = torch.arange(width, device=self.mask.device) < limit.reshape(-1, 1)
        return replace(self, mask=self.mask & keep)


def gather_feedback(
    song_vectors: torch.Tensor, songs: np.ndarray | torch.Tensor, scores: np.ndarray | torch.Tensor, mask=None, weights=None
) -> FeedbackBatch:
    """A :class:`FeedbackBatch` from song indices (B, N) into song_vectors (n_songs, h) and scores (B, N)."""
    device = song_vectors.device
    songs = torch.as_tensor(np.asarray(songs), device=device, dtype=torch.long)
    mask = torch.ones_like(songs, dtype=torch.bool) if mask is None else torch.as_tensor(np.asarray(mask), device=device)
    return FeedbackBatch(
        songs=song_vectors[songs.clamp(min=0)],
        scores=torch.as_tensor(np.asarray(scores), device=device, dtype=torch.long).clamp(0, N_SCORES - 1),
        mask=mask.bool() & (songs >= 0),
        weights=None if weights is None else torch.as_tensor(np.asarray(weights), device=device, dtype=torch.float32),
    )


class EstimatorTask:
    """Meta-training of the estimator's link and step size (a TrainingTask of the shared loop).

    Each epoch every train user appears once, with a random order of its observed songs and a
    random number 1..max_songs of them revealed; the loss is the mean squared normalised distance
    of the estimate to the user's reference vector. The validation loss does the same on val
    users with orders and counts fixed once.
    """

    def __init__(
        self,
        estimator: FeedbackEstimator,
        song_vectors: np.ndarray,
        observed: np.ndarray,
        scores: np.ndarray,
        references: np.ndarray,
        train_users: np.ndarray,
        val_users: np.ndarray,
        options: EstimatorOptions,
        seed: int,
    ):
        self.device = choose_device(options.device)
        self.model = estimator.to(self.device)
        self.options = options
        self.song_vectors = torch.as_tensor(song_vectors, device=self.device)
        self.observed = torch.as_tensor(observed, device=self.device)
        self.observed_scores = torch.as_tensor(np.take_along_axis(scores, observed, axis=1), device=self.device)
        self.references = torch.as_tensor(references, device=self.device)
        self.train_users = torch.as_tensor(train_users, device=self.device)
        self.max_songs = min(options.max_songs, observed.shape[1])
        generator = torch.Generator().manual_seed(seed)
        self.val_batch = self._batch(torch.as_tensor(val_users, device=self.device), generator)

    def _batch(self, users: torch.Tensor, generator: torch.Generator):
        keys = torch.rand(len(users), self.observed.shape[1], generator=generator, device=generator.device)
        order = keys.to(self.device).argsort(dim=1)[:, : self.max_songs]
        counts = torch.randint(1, self.max_songs + 1, (len(users),), generator=generator, device=generator.device)
        songs = self.observed[users].gather(1, order)
        feedback = FeedbackBatch(
            songs=self.song_vectors[songs],
            scores=self.observed_scores[users].gather(1, order),
            mask=torch.ones_like(songs, dtype=torch.bool),
        ).first(counts.to(self.device))
        return feedback, self.references[users]

    def n_train_batches(self) -> int:
        return -(-len(self.train_users) // self.options.batch_size)

    def train_batches(self, generator: torch.Generator):
        order = torch.randperm(len(self.train_users), generator=generator, device=generator.device).to(self.device)
        for start in range(0, len(order), self.options.batch_size):
            yield self._batch(self.train_users[order[start : start + self.options.batch_size]], generator)

    def _loss(self, batch, create_graph: bool) -> torch.Tensor:
        feedback, references = batch
        estimates = self.model.estimate(feedback.songs, feedback.scores, feedback.mask, create_graph=create_graph)
        return (normalised_distance(estimates, references) ** 2).mean()

    def train_loss(self, batch) -> torch.Tensor:
        return self._loss(batch, create_graph=True)

    def validation_loss(self) -> float:
        return float(self._loss(self.val_batch, create_graph=False))


@dataclass
class EstimatorFit:
    model: FeedbackEstimator
    training: TrainingOutcome
    options: EstimatorOptions


def train_estimator(
    song_vectors: np.ndarray,
    observed: np.ndarray,
    scores: np.ndarray,
    references: np.ndarray,
    train_users: np.ndarray,
    val_users: np.ndarray,
    options: EstimatorOptions,
    seed: int,
    prior_mean: np.ndarray | None = None,
    state_dir=None,
    progress: bool = False,
    on_step=None,
) -> EstimatorFit:
    """Meta-train the estimator (resumable from ``state_dir``).

    In: song_vectors (n_songs, h) unit; observed (n_users, P) song indices each user scored;
    scores (n_users, n_songs) int 0..5; references (n_users, h) the aligner's vectors; train and
    val user indices; an optional injected prior mean (h,) (default: mean of the train users'
    references). The prior covariance is always the train users' (shrunk).
    """
    mean, precision = prior_from_users(references[train_users], options.covariance_shrinkage)
    if prior_mean is not None:
        mean = np.asarray(prior_mean, dtype=np.float32)
    torch.manual_seed(seed)
    estimator = FeedbackEstimator(torch.from_numpy(mean), torch.from_numpy(precision), options.steps, options.initial_step)
    task = EstimatorTask(estimator, song_vectors, observed, scores, references, train_users, val_users, options, seed)
    run_fingerprint = fingerprint(
        "estimator", asdict(options), int(seed), song_vectors, observed, references, mean, train_users, val_users
    )
    settings = replace(LoopSettings.from_options(options, seed), mixed_precision=False)
    outcome = train(
        task, settings, state_dir=state_dir, run_fingerprint=run_fingerprint, progress=progress, on_step=on_step
    )
    return EstimatorFit(model=task.model.eval(), training=outcome, options=options)


def regulariser_candidates(
    consistency: str, prior: str, lambda_grid: list[float], huber_delta: float = 0.1, confidence_weighted: bool = False
) -> dict[str, list[Regularisers]]:
    """The 2×2 ablation's cells and each cell's λ candidates (every λ pair of ``lambda_grid``)."""
    if not lambda_grid or any(not (isinstance(x, (int, float)) and x > 0) for x in lambda_grid):
        raise InputError(f"users.coldstart.lambda_grid: {lambda_grid!r}; expected a non-empty list of numbers > 0")
    base = Regularisers(huber_delta=huber_delta, confidence_weighted=confidence_weighted)
    with_c = [replace(base, consistency=consistency, lambda_consistency=float(x)) for x in lambda_grid]
    with_p = [replace(base, prior=prior, lambda_prior=float(x)) for x in lambda_grid]
    both = [replace(c, prior=prior, lambda_prior=p.lambda_prior) for c in with_c for p in with_p]
    return {"none": [base], "consistency": with_c, "prior": with_p, "both": both}


def choose_regularisers(
    estimator: FeedbackEstimator,
    feedback: FeedbackBatch,
    references: torch.Tensor,
    n_songs: list[int],
    candidates: dict[str, list[Regularisers]],
) -> tuple[dict[str, Regularisers], pd.DataFrame]:
    """Pick each ablation cell's λ on *validation* users: the candidate with the least mean distance.

    In: the estimator, the validation users' feedback (B, N, ...) in reveal order, their
    references (B, h), the revealed counts to average over (N = 0 is the prior for every
    candidate and is skipped), and :func:`regulariser_candidates`. Only what is passed is
    seen: callers pass validation users, never test users. Out: cell -> chosen Regularisers,
    and the table of every candidate's validation distance (cell, lambda_consistency,
    lambda_prior, distance, chosen).
    """
    counts = [n for n in n_songs if n > 0]
    rows, chosen = [], {}
    for cell, options in candidates.items():
        best = None
        for regularisers in options:
            distances = [
                float(normalised_distance(estimator.estimate(*_inputs(feedback.first(n)), regularisers=regularisers), references).mean())
                for n in counts
            ]
            distance = float(np.mean(distances))
            rows.append(
                {
                    "cell": cell,
                    "lambda_consistency": regularisers.lambda_consistency,
                    "lambda_prior": regularisers.lambda_prior,
                    "distance": distance,
                }
            )
            if best is None or distance < best[0]:
                best = (distance, regularisers)
        chosen[cell] = best[1]
    table = pd.DataFrame(rows)
    table["chosen"] = [
        chosen[row.cell].lambda_consistency == row.lambda_consistency and chosen[row.cell].lambda_prior == row.lambda_prior
        for row in table.itertuples()
    ]
    return chosen, table


def _inputs(feedback: FeedbackBatch):
    return feedback.songs, feedback.scores, feedback.mask, feedback.weights


def estimator_payload(estimator: FeedbackEstimator, regularisers: dict[str, Regularisers], best: str) -> dict:
    """What a trained estimator is saved as (``torch.save``): weights, steps, the chosen λ per cell, the best cell."""
    return {
        "state": {name: tensor.detach().cpu() for name, tensor in estimator.state_dict().items()},
        "steps": estimator.steps,
        "regularisers": {cell: asdict(value) for cell, value in regularisers.items()},
        "best_cell": best,
    }


def estimator_from_payload(payload: dict, device: str = "auto") -> tuple[FeedbackEstimator, dict[str, Regularisers], str]:
    """Inverse of :func:`estimator_payload`: (estimator on ``device``, cell -> Regularisers, best cell)."""
    state = payload["state"]
    estimator = FeedbackEstimator(state["prior_mean"], state["prior_precision"], payload["steps"], 1.0)
    estimator.load_state_dict(state)
    regularisers = {cell: Regularisers(**value) for cell, value in payload["regularisers"].items()}
    return estimator.to(choose_device(device)).eval(), regularisers, payload["best_cell"]


def best_cell(validation: pd.DataFrame) -> str:
    """The ablation cell whose chosen λ has the least validation distance."""
    chosen = validation[validation["chosen"]]
    return str(chosen.loc[chosen["distance"].idxmin(), "cell"])
