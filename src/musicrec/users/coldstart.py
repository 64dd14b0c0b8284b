"""The cold-start curve: how fast a new user's vector is found from N scored songs.

For every N of ``n_songs`` (0 = nothing known), every seed (the random order in which a test
user's observed songs are revealed) and every selection (random; active), each method estimates
the test users' vectors from their first N revealed scores:

- ``estimator/<cell>``: the feedback estimator under each cell of the 2×2 regulariser ablation
  (``none``, ``consistency``, ``prior``, ``both``), each cell's λ chosen on validation users;
- ``prior`` (the generic user), ``mean_liked`` (mean of the liked songs, KNN's user),
  ``ridge`` (closed form, λ chosen on validation users) and ``blr`` (Bayesian linear regression,
  posterior mean).

Per user it records the distance to the aligner's reference vector (normalised vectors, in
[0, 2]) and AUC / NDCG@10 / Recall@10 on held-out songs. Intervals are percentile bootstraps
over users *and* seeds (both resampled, the same resamples for every method); a method
"converges after N songs" from the first N after which its mean AUC stays within ``tolerance``
of the reference vectors' own AUC. The ablation compares the four estimator cells user by user
(paired sign-flip randomisation tests with Holm, :mod:`musicrec.evaluation.significance`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from musicrec.evaluation.significance import paired_tests
from musicrec.recommenders.inputs import InputError
from musicrec.users.baselines import blr_posterior, mean_of_liked, prior_only, ridge, score_targets
from musicrec.users.estimator import (
    FeedbackBatch,
    FeedbackEstimator,
    Regularisers,
    choose_regularisers,
    gather_feedback,
    normalised_distance,
    regulariser_candidates,
)
from musicrec.users.heldout import mean_quality
from musicrec.users.selection import active_order, random_order
from musicrec.users.simulation import SyntheticWorld, held_out_quality

CURVE_METRICS = ("distance", "auc", "ndcg@10", "recall@10")
ABLATION_CELLS = ("none", "consistency", "prior", "both")
BASELINES = ("prior", "mean_liked", "ridge", "blr")


@dataclass(frozen=True)
class CurveOptions:
    """Config block ``users.coldstart``."""

    n_songs: list = field(default_factory=lambda: [0, 1, 2, 4, 8, 16, 32, 64])
    seeds: int = 3
    bootstrap: int = 1000
    confidence: float = 0.95
    tolerance: float = 0.02
    lambda_grid: list = field(default_factory=lambda: [0.01, 0.1, 1.0])
    consistency: str = "mse"
    huber_delta: float = 0.1
    prior: str = "mahalanobis"
    active: str = "uncertainty"
    ucb_alpha: float = 1.0
    permutations: int = 2000


def check_curve_options(options: CurveOptions, n_observed: int) -> None:
    """Errors name the config key: the N list must be distinct integers >= 0, sorted, <= observed songs."""
    n = options.n_songs
    if not n or any(not isinstance(x, (int, np.integer)) or isinstance(x, bool) or x < 0 for x in n):
        raise InputError(f"users.coldstart.n_songs: {n!r}; expected a non-empty list of integers >= 0")
    if list(n) != sorted(set(n)):
        raise InputError(f"users.coldstart.n_songs: {n!r}; expected distinct values in increasing order")
    if max(n) > n_observed:
        raise InputError(
            f"users.coldstart.n_songs: {max(n)} songs cannot be revealed, each user scored only {n_observed} "
            "(users.simulation.observed_per_user)"
        )
    if options.seeds < 1 or options.bootstrap < 100 or not 0 < options.confidence < 1 or options.tolerance < 0:
        raise InputError(
            "users.coldstart: seeds >= 1, bootstrap >= 100, 0 < confidence < 1 and tolerance >= 0 are required, got "
            f"seeds={options.seeds}, bootstrap={options.bootstrap}, confidence={options.confidence}, "
            f"tolerance={options.tolerance}"
        )


@dataclass
class CurveResult:
    per_user: pd.DataFrame  # selection, method, seed, n, user, distance, auc, ndcg@10, recall@10
    regularisers: dict  # cell -> Regularisers chosen on validation users
    validation: pd.DataFrame  # every λ candidate's validation distance
    ridge_lambda: float
    reference: dict  # the reference vectors' own mean quality on the test users' held-out songs


def _observed_feedback(world: SyntheticWorld, users: np.ndarray, song_vectors: torch.Tensor, order: torch.Tensor):
    songs = torch.as_tensor(world.observed[users], device=song_vectors.device).gather(1, order)
    scores = torch.as_tensor(world.scores[users], device=song_vectors.device).gather(1, songs)
    return gather_feedback(song_vectors, songs, scores)


def run_coldstart(
    world: SyntheticWorld,
    song_vectors: np.ndarray,
    references: np.ndarray,
    estimator: FeedbackEstimator,
    options: CurveOptions,
    seed: int,
) -> CurveResult:
    """The per-user cold-start curve of every method on the test users (see the module docstring).

    In: the world, the aligner's song_vectors (n_songs, h) and reference user vectors
    (n_users, h), the meta-trained estimator, the options and a seed. Train users calibrate
    the regression targets, validation users choose every λ, test users make the curve.
    """
    check_curve_options(options, world.observed.shape[1])
    device = estimator.prior_mean.device
    songs = torch.as_tensor(song_vectors, device=device)
    refs = torch.as_tensor(references, device=device)
    train_users, val_users, test_users = world.users("train"), world.users("val"), world.users("test")
    targets_np, noise = score_targets(
        references[train_users], song_vectors, world.observed[train_users], world.scores[train_users]
    )
    targets = torch.as_tensor(targets_np, device=device)
    mean = estimator.prior_mean
    covariance = torch.linalg.inv(estimator.prior_precision)
    width = max(options.n_songs)
    n_observed = world.observed.shape[1]

    generator = torch.Generator(device=device).manual_seed(seed)
    val_order = random_order(len(val_users), n_observed, generator)[:, :width]
    val_feedback = _observed_feedback(world, val_users, songs, val_order)
    candidates = regulariser_candidates(options.consistency, options.prior, list(options.lambda_grid), options.huber_delta)
    chosen, validation = choose_regularisers(estimator, val_feedback, refs[val_users], options.n_songs, candidates)
    counts = [n for n in options.n_songs if n > 0]
    ridge_scores = {}
    for strength in options.lambda_grid:
        ridge_scores[float(strength)] = np.mean(
            [
                float(normalised_distance(ridge(val_feedback.first(n), targets, mean, strength), refs[val_users]).mean())
                for n in counts
            ]
        )
    ridge_lambda = min(ridge_scores, key=ridge_scores.get)

    def methods(feedback: FeedbackBatch) -> dict[str, torch.Tensor]:
        vectors = {
            f"estimator/{cell}": estimator.estimate(
                feedback.songs, feedback.scores, feedback.mask, feedback.weights, regularisers=chosen[cell]
            )
            for cell in ABLATION_CELLS
        }
        vectors["prior"] = prior_only(mean, len(feedback.scores))
        vectors["mean_liked"] = mean_of_liked(feedback, world.options.like_threshold, mean)
        vectors["ridge"] = ridge(feedback, targets, mean, ridge_lambda)
        vectors["blr"] = blr_posterior(feedback, targets, mean, covariance, noise)[0]
        return vectors

    frames = []
    pool_songs = torch.as_tensor(world.observed[test_users], device=device)
    selections = {"random": list(range(options.seeds)), "active": [0]}  # active order is deterministic
    for selection, seeds in selections.items():
        for run_seed in seeds:
            if selection == "random":
                order = random_order(len(test_users), n_observed, torch.Generator(device=device).manual_seed(seed + 1 + run_seed))
            else:
                candidate_targets = targets[torch.as_tensor(world.scores[test_users], device=device).gather(1, pool_songs)]
                order = active_order(
                    songs[pool_songs], candidate_targets, mean, covariance, noise, width, options.active, options.ucb_alpha
                )
            feedback = _observed_feedback(world, test_users, songs, order[:, :width])
            for n in options.n_songs:
                for method, vectors in methods(feedback.first(n)).items():
                    quality = held_out_quality(world, vectors.cpu().numpy(), song_vectors, test_users)
                    frame = pd.DataFrame({name: values.numpy() for name, values in quality.items()})
                    frame.insert(0, "distance", normalised_distance(vectors, refs[test_users]).cpu().numpy())
                    frame.insert(0, "user", test_users)
                    frame.insert(0, "n", n)
                    frame.insert(0, "seed", run_seed)
                    frame.insert(0, "method", method)
                    frame.insert(0, "selection", selection)
                    frames.append(frame)
    reference = mean_quality(held_out_quality(world, references[test_users], song_vectors, test_users))
    return CurveResult(
        per_user=pd.concat(frames, ignore_index=True),
        regularisers=chosen,
        validation=validation,
        ridge_lambda=ridge_lambda,
        reference=reference,
    )


def bootstrap_summary(
    per_user: pd.DataFrame,
    n_boot: int,
    confidence: float,
    seed: int,
    metrics=CURVE_METRICS,
    keys=("selection", "method", "n"),
    user="user",
) -> pd.DataFrame:
    """Mean and percentile bootstrap interval of each metric per group, resampling users and seeds.

    A resample draws the seeds and the users with replacement; its value is the mean over the
    drawn (seed, user) cells that are defined. With multiplicity vectors ``c_s`` and ``c_u`` that
    mean is ``c_sᵀ (X·valid) c_u / c_sᵀ valid c_u``: two small matrix products per group, no
    Python loop per resample. The same draws serve every group with the same users and seeds.
    Out: keys..., metric, mean, lower, upper, n_users, n_seeds.
    """
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    draws: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for group, frame in per_user.groupby(list(keys), sort=False):
        seeds = np.unique(frame["seed"])
        users = np.unique(frame[user])
        shape = (len(seeds), len(users))
        if shape not in draws:
            seed_counts = rng.multinomial(len(seeds), np.full(len(seeds), 1 / len(seeds)), size=n_boot)
            user_counts = rng.multinomial(len(users), np.full(len(users), 1 / len(users)), size=n_boot)
            draws[shape] = (seed_counts.astype(np.float64), user_counts.astype(np.float64))
        seed_counts, user_counts = draws[shape]
        s_index = np.searchsorted(seeds, frame["seed"].to_numpy())
        u_index = np.searchsorted(users, frame[user].to_numpy())
        for metric in metrics:
            values = np.full(shape, np.nan)
            values[s_index, u_index] = frame[metric].to_numpy(dtype=np.float64)
            valid = np.isfinite(values)
            filled = np.where(valid, values, 0.0)
            numerator = np.einsum("bs,su,bu->b", seed_counts, filled, user_counts)
            denominator = np.einsum("bs,su,bu->b", seed_counts, valid.astype(np.float64), user_counts)
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = numerator / denominator
            mean = float(filled.sum() / max(valid.sum(), 1)) if valid.any() else np.nan
            lower, upper = (np.nanquantile(boot, [alpha, 1 - alpha]) if np.isfinite(boot).any() else (np.nan, np.nan))
            rows.append(
                dict(zip(keys, group if isinstance(group, tuple) else (group,)))
                | {"metric": metric, "mean": mean, "lower": float(lower), "upper": float(upper)}
                | {"n_users": int(valid.any(axis=0).sum()), "n_seeds": len(seeds)}
            )
    return pd.DataFrame(rows)


def convergence(summary: pd.DataFrame, reference: dict, tolerance: float, metric: str = "auc") -> pd.DataFrame:
    """Per (selection, method): the first N from which the mean ``metric`` stays within
    ``tolerance`` of the reference vectors' value (NaN: not within the largest N), and the
    value at the largest N. Out: selection, method, metric, reference, tolerance, converged_at, final."""
    rows = []
    target = reference[metric] - tolerance
    for (selection, method), frame in summary[summary["metric"] == metric].groupby(["selection", "method"], sort=False):
        frame = frame.sort_values("n")
        good = (frame["mean"] >= target).to_numpy()
        # The suffix of N values that all pass: its first element, if the suffix is not empty.
        tail = np.flatnonzero(~good)
        start = 0 if tail.size == 0 else tail[-1] + 1
        converged = float(frame["n"].iloc[start]) if start < len(frame) else np.nan
        rows.append(
            {
                "selection": selection,
                "method": method,
                "metric": metric,
                "reference": reference[metric],
                "tolerance": tolerance,
                "converged_at": converged,
                "final": float(frame["mean"].iloc[-1]),
            }
        )
    return pd.DataFrame(rows)


def ablation(result: CurveResult, options: CurveOptions, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2×2 regulariser ablation on random selection, per N > 0 and over all N > 0.

    Per user, each metric is averaged over seeds (and, for ``n = "all"``, over N > 0); users with
    an undefined metric (no liked held-out song) are left out of every cell alike. Distance is
    compared as ``distance / 2`` (in [0, 1], lower is better); the quality metrics higher is better.
    Out: (means: n, cell, lambda_consistency, lambda_prior, metric means, n_users;
    tests: n + :data:`musicrec.evaluation.significance.TEST_COLUMNS`, every pair of cells,
    Holm-adjusted over the 6 pairs per metric and N).
    """
    frame = result.per_user[(result.per_user["selection"] == "random") & (result.per_user["n"] > 0)]
    frame = frame[frame["method"].str.startswith("estimator/")].assign(
        cell=lambda f: f["method"].str.removeprefix("estimator/"), half_distance=lambda f: f["distance"] / 2
    )
    metrics = ["half_distance", "auc", "ndcg@10", "recall@10"]
    means, tests = [], []
    slices = [(str(n), frame[frame["n"] == n]) for n in sorted(frame["n"].unique())] + [("all", frame)]
    for label, part in slices:
        per_user = part.groupby(["cell", "user"])[metrics].mean().reset_index()
        defined = per_user.groupby("user")[metrics].apply(lambda f: np.isfinite(f.to_numpy()).all()).loc[lambda s: s].index
        per_user = per_user[per_user["user"].isin(defined)].rename(columns={"user": "user_id"})
        cells = {cell: per_user[per_user["cell"] == cell].drop(columns="cell") for cell in ABLATION_CELLS}
        for cell, values in cells.items():
            regularisers = result.regularisers[cell]
            means.append(
                {"n": label, "cell": cell}
                | {"lambda_consistency": regularisers.lambda_consistency, "lambda_prior": regularisers.lambda_prior}
                | values[metrics].mean().to_dict()
                | {"n_users": len(values)}
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the n_perm warning is about Holm's reach, reported by the p-values
            test = paired_tests(
                cells, run="estimator", confidence=options.confidence, n_boot=options.bootstrap,
                n_perm=options.permutations, seed=seed, metrics=metrics,
            )
        test.insert(0, "n", label)
        tests.append(test)
    return pd.DataFrame(means), pd.concat(tests, ignore_index=True)
