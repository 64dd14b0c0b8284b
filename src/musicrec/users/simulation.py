"""Synthetic listeners whose taste is known, over any song embedding of the workflow.

The world (all draws from one seed):

- songs: the usable rows of the embedding (failed-audio rows left out), centred and scaled to
  unit length, ``z_s``;
- taste: each user mixes 1..``max_centroids`` centroids, each a song direction perturbed by
  Gaussian noise, with Dirichlet weights: ``t_u = normalise(Σ_k w_k c_k)`` (n_users, d);
- affinity: ``a_us = std(z_s · t_u) + popularity_weight · p_s + noise · ε_us``, where the taste
  term is standardised over the whole population, ``p_s ~ N(0, 1)`` is a song's popularity and
  ``ε_us ~ N(0, 1)`` is the user's idiosyncrasy for that song;
- feedback: one of 6 ordinal scores 0..5 from a known link. Score k has a level ``m_k``, the
  ``(k + ½)/6`` quantile of all affinities, and ``logit_k = gain · (2 m_k a − m_k²)``, i.e. the
  squared distance of the affinity to each level (the adjacent-categories ordinal logit); the
  score is sampled from the softmax of these 6 logits.

Songs are split once into a *pool* (songs a user may score) and *held-out* songs (used only for
evaluation), and users into train / val / test. Each user scores ``observed_per_user`` pool songs.
The generator's own ceiling is the ranking quality of the true taste ``z_s · t_u`` on held-out
songs: no model of the feedback can rank better on average, because popularity and noise are
not in the taste.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from musicrec.recommenders.inputs import InputError, check_embeddings
from musicrec.users.heldout import ranking_quality

N_SCORES = 6
USER_PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class SimulationOptions:
    """How the synthetic world is drawn (config block ``users.simulation``)."""

    n_users: int = 1000
    max_centroids: int = 3
    centroid_noise: float = 0.5  # norm of the Gaussian perturbation of a centroid (songs are unit length)
    popularity_weight: float = 0.3
    noise: float = 0.5  # std of ε_us, in units of the standardised taste affinity
    link_gain: float = 1.5
    held_out_fraction: float = 0.2  # songs kept for evaluation only
    observed_per_user: int = 128  # pool songs each user scores
    val_users: float = 0.2
    test_users: float = 0.2
    like_threshold: int = 4  # a score >= this counts as liked (relevance, InfoNCE positives)


@dataclass
class SyntheticWorld:
    """A drawn world; song indices 0..n_songs-1 refer to ``song_rows`` of the embedding.

    song_rows (n_songs,) int64: embedding rows; songs (n_songs, d) float32 unit rows;
    tastes (n_users, d) float32 unit rows; popularity (n_songs,); affinity and scores
    (n_users, n_songs) float32 / int64 0..5; held_out (n_songs,) bool; observed
    (n_users, observed_per_user) int64 pool songs each user scored (a set, random order);
    user_part (n_users,) int64 index into USER_PARTS; levels (6,) the link's levels.
    """

    song_rows: np.ndarray
    songs: np.ndarray
    tastes: np.ndarray
    popularity: np.ndarray
    affinity: np.ndarray
    scores: np.ndarray
    held_out: np.ndarray
    observed: np.ndarray
    user_part: np.ndarray
    levels: np.ndarray
    options: SimulationOptions

    def users(self, part: str) -> np.ndarray:
        """Indices of the users of ``part`` ("train", "val" or "test"), ascending."""
        return np.flatnonzero(self.user_part == USER_PARTS.index(part))

    @property
    def pool(self) -> np.ndarray:
        return np.flatnonzero(~self.held_out)

    @property
    def held_out_songs(self) -> np.ndarray:
        return np.flatnonzero(self.held_out)

    def liked(self) -> np.ndarray:
        """(n_users, n_songs) bool: the score reaches the like threshold."""
        return self.scores >= self.options.like_threshold


def _check(options: SimulationOptions, n_songs: int) -> None:
    def fail(key: str, message: str) -> None:
        raise InputError(f"users.simulation.{key}: {message}")

    if options.n_users < 3:
        fail("n_users", f"{options.n_users}; at least 3 users are needed (one per train/val/test part)")
    if not 1 <= options.max_centroids:
        fail("max_centroids", f"{options.max_centroids}; expected an integer >= 1")
    if not 0.0 < options.held_out_fraction < 1.0:
        fail("held_out_fraction", f"{options.held_out_fraction}; expected a fraction strictly between 0 and 1")
    if not (options.val_users > 0.0 and options.test_users > 0.0 and options.val_users + options.test_users < 1.0):
        fail("val_users", "val_users and test_users must be positive and sum to less than 1")
    if not 1 <= options.like_threshold <= N_SCORES - 1:
        fail("like_threshold", f"{options.like_threshold}; expected a score in 1..{N_SCORES - 1}")
    n_pool = n_songs - int(round(options.held_out_fraction * n_songs))
    if options.observed_per_user > n_pool or options.observed_per_user < 1:
        fail(
            "observed_per_user",
            f"{options.observed_per_user}; the pool has {n_pool} usable songs ({n_songs} usable in all, "
            f"{options.held_out_fraction:.0%} held out): lower it or use a larger catalogue",
        )


def link_logits(affinity: torch.Tensor, levels: torch.Tensor, gain: float) -> torch.Tensor:
    """The generator's link: affinity (...) -> 6 logits (..., 6), ``gain · (2 m_k a − m_k²)``."""
    return gain * (2.0 * affinity.unsqueeze(-1) * levels - levels**2)


def standardise_songs(embeddings: np.ndarray) -> np.ndarray:
    """Centre the rows and scale them to unit length: (n, d) -> (n, d) float32.

    Audio embeddings are often all-positive (ReLU outputs) so raw cosines are all close to 1;
    centring makes directions, hence tastes, discriminative.
    """
    centred = embeddings - embeddings.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return (centred / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def simulate(
    embeddings: np.ndarray,
    options: SimulationOptions,
    seed: int,
    excluded_rows: np.ndarray | None = None,
    source: str = "embeddings",
) -> SyntheticWorld:
    """Draw a synthetic world over the usable rows of ``embeddings`` (n_tracks, d).

    Rows in ``excluded_rows`` (the sidecar's failures, NaN in the matrix) are never scored,
    held out or recommended. Same embeddings + options + seed -> the same world.
    """
    _, usable = check_embeddings(embeddings, [] if excluded_rows is None else excluded_rows, source)
    song_rows = np.flatnonzero(usable)
    songs = standardise_songs(np.asarray(embeddings, dtype=np.float64)[song_rows])
    n_songs, dim = songs.shape
    _check(options, n_songs)
    rng = np.random.default_rng(seed)
    n_users = options.n_users

    n_centroids = rng.integers(1, options.max_centroids + 1, size=n_users)
    seeds = rng.integers(0, n_songs, size=(n_users, options.max_centroids))
    perturbation = rng.standard_normal((n_users, options.max_centroids, dim)) / np.sqrt(dim)
    centroids = songs[seeds] + options.centroid_noise * perturbation
    centroids /= np.linalg.norm(centroids, axis=2, keepdims=True)
    weights = rng.dirichlet(np.ones(options.max_centroids), size=n_users)
    weights[np.arange(options.max_centroids)[None, :] >= n_centroids[:, None]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    tastes = np.einsum("uk,ukd->ud", weights, centroids)
    tastes /= np.linalg.norm(tastes, axis=1, keepdims=True)

    taste_affinity = tastes @ songs.T
    taste_affinity = (taste_affinity - taste_affinity.mean()) / taste_affinity.std()
    popularity = rng.standard_normal(n_songs)
    affinity = taste_affinity + options.popularity_weight * popularity + options.noise * rng.standard_normal(
        (n_users, n_songs)
    )
    levels = np.quantile(affinity, (np.arange(N_SCORES) + 0.5) / N_SCORES)
    logits = link_logits(torch.from_numpy(affinity), torch.from_numpy(levels), options.link_gain).numpy()
    gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, size=logits.shape)))
    scores = np.argmax(logits + gumbel, axis=-1).astype(np.int64)

    held_out = np.zeros(n_songs, dtype=bool)
    held_out[rng.permutation(n_songs)[: int(round(options.held_out_fraction * n_songs))]] = True
    pool = np.flatnonzero(~held_out)
    # Each user's observed pool songs: the first observed_per_user of a random permutation.
    keys = rng.random((n_users, len(pool)))
    observed = pool[np.argsort(keys, axis=1)[:, : options.observed_per_user]]

    parts = np.zeros(n_users, dtype=np.int64)
    order = rng.permutation(n_users)
    n_val = max(1, int(round(options.val_users * n_users)))
    n_test = max(1, int(round(options.test_users * n_users)))
    parts[order[:n_val]] = 1
    parts[order[n_val : n_val + n_test]] = 2
    return SyntheticWorld(
        song_rows=song_rows.astype(np.int64),
        songs=songs,
        tastes=tastes.astype(np.float32),
        popularity=popularity.astype(np.float32),
        affinity=affinity.astype(np.float32),
        scores=scores,
        held_out=held_out,
        observed=observed.astype(np.int64),
        user_part=parts,
        levels=levels.astype(np.float32),
        options=options,
    )


def held_out_quality(world: SyntheticWorld, user_vectors: np.ndarray, song_vectors: np.ndarray, users: np.ndarray):
    """Per-user quality of ``user_vectors`` (len(users), h) · ``song_vectors`` (n_songs, h) on held-out songs."""
    held = world.held_out_songs
    scores = torch.as_tensor(np.asarray(user_vectors, dtype=np.float64)) @ torch.as_tensor(
        np.asarray(song_vectors, dtype=np.float64)[held]
    ).T
    relevant = torch.as_tensor(world.liked()[np.asarray(users)][:, held])
    return ranking_quality(scores, relevant)


def ceiling(world: SyntheticWorld, users: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """The generator's ceiling: per-user quality of the true taste vectors on held-out songs."""
    users = np.arange(len(world.tastes)) if users is None else np.asarray(users)
    return held_out_quality(world, world.tastes[users], world.songs, users)


def clustered_embedding(n_songs: int, dim: int, n_clusters: int, seed: int) -> np.ndarray:
    """A stand-in audio embedding for tests and benchmarks: (n_songs, dim) float32.

    Songs fall into ``n_clusters`` "genres" on a low-dimensional subspace and pass through a
    ReLU, like tag-activation embeddings (MusicNN's 200 tags): non-negative, correlated columns,
    a few dominant directions.
    """
    rng = np.random.default_rng(seed)
    latent = 8
    centres = rng.standard_normal((n_clusters, latent)) * 2.0
    genre = rng.integers(0, n_clusters, size=n_songs)
    songs = centres[genre] + rng.standard_normal((n_songs, latent))
    mixing = rng.standard_normal((latent, dim)) / np.sqrt(latent)
    return np.maximum(songs @ mixing + 0.3 * rng.standard_normal((n_songs, dim)), 0.0).astype(np.float32)


WORLD_ARRAYS = ("song_rows", "songs", "tastes", "popularity", "affinity", "scores", "held_out", "observed", "user_part", "levels")


def world_arrays(world: SyntheticWorld) -> dict[str, np.ndarray]:
    """The world as named arrays (for ``np.savez``); its options go in a JSON sidecar."""
    return {name: getattr(world, name) for name in WORLD_ARRAYS}


def world_from_arrays(arrays, options: SimulationOptions) -> SyntheticWorld:
    """Inverse of :func:`world_arrays` (``arrays``: a mapping such as ``np.load(...npz)``)."""
    missing = [name for name in WORLD_ARRAYS if name not in arrays]
    if missing:
        raise InputError(f"synthetic world file lacks {missing}; re-run simulate_users")
    return SyntheticWorld(**{name: np.asarray(arrays[name]) for name in WORLD_ARRAYS}, options=options)
