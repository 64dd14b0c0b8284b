"""Collapse detection (issue 9 point 4): constant scores, identical lists, a loss stuck from epoch 1."""

from __future__ import annotations

import numpy as np
import pandas as pd

from musicrec.evaluation.collapse import diagnose, flat_score_share, identical_list_share, loss_is_stuck
from musicrec.recommenders.knn import fit_knn
from test_training import planted_listening

K = 5


def recs_from_lists(lists: dict, scores: dict | None = None) -> pd.DataFrame:
    """Recommendations (user_id, rank, track_idx, score) from user -> ranked tracks (and their scores)."""
    rows = []
    for user, tracks in lists.items():
        user_scores = scores[user] if scores else np.linspace(1.0, 0.5, len(tracks))
        rows += [(user, rank, track, score) for rank, (track, score) in enumerate(zip(tracks, user_scores), 1)]
    return pd.DataFrame(rows, columns=["user_id", "rank", "track_idx", "score"])


def curves(val_loss: list[float]) -> pd.DataFrame:
    epochs = np.arange(len(val_loss))
    return pd.DataFrame({"epoch": epochs, "train_loss": [np.nan, *val_loss[1:]], "val_loss": val_loss})


def healthy_recs() -> pd.DataFrame:
    """KNN on the planted listening log: lists follow each user's cluster and history."""
    embeddings, train, val, test = planted_listening()
    return fit_knn(embeddings, train, val, test, top_n=20)


def test_a_healthy_run_is_not_flagged():
    recs = healthy_recs()
    assert identical_list_share(recs, K) < 0.2
    assert flat_score_share(recs, K) == 0.0
    verdict = diagnose([recs], [curves([0.9, 0.7, 0.6, 0.55, 0.56])], K)
    assert verdict["collapsed"] is False and verdict["reasons"] == []
    assert verdict["loss_stuck"] == [False]


def test_constant_scores_are_flagged():
    # The interaction variant on raw MFCC: sigmoid saturated, every item scores the same.
    recs = healthy_recs().assign(score=0.0)
    assert flat_score_share(recs, K) == 1.0
    verdict = diagnose([recs], [], K)
    assert verdict["collapsed"] and "100% of users get constant scores" in verdict["reasons"]
    # Scores equal to a relative 1e-6 are constant too; a spread above that is not.
    nearly = healthy_recs().assign(score=lambda f: 0.7 + 1e-8 * f["rank"])
    assert flat_score_share(nearly, K) == 1.0
    ranked = healthy_recs().assign(score=lambda f: 0.7 - 1e-3 * f["rank"])
    assert flat_score_share(ranked, K) == 0.0


def test_identical_lists_are_flagged():
    same = {f"u{user}": [3, 1, 4, 5, 9, 2] for user in range(12)}
    same["u12"] = [2, 7, 1, 8, 3, 6]  # 12 of 13 users share one list
    recs = recs_from_lists(same)
    assert identical_list_share(recs, K) == 12 / 13
    verdict = diagnose([recs], [], K)
    assert verdict["collapsed"] and verdict["reasons"] == [f"92% of users get the same top-{K} list"]
    # Only the top k counts: lists that differ below rank k are the same list at k.
    tails = {f"u{user}": [3, 1, 4, 5, 9, 10 + user] for user in range(12)}
    assert identical_list_share(recs_from_lists(tails), K) == 1.0
    assert identical_list_share(recs_from_lists(tails), K + 1) == 1 / 12


def test_identical_lists_of_fewer_than_ten_users_are_not_evidence():
    recs = recs_from_lists({f"u{user}": [3, 1, 4, 5, 9] for user in range(9)})
    assert identical_list_share(recs, K) == 1.0
    assert diagnose([recs], [], K)["collapsed"] is False


def test_a_loss_stuck_from_epoch_1_is_flagged_and_epoch_0_does_not_count():
    stuck = curves([0.35, 0.2, 0.2, 0.2, 0.2])  # falls to the hinge margin in epoch 1 and stays there
    assert loss_is_stuck(stuck)
    assert loss_is_stuck(curves([0.35, 0.2, 0.20001, 0.2]))  # a relative range of 5e-5
    assert not loss_is_stuck(curves([0.35, 0.2, 0.19, 0.18]))
    assert not loss_is_stuck(curves([0.35, 0.2]))  # one trained epoch: nothing to compare
    verdict = diagnose([healthy_recs()], [stuck], K)
    assert verdict["collapsed"] and verdict["reasons"] == ["the validation loss did not move after the first epoch"]


def test_one_collapsed_seed_flags_the_run():
    recs = healthy_recs()
    good, bad = curves([0.9, 0.7, 0.6]), curves([0.9, 0.2, 0.2, 0.2])
    verdict = diagnose([recs, recs], [good, bad], K)
    assert verdict["collapsed"] and verdict["loss_stuck"] == [False, True]
    assert len(verdict["identical_list_share"]) == len(verdict["flat_score_share"]) == 2
