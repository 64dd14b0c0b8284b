import copy

import numpy as np
import pytest
import torch

from musicrec.recommenders.inputs import InputError
from musicrec.users.estimator import (
    Regularisers,
    estimator_from_payload,
    estimator_payload,
    gather_feedback,
    normalised_distance,
    prior_from_users,
)
from musicrec.users.real_listeners import select_on_validation
from musicrec.users.coldstart import CurveOptions
from musicrec.users.simulation import world_arrays, world_from_arrays
from users_world import SIMULATION, aligner, estimator, single_thread, world  # noqa: F401 (fixture)

BOTH = Regularisers(consistency="huber", lambda_consistency=0.5, prior="mahalanobis", lambda_prior=0.1,
                    confidence_weighted=True)


def _test_feedback():
    w, fit = world(), aligner()
    users = w.users("test")
    songs = w.observed[users]
    scores = np.take_along_axis(w.scores[users], songs, axis=1)
    return users, gather_feedback(torch.as_tensor(fit.song_vectors), songs, scores,
                                  weights=np.random.default_rng(0).uniform(0.5, 2.0, songs.shape))


def test_the_estimate_moves_toward_the_reference_as_n_grows():
    users, feedback = _test_feedback()
    model = estimator().model
    references = torch.as_tensor(aligner().user_vectors[users])
    distances = []
    for n in (0, 2, 8, 32):
        part = feedback.first(n)
        distances.append(float(normalised_distance(model.estimate(part.songs, part.scores, part.mask), references).mean()))
    assert distances[-1] < distances[1] < distances[0]
    assert distances[-1] < distances[0] - 0.1


def test_no_feedback_keeps_the_prior_or_the_injected_start():
    _, feedback = _test_feedback()
    model = estimator().model
    empty = feedback.first(0)
    estimate = model.estimate(empty.songs, empty.scores, empty.mask, empty.weights, regularisers=BOTH)
    torch.testing.assert_close(estimate, model.prior_mean.expand_as(estimate))
    start = torch.randn(model.prior_mean.shape[0])
    estimate = model.estimate(empty.songs, empty.scores, empty.mask, start=start)
    torch.testing.assert_close(estimate, start.expand_as(estimate))


def test_batched_equals_a_loop_over_users():
    # In float64, so that only a real coupling between users (not float32 summation order) could differ.
    _, feedback = _test_feedback()
    model = copy.deepcopy(estimator().model).double()
    counts = torch.arange(len(feedback.scores)) % 20  # every user a different N, some none
    part = feedback.first(counts)
    songs, weights = part.songs.double(), part.weights.double()
    batched = model.estimate(songs, part.scores, part.mask, weights, regularisers=BOTH)
    for user in range(len(batched)):
        one = slice(user, user + 1)
        alone = model.estimate(songs[one], part.scores[one], part.mask[one], weights[one], regularisers=BOTH)
        torch.testing.assert_close(alone, batched[one], atol=1e-10, rtol=1e-10)


def test_regularisers_change_the_estimate_and_bad_ones_name_their_key():
    _, feedback = _test_feedback()
    model = estimator().model
    part = feedback.first(4)
    plain = model.estimate(part.songs, part.scores, part.mask)
    strong_prior = model.estimate(part.songs, part.scores, part.mask,
                                  regularisers=Regularisers(prior="isotropic", lambda_prior=50.0))
    # a strong prior keeps the estimate nearer the generic user
    prior = model.prior_mean.expand_as(plain)
    assert (strong_prior - prior).norm(dim=1).mean() < (plain - prior).norm(dim=1).mean()
    with pytest.raises(InputError, match="users.estimator.lambda_prior"):
        Regularisers(prior="isotropic", lambda_prior=-1.0)
    with pytest.raises(InputError, match="users.estimator.consistency"):
        Regularisers(consistency="l1")


def test_lambda_selection_sees_validation_users_only():
    w, fit, model = world(), aligner(), estimator().model
    options = CurveOptions(n_songs=[0, 2, 8], lambda_grid=[0.01, 1.0, 20.0])
    chosen, table = select_on_validation(w, fit.song_vectors, fit.user_vectors, model, options, seed=0)
    # Scramble every test user's scores and reference: the choice and its numbers stay the same.
    arrays = world_arrays(w)
    test = w.users("test")
    arrays["scores"] = arrays["scores"].copy()
    arrays["scores"][test] = np.random.default_rng(1).integers(0, 6, size=arrays["scores"][test].shape)
    references = fit.user_vectors.copy()
    references[test] = -references[test]
    again, table_again = select_on_validation(world_from_arrays(arrays, SIMULATION), fit.song_vectors, references,
                                              model, options, seed=0)
    assert again == chosen
    np.testing.assert_allclose(table_again["distance"], table["distance"])
    # ... while changing the validation users' references changes the numbers.
    references[w.users("val")] = -references[w.users("val")]
    _, table_val = select_on_validation(w, fit.song_vectors, references, model, options, seed=0)
    assert not np.allclose(table_val["distance"], table["distance"])
    assert set(table["cell"]) == {"none", "consistency", "prior", "both"} and table.groupby("cell")["chosen"].sum().eq(1).all()


def test_prior_and_payload_round_trip():
    vectors = np.random.default_rng(0).standard_normal((50, 4))
    mean, precision = prior_from_users(vectors, shrinkage=0.0)
    np.testing.assert_allclose(mean, vectors.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.inv(precision), np.cov(vectors, rowvar=False), rtol=1e-4, atol=1e-5)
    model = estimator().model
    restored, regularisers, best = estimator_from_payload(estimator_payload(model, {"both": BOTH}, "both"), "cpu")
    _, feedback = _test_feedback()
    part = feedback.first(5)
    torch.testing.assert_close(restored.estimate(part.songs, part.scores, part.mask, regularisers=BOTH),
                               model.estimate(part.songs, part.scores, part.mask, regularisers=BOTH))
    assert regularisers == {"both": BOTH} and best == "both"
