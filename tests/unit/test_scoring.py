"""Scoring a run (issue 9 points 2 and 6): the common item set, the lists moving up, seed averaging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicrec.evaluation.metrics import metric_columns
from musicrec.evaluation.scoring import restrict_to_items, score_run
from musicrec.evaluation.significance import mean_over_seeds

K = 3
FAILED_BY_B = np.array([7])  # embedding B could not embed track 7 (on_bad_audio: skip)

# Test truth: u1 only has the failed track; u2 has it and track 2.
TRUTH = pd.DataFrame({"user_id": ["u1", "u2", "u2", "u3", "u4"], "track_idx": [7, 7, 2, 5, 9]})


def recs(lists: dict) -> pd.DataFrame:
    rows = [
        (user, rank, track, 1.0 - rank / 10) for user, tracks in lists.items() for rank, track in enumerate(tracks, 1)
    ]
    return pd.DataFrame(rows, columns=["user_id", "rank", "track_idx", "score"])


# Embedding A ranks the failed track first for u1 and u2; u2's other truth track sits at rank 4.
A = recs({"u1": [7, 1, 3, 4, 6], "u2": [7, 3, 4, 2, 6], "u3": [1, 2, 3, 5, 6], "u4": [9, 1, 2, 3, 4]})
# Embedding B never recommends track 7 (it has no vector).
B = recs({"u1": [1, 2, 3, 4, 5], "u2": [3, 2, 4, 1, 5], "u3": [5, 1, 2, 3, 4], "u4": [1, 2, 3, 4, 9]})


def score(recs_by_seed, excluded, **kwargs):
    return score_run(recs_by_seed, TRUTH, K, 0.95, "auto", excluded, **kwargs)


def test_restrict_to_items_drops_the_tracks_and_renumbers_ranks():
    kept = restrict_to_items(A, FAILED_BY_B)
    assert not kept["track_idx"].isin(FAILED_BY_B).any()
    u2 = kept[kept["user_id"] == "u2"]
    assert u2["track_idx"].tolist() == [3, 4, 2, 6] and u2["rank"].tolist() == [1, 2, 3, 4]
    assert kept[kept["user_id"] == "u3"]["rank"].tolist() == [1, 2, 3, 4, 5]  # untouched lists keep their ranks
    shuffled = restrict_to_items(A.sample(frac=1.0, random_state=0), FAILED_BY_B)
    pd.testing.assert_frame_equal(shuffled, kept)


def test_the_common_item_set_removes_a_failed_track_from_every_embedding():
    per_user_a, summary_a, report_a = score([A], FAILED_BY_B)
    per_user_b, summary_b, report_b = score([B], FAILED_BY_B)
    # Both are scored on the same users and pairs: u1 had only the failed track and leaves.
    assert per_user_a["user_id"].tolist() == per_user_b["user_id"].tolist() == ["u2", "u3", "u4"]
    for report in (report_a, report_b):
        assert report["n_pairs_removed_by_item_set"] == 2 and report["n_truth_pairs"] == 5
        assert report["n_users"] == 3 and report["n_items_excluded"] == 1
    # A's hits on track 7 no longer count; u2's track 2 moves up from rank 4 to rank 3 and is a hit.
    a = per_user_a.set_index("user_id")
    assert a["hitrate@3"].tolist() == [1.0, 0.0, 1.0]
    assert a.at["u2", "mrr@3"] == pytest.approx(1 / 3) and a.at["u4", "mrr@3"] == 1.0
    b = per_user_b.set_index("user_id")
    assert b["hitrate@3"].tolist() == [1.0, 1.0, 0.0] and b.at["u2", "mrr@3"] == pytest.approx(1 / 2)
    means = summary_a.set_index("metric")["mean"]
    assert means["hitrate@3"] == pytest.approx(2 / 3)
    assert summary_a["n_users"].tolist() == [3] * len(metric_columns(K))


def test_own_reading_keeps_the_pairs_an_embedding_could_embed():
    per_user_a, _, report_a = score([A], np.array([], dtype=np.int64))  # A failed on nothing
    assert report_a["n_pairs_removed_by_item_set"] == 0
    a = per_user_a.set_index("user_id")
    assert a["hitrate@3"].tolist() == [1.0, 1.0, 0.0, 1.0]  # u1 and u2 hit the failed track at rank 1
    per_user_b, _, report_b = score([B], FAILED_BY_B)  # B's own reading equals the common one
    assert report_b["n_pairs_removed_by_item_set"] == 2 and len(per_user_b) == 3


def test_seeds_are_averaged_per_user_and_their_spread_reported():
    other_seed = recs({"u1": [7, 1, 3, 4, 6], "u2": [3, 4, 6, 8, 2], "u3": [5, 2, 3, 1, 6], "u4": [9, 1, 2, 3, 4]})
    per_user, summary, report = score([A, other_seed], FAILED_BY_B)
    indexed = per_user.set_index("user_id")
    # Seed 1: u2 hit (rank 3), u3 miss; seed 2: u2 miss (track 2 at rank 4 after removal), u3 hit.
    assert indexed["hitrate@3"].tolist() == [0.5, 0.5, 1.0]
    assert indexed.at["u3", "mrr@3"] == pytest.approx(0.5) and indexed.at["u2", "mrr@3"] == pytest.approx(1 / 6)
    rows = summary.set_index("metric")
    assert rows.at["hitrate@3", "mean"] == pytest.approx(2 / 3)
    assert rows.at["hitrate@3", "seed_min"] == pytest.approx(2 / 3) and rows.at["hitrate@3", "seed_max"] == 2 / 3
    assert rows.at["mrr@3", "seed_sd"] == pytest.approx(np.std([(1 / 3 + 0 + 1) / 3, (0 + 1 + 1) / 3], ddof=1))
    assert (summary["n_seeds"] == 2).all() and report["n_seeds"] == 2
    assert report["seed_means"]["mrr@3"] == pytest.approx([(1 / 3 + 1) / 3, 2 / 3])
    # Averaged over seeds a hit rate is no longer 0/1: no Wilson interval for it.
    assert rows.at["hitrate@3", "method"] != "wilson"
    single = score([A], FAILED_BY_B)[1].set_index("metric")
    assert single.at["hitrate@3", "method"] == "wilson" and single.at["hitrate@3", "seed_sd"] == 0.0


def test_seed_means_refuse_seeds_scored_on_other_users():
    first = pd.DataFrame({"user_id": ["a", "b"], "hitrate@3": [1.0, 0.0]})
    second = pd.DataFrame({"user_id": ["a", "c"], "hitrate@3": [0.0, 0.0]})
    with pytest.raises(ValueError, match="every seed must be evaluated on the same users"):
        mean_over_seeds(dict(enumerate([first, second])))
    mean = mean_over_seeds(dict(enumerate([first, first.assign(**{"hitrate@3": [0.0, 1.0]})])))
    assert mean["hitrate@3"].tolist() == [0.5, 0.5] and mean["user_id"].tolist() == ["a", "b"]


def test_the_report_carries_the_collapse_diagnosis():
    curves = pd.DataFrame({"epoch": [0, 1, 2, 3], "val_loss": [0.3, 0.2, 0.2, 0.2]})
    _, _, report = score([A], FAILED_BY_B, curves_by_seed=[curves])
    assert report["collapse"]["collapsed"] and report["collapse"]["loss_stuck"] == [True]
    _, _, healthy = score([A], FAILED_BY_B)
    assert healthy["collapse"]["collapsed"] is False
