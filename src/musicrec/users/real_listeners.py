"""The feedback estimator on real listeners: plays -> scores, estimated users as a recommender.

Plays are implicit: a listener never says "I dislike this". The mapping (config
``users.real.scores``) is therefore:

- each train play gets a score from the *user's own* play-count quantiles: the plays are ranked
  by count within the user (ties share their average rank), the rank fraction in (0, 1] is cut
  into ``len(levels)`` equal bins, and bin j gets ``levels[j]`` (default [3, 4, 5]: played at all
  is already mildly liked, the most replayed third is a 5);
- ``negatives_per_play`` unplayed usable songs per play (drawn uniformly, at most one draw per
  song per user) get ``negative_score`` (default 0): skipping the rest of the catalogue is weak
  evidence against it, as in every implicit-feedback model;
- optional confidence weights ``log(1 + count)`` (1 for negatives) for the score-consistency term.

The estimator, its prior and its link come from the synthetic world over the *same* embedding
(train_estimator); the song vectors are the aligner's song tower on that embedding. Every
val ∪ test user's vector is estimated from their train plays in one batched call per chunk, and
its top-N by cosine (train items and failed rows removed) is the recommendation list — the same
contract and retrieval path as KNN (which is the "mean of liked songs" user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from musicrec.evaluation.metrics import evaluate
from musicrec.recommenders.inputs import InputError, Interactions, check_embeddings, prepare_interactions
from musicrec.recommenders.retrieval import recommend, recommendations_frame, top_n_excluding_seen
from musicrec.recommenders.options import options_from_mapping
from musicrec.users.aligner_training import AlignerOptions, train_aligner
from musicrec.users.coldstart import CurveOptions
from musicrec.users.estimator import (
    EstimatorOptions,
    FeedbackEstimator,
    Regularisers,
    best_cell,
    choose_regularisers,
    gather_feedback,
    regulariser_candidates,
    train_estimator,
)
from musicrec.users.selection import random_order
from musicrec.users.simulation import SimulationOptions, SyntheticWorld, simulate
from musicrec.users.simulation import N_SCORES

USER_CHUNK = 2048  # users estimated at once: bounds the (chunk, history, h) tensors


@dataclass(frozen=True)
class ScoreMapping:
    """Config block ``users.real.scores``."""

    levels: list = field(default_factory=lambda: [3, 4, 5])
    negatives_per_play: float = 1.0
    negative_score: int = 0
    confidence_weighted: bool = False
    max_history: int = 256  # most recent train plays used per user

    def __post_init__(self):
        levels = list(self.levels)
        valid = all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and 0 <= x < N_SCORES for x in levels)
        if not levels or not valid or levels != sorted(levels):
            raise InputError(
                f"users.real.scores.levels: {self.levels!r}; expected a non-empty non-decreasing list of scores 0..5"
            )
        if not 0 <= self.negative_score < N_SCORES:
            raise InputError(f"users.real.scores.negative_score: {self.negative_score!r}; expected a score 0..5")
        if self.negatives_per_play < 0:
            raise InputError(f"users.real.scores.negatives_per_play: {self.negatives_per_play!r}; expected >= 0")
        if self.max_history < 1:
            raise InputError(f"users.real.scores.max_history: {self.max_history!r}; expected >= 1")


def count_quantile_scores(users: np.ndarray, counts: np.ndarray, levels: list[int]) -> np.ndarray:
    """Score per play from the user's own count quantiles: (n_plays,) int64 (see the module docstring)."""
    fraction = pd.Series(counts, dtype=np.float64).groupby(pd.Series(users)).rank(pct=True, method="average").to_numpy()
    bins = np.minimum((fraction * len(levels)).astype(np.int64) - (fraction * len(levels) % 1 == 0), len(levels) - 1)
    return np.asarray(levels, dtype=np.int64)[np.clip(bins, 0, len(levels) - 1)]


def _pad(group: np.ndarray, n_groups: int, *columns: np.ndarray, fill: int = -1) -> list[np.ndarray]:
    """Rows grouped by ``group`` (sorted, 0..n_groups-1) as padded (n_groups, max_len) arrays."""
    counts = np.bincount(group, minlength=n_groups)
    position = np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = max(int(counts.max(initial=0)), 1)
    padded = []
    for column in columns:
        array = np.full((n_groups, width), fill, dtype=column.dtype)
        array[group, position] = column
        padded.append(array)
    return padded


def listener_feedback(
    interactions: Interactions, users: np.ndarray, mapping: ScoreMapping, seed: int, reveal: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded feedback of ``users`` (sorted user indices of ``interactions``) from their train plays.

    Plays: the ``max_history`` most recent, or (cold-start curve) the first ``reveal`` of a
    seeded random order. Then ``round(negatives_per_play · plays)`` uniform draws from the usable
    catalogue scored ``negative_score`` (a draw that hits one of the user's train songs is
    dropped). Out: songs (B, N) track indices with -1 padding, scores (B, N) int64 and
    confidence weights (B, N) float32 (``log(1 + count)`` for plays, 1 for negatives).
    """
    rng = np.random.default_rng(seed)
    users = np.asarray(users, dtype=np.int64)
    indptr = interactions.train_indptr()
    scores_all = count_quantile_scores(interactions.train_user, interactions.train_count, list(mapping.levels))
    lengths = indptr[users + 1] - indptr[users]
    group = np.repeat(np.arange(len(users)), lengths)
    rows = np.arange(len(group)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(indptr[users], lengths)
    if reveal is None:
        from_end = np.repeat(indptr[users + 1], lengths) - 1 - rows  # train rows are in time order per user
        keep = from_end < mapping.max_history
    else:
        keys = rng.random(len(rows))
        order = np.lexsort((keys, group))
        rank = np.empty(len(rows), dtype=np.int64)
        rank[order] = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        keep = rank < reveal
    group, rows = group[keep], rows[keep]
    kept = np.bincount(group, minlength=len(users))
    n_negative = np.rint(mapping.negatives_per_play * kept).astype(np.int64)
    negative_group = np.repeat(np.arange(len(users)), n_negative)
    usable = np.flatnonzero(interactions.item_is_usable)
    negative_items = usable[rng.integers(0, len(usable), size=len(negative_group))]
    seen = interactions.seen()
    hit = np.asarray(seen[users[negative_group], negative_items]).ravel() > 0 if len(negative_group) else np.zeros(0, bool)
    negative_group, negative_items = negative_group[~hit], negative_items[~hit]

    all_group = np.concatenate([group, negative_group])
    order = np.argsort(all_group, kind="stable")  # plays first, then negatives, within a user
    items = np.concatenate([interactions.train_item[rows], negative_items])[order]
    scores = np.concatenate([scores_all[rows], np.full(len(negative_items), mapping.negative_score)])[order]
    weights = np.concatenate(
        [np.log1p(interactions.train_count[rows]).astype(np.float32), np.ones(len(negative_items), np.float32)]
    )[order]
    songs, scores, weights = _pad(all_group[order], len(users), items.astype(np.int64), scores.astype(np.int64), weights)
    weights[songs < 0] = 0.0
    scores[songs < 0] = 0
    return songs, scores, weights


@dataclass
class UserModel:
    """What the real-listener estimator needs: song_vectors (n_tracks, h) unit rows (zero for
    failed rows), the estimator, the regularisers to use and the score mapping."""

    song_vectors: np.ndarray
    estimator: FeedbackEstimator
    regularisers: Regularisers
    mapping: ScoreMapping


def estimate_listeners(
    model: UserModel, interactions: Interactions, users: np.ndarray, seed: int, reveal: int | None = None
) -> tuple[np.ndarray, int]:
    """(len(users), h) estimated vectors, batched in chunks of USER_CHUNK, and how many users had
    no feedback at all (they keep the prior mean)."""
    device = model.estimator.prior_mean.device
    song_vectors = torch.as_tensor(model.song_vectors, device=device)
    songs, scores, weights = listener_feedback(interactions, users, model.mapping, seed, reveal)
    out = np.empty((len(users), song_vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(users), USER_CHUNK):
        part = slice(start, start + USER_CHUNK)
        feedback = gather_feedback(song_vectors, songs[part], scores[part], weights=weights[part])
        estimate = model.estimator.estimate(
            feedback.songs, feedback.scores, feedback.mask, feedback.weights, regularisers=model.regularisers
        )
        out[part] = estimate.cpu().numpy()
    return out, int(((songs >= 0).sum(axis=1) == 0).sum())


def recommend_with_estimator(
    model: UserModel, interactions: Interactions, top_n: int, seed: int
) -> pd.DataFrame:
    """Top-N by cosine for every val ∪ test user of ``interactions`` (train items, failed rows removed).

    ``frame.attrs["n_prior_only"]`` counts the users estimated from no feedback (the prior).
    """
    users = interactions.target_users
    estimates, n_prior = estimate_listeners(model, interactions, users, seed)
    vectors = np.zeros((interactions.n_users, estimates.shape[1]), dtype=np.float32)
    vectors[users] = F.normalize(torch.as_tensor(estimates), dim=-1).numpy()
    frame = recommend(interactions, vectors, model.song_vectors, top_n)
    frame.attrs["n_prior_only"] = n_prior
    return frame


def real_coldstart_curve(
    model: UserModel,
    interactions: Interactions,
    test_frame: pd.DataFrame,
    n_plays: list[int],
    seeds: int,
    k: int,
    seed: int,
) -> pd.DataFrame:
    """Recommendation quality of test users vs N train plays revealed (a random N of their plays).

    Methods: ``estimator`` and ``mean_liked`` (the KNN user of the same revealed plays, in the
    aligner's space; the prior when N = 0). Recommendations always leave out all train items,
    so every N is scored on the same candidates. Out: per user: method, seed, n, user_id,
    ndcg@k, recall@k.
    """
    truth = test_frame[["user_id", "track_idx"]].drop_duplicates()
    truth = truth[interactions.item_is_usable[truth["track_idx"].to_numpy()]]
    ids = interactions.user_ids.astype(str)
    test_users = np.searchsorted(ids, np.unique(truth["user_id"].astype(str)))
    truth = truth.assign(user_id=truth["user_id"].astype(str))
    seen = interactions.seen()[test_users]
    excluded = np.flatnonzero(~interactions.item_is_usable)
    prior = model.estimator.prior_mean.detach().cpu().numpy()
    frames = []
    for run_seed in range(seeds):
        for n in n_plays:
            estimates, _ = estimate_listeners(model, interactions, test_users, seed + run_seed, reveal=n)
            songs, scores, _ = listener_feedback(interactions, test_users, model.mapping, seed + run_seed, reveal=n)
            liked = (songs >= 0) & (scores > model.mapping.negative_score)
            sums = np.einsum("bn,bnh->bh", liked.astype(np.float32), model.song_vectors[np.maximum(songs, 0)])
            means = np.where(liked.any(axis=1, keepdims=True), sums / np.maximum(liked.sum(1, keepdims=True), 1), prior)
            for method, vectors in (("estimator", estimates), ("mean_liked", means)):
                unit = F.normalize(torch.as_tensor(vectors, dtype=torch.float32), dim=-1).numpy()
                indices, values = top_n_excluding_seen(unit, model.song_vectors, seen, k, excluded_items=excluded)
                recs = recommendations_frame(ids[test_users], indices, values)
                metrics = evaluate(recs, truth, k)
                metrics = metrics[["user_id", f"ndcg@{k}", f"recall@{k}"]]
                frames.append(metrics.assign(method=method, seed=run_seed, n=n))
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class UsersOptions:
    """The ``users`` config block as dataclasses (unknown keys and wrong types are errors naming them)."""

    simulation: SimulationOptions
    aligner: AlignerOptions
    estimator: EstimatorOptions
    coldstart: CurveOptions
    scores: ScoreMapping

    @classmethod
    def from_mapping(cls, options: Mapping | None) -> "UsersOptions":
        options = dict(options or {})
        real = dict(options.get("real", {}) or {})
        return cls(
            simulation=options_from_mapping(SimulationOptions, options.get("simulation"), "users.simulation"),
            aligner=options_from_mapping(AlignerOptions, options.get("aligner"), "users.aligner"),
            estimator=options_from_mapping(EstimatorOptions, options.get("estimator"), "users.estimator"),
            coldstart=options_from_mapping(CurveOptions, options.get("coldstart"), "users.coldstart"),
            scores=options_from_mapping(ScoreMapping, real.get("scores"), "users.real.scores"),
        )


def catalogue_song_vectors(world: SyntheticWorld, song_vectors: np.ndarray, n_tracks: int) -> np.ndarray:
    """The aligner's song vectors (n_songs, h) placed at their embedding rows: (n_tracks, h), zero rows for failed audio."""
    full = np.zeros((n_tracks, song_vectors.shape[1]), dtype=np.float32)
    full[world.song_rows] = song_vectors
    return full


def select_on_validation(world: SyntheticWorld, song_vectors: np.ndarray, references: np.ndarray, estimator, options: CurveOptions, seed: int):
    """Each ablation cell's λ on the synthetic *validation* users, and the validation table."""
    device = estimator.prior_mean.device
    val_users = world.users("val")
    width = max(options.n_songs)
    order = random_order(len(val_users), world.observed.shape[1], torch.Generator(device=device).manual_seed(seed))[:, :width]
    songs = torch.as_tensor(world.observed[val_users], device=device).gather(1, order)
    scores = torch.as_tensor(world.scores[val_users], device=device).gather(1, songs)
    feedback = gather_feedback(torch.as_tensor(song_vectors, device=device), songs, scores)
    candidates = regulariser_candidates(options.consistency, options.prior, list(options.lambda_grid), options.huber_delta)
    return choose_regularisers(estimator, feedback, torch.as_tensor(references[val_users], device=device), options.n_songs, candidates)


def build_user_model(
    embeddings: np.ndarray, excluded_rows, options: UsersOptions, seed: int, source: str = "embeddings"
) -> tuple[UserModel, dict]:
    """Simulate users over ``embeddings``, train the aligner and the estimator, choose λ on val users.

    Out: the :class:`UserModel` (its regularisers: the ablation cell with the least validation
    distance) and the intermediate results (world, aligner fit, estimator fit, validation table).
    """
    world = simulate(embeddings, options.simulation, seed, excluded_rows, source)
    aligner = train_aligner(world, options.aligner, seed)
    references = aligner.user_vectors
    fit = train_estimator(
        aligner.song_vectors, world.observed, world.scores, references, world.users("train"), world.users("val"),
        options.estimator, seed,
    )
    chosen, validation = select_on_validation(world, aligner.song_vectors, references, fit.model, options.coldstart, seed)
    cell = best_cell(validation)
    regularisers = chosen[cell]
    if options.scores.confidence_weighted:
        regularisers = Regularisers(**{**regularisers.__dict__, "confidence_weighted": True})
    model = UserModel(
        song_vectors=catalogue_song_vectors(world, aligner.song_vectors, len(embeddings)),
        estimator=fit.model,
        regularisers=regularisers,
        mapping=options.scores,
    )
    return model, {"world": world, "aligner": aligner, "estimator": fit, "validation": validation, "cell": cell, "chosen": chosen}


def fit_estimator(
    embeddings: np.ndarray,
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    options: Mapping | None,
    seed: int,
    top_n: int,
    excluded_rows: np.ndarray | None = None,
    sources: Mapping[str, str] | None = None,
    candidates: str = "train",
) -> pd.DataFrame:
    """The feedback estimator as a recommender of the workflow (same call shape as ``fit_knn``).

    In: the (n_tracks, d) embedding (``excluded_rows``: failed audio, never scored nor
    recommended), the three split frames, the ``users`` config block (``simulation``,
    ``aligner``, ``estimator``, ``coldstart``, ``real``), a seed, top_n and input names for
    errors, and the candidate set (see ``prepare_interactions``). Synthetic users over the same embedding train the aligner and the estimator; every
    val ∪ test user is then estimated from their train plays. Out: ``user_id, rank, track_idx,
    score`` (cosine), top_n rows per user unless fewer unheard usable tracks exist;
    ``attrs["n_prior_only"]`` counts users estimated from no feedback.
    """
    source = (sources or {}).get("embeddings", "embeddings")
    _, usable = check_embeddings(embeddings, [] if excluded_rows is None else excluded_rows, source)
    interactions = prepare_interactions(train_frame, val_frame, test_frame, usable, sources, candidates=candidates)
    model, _ = build_user_model(embeddings, excluded_rows, UsersOptions.from_mapping(options), seed, source)
    return recommend_with_estimator(model, interactions, top_n, seed)
