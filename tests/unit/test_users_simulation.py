import numpy as np
import pytest
import torch

from musicrec.recommenders.inputs import InputError
from musicrec.users.heldout import mean_quality, ranking_quality
from musicrec.users.simulation import (
    N_SCORES,
    SimulationOptions,
    ceiling,
    held_out_quality,
    link_logits,
    simulate,
    world_arrays,
    world_from_arrays,
)
from users_world import SIMULATION, embedding, single_thread, world  # noqa: F401 (fixture)


def test_the_true_taste_ceiling_beats_chance_and_a_random_taste():
    w = world()
    true = mean_quality(ceiling(w))
    rng = np.random.default_rng(0)
    users = np.arange(len(w.tastes))
    random = mean_quality(held_out_quality(w, rng.standard_normal(w.tastes.shape), w.songs, users))
    assert true["auc"] > 0.75
    assert abs(random["auc"] - 0.5) < 0.05
    assert true["ndcg@10"] > random["ndcg@10"] + 0.2


def test_scores_follow_the_known_link():
    w = world()
    # Empirical score frequencies per affinity bin match the link's softmax probabilities there.
    affinity, scores = w.affinity.ravel(), w.scores.ravel()
    edges = np.quantile(affinity, np.linspace(0, 1, 6))
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (affinity >= low) & (affinity < high)
        probabilities = torch.softmax(
            link_logits(torch.as_tensor(affinity[inside], dtype=torch.float64), torch.as_tensor(w.levels, dtype=torch.float64),
                        SIMULATION.link_gain), dim=-1
        ).mean(0).numpy()
        observed = np.bincount(scores[inside], minlength=N_SCORES) / inside.sum()
        assert np.abs(observed - probabilities).max() < 0.03
    # and the mean score rises with the affinity
    means = [scores[(affinity >= lo) & (affinity < hi)].mean() for lo, hi in zip(edges[:-1], edges[1:])]
    assert np.all(np.diff(means) > 0)


def test_same_seed_same_world_and_a_round_trip_through_arrays():
    a = simulate(embedding(), SIMULATION, seed=7)
    b = world_from_arrays(world_arrays(a), SIMULATION)
    for name, array in world_arrays(a).items():
        np.testing.assert_array_equal(array, getattr(b, name))
    c = simulate(embedding(), SIMULATION, seed=8)
    assert not np.array_equal(a.scores, c.scores)


def test_failed_rows_are_never_songs_of_the_world():
    matrix = embedding().copy()
    matrix[[3, 10]] = np.nan
    w = simulate(matrix, SIMULATION, seed=7, excluded_rows=np.array([3, 10]))
    assert 3 not in w.song_rows and 10 not in w.song_rows and len(w.song_rows) == len(matrix) - 2
    with pytest.raises(InputError, match="not listed as failures"):
        simulate(matrix, SIMULATION, seed=7)


def test_bad_options_name_their_key():
    with pytest.raises(InputError, match="users.simulation.observed_per_user"):
        simulate(embedding(), SimulationOptions(observed_per_user=10_000), seed=0)
    with pytest.raises(InputError, match="users.simulation.like_threshold"):
        simulate(embedding(), SimulationOptions(like_threshold=6), seed=0)


def test_ranking_quality_by_hand():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.3], [0.1, 0.2, 0.3, 0.4]])
    relevant = torch.tensor([[True, False, False, True], [False, False, False, False]])
    quality = ranking_quality(scores, relevant, k=2)
    # user 0: positives ranked 1st and 3rd of 4 -> pairs won: (0.9>0.1, 0.9>0.5, 0.3>0.1) of 4 = 0.75
    assert quality["auc"][0].item() == pytest.approx(0.75)
    assert quality["ndcg@2"][0].item() == pytest.approx(1.0 / (1.0 + 1.0 / np.log2(3)))
    assert quality["recall@2"][0].item() == pytest.approx(0.5)
    assert np.isnan(quality["auc"][1].item()) and np.isnan(quality["ndcg@2"][1].item())
