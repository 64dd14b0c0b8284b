import numpy as np
import pytest
import torch

from musicrec.users.baselines import blr_posterior, mean_of_liked, ridge, score_targets
from musicrec.users.estimator import FeedbackBatch
from musicrec.users.selection import active_order, random_order
from users_world import aligner, single_thread, world  # noqa: F401 (fixture)


def _batch(seed=0, users=5, songs=12, h=4):
    rng = np.random.default_rng(seed)
    vectors = torch.as_tensor(rng.standard_normal((users, songs, h)))
    scores = torch.as_tensor(rng.integers(0, 6, size=(users, songs)))
    mask = torch.as_tensor(np.arange(songs)[None, :] < rng.integers(1, songs, size=(users, 1)))
    return FeedbackBatch(songs=vectors, scores=scores, mask=mask)


def test_ridge_and_blr_match_numpy_least_squares():
    feedback = _batch()
    targets = torch.linspace(-0.5, 0.5, 6, dtype=torch.float64)
    mean = torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64)
    a = np.random.default_rng(1).standard_normal((4, 4))
    covariance = torch.as_tensor(a @ a.T + 0.5 * np.eye(4))
    strength, noise = 0.7, 0.3
    ridge_estimate = ridge(feedback, targets, mean, strength).numpy()
    blr_mean, blr_covariance = blr_posterior(feedback, targets, mean, covariance, noise)
    chol = np.linalg.cholesky(np.linalg.inv(covariance.numpy()))  # Σ⁻¹ = L Lᵀ
    for user in range(len(feedback.scores)):
        keep = feedback.mask[user].numpy()
        v = feedback.songs[user].numpy()[keep]
        y = targets.numpy()[feedback.scores[user].numpy()[keep]]
        m = mean.numpy()
        # ridge: min ‖y − v u‖² + λ‖u − μ‖², as one stacked least-squares problem in (u − μ)
        design = np.vstack([v, np.sqrt(strength) * np.eye(4)])
        offset = np.linalg.lstsq(design, np.concatenate([y - v @ m, np.zeros(4)]), rcond=None)[0]
        np.testing.assert_allclose(ridge_estimate[user], m + offset, atol=1e-8)
        # BLR posterior mean: min ‖y − v u‖²/σ² + (u − μ)ᵀ Σ⁻¹ (u − μ)
        design = np.vstack([v / np.sqrt(noise), chol.T])
        offset = np.linalg.lstsq(design, np.concatenate([(y - v @ m) / np.sqrt(noise), np.zeros(4)]), rcond=None)[0]
        np.testing.assert_allclose(blr_mean[user].numpy(), m + offset, atol=1e-8)
        precision = np.linalg.inv(covariance.numpy()) + v.T @ v / noise
        np.testing.assert_allclose(blr_covariance[user].numpy(), np.linalg.inv(precision), atol=1e-8)


def test_mean_of_liked_songs_and_its_fallback():
    feedback = _batch()
    prior = torch.zeros(4, dtype=torch.float64)
    estimate = mean_of_liked(feedback, 4, prior)
    for user in range(len(feedback.scores)):
        liked = (feedback.mask[user] & (feedback.scores[user] >= 4)).numpy()
        expected = feedback.songs[user].numpy()[liked].mean(0) if liked.any() else np.zeros(4)
        np.testing.assert_allclose(estimate[user].numpy(), expected, atol=1e-12)


def test_score_targets_rise_with_the_score():
    w, fit = world(), aligner()
    train = w.users("train")
    targets, noise = score_targets(fit.user_vectors[train], fit.song_vectors, w.observed[train], w.scores[train])
    # each target is the mean reference·song cosine of the pairs with that score ...
    levels = np.take_along_axis(w.scores[train], w.observed[train], axis=1)
    cosines = np.einsum("uh,uph->up", fit.user_vectors[train], fit.song_vectors[w.observed[train]])
    for k in range(6):
        assert targets[k] == pytest.approx(cosines[levels == k].mean(), abs=1e-5)
    assert noise == pytest.approx(np.var(cosines - targets[levels]), rel=1e-4)
    # ... and they rise with the score (the tiny aligner is noisy: not strictly at every level)
    assert np.corrcoef(np.arange(6), targets)[0, 1] > 0.8


def test_active_selection_asks_the_most_uncertain_song_and_never_twice():
    rng = np.random.default_rng(0)
    candidates = torch.as_tensor(rng.standard_normal((3, 10, 4)))
    candidates[:, 7] *= 5.0  # the longest vector has the largest predictive variance under Σ = I
    targets = torch.as_tensor(rng.standard_normal((3, 10)))
    order = active_order(candidates, targets, torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64), 0.1, 10)
    assert (order[:, 0] == 7).all()
    assert all(sorted(row.tolist()) == list(range(10)) for row in order)
    linucb = active_order(candidates, targets, torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64),
                          0.1, 4, mode="linucb")
    assert linucb.shape == (3, 4)
    generator = torch.Generator().manual_seed(0)
    permutation = random_order(3, 10, generator)
    assert all(sorted(row.tolist()) == list(range(10)) for row in permutation)
