"""Score one run on one embedding: on the common item set, averaged over its seeds.

Fairness first: every embedding is scored on the same item set. A track that some
compared embedding could not embed (bad audio, ``on_bad_audio: skip``) can never be hit by
that embedding, so it leaves the ground truth of *every* embedding, and the recommendation
lists of all of them, which move up to fill the gap (they hold ``top_n`` > ``k`` items).
How many val/test pairs that removed is reported. ``item_set: own`` keeps each embedding's
own reading (only its own failed tracks leave).

Seeds: a trained run is repeated with several seeds; a user's metric is the mean over the
seeds (the paired tests compare these), and the spread of the overall mean over seeds is
reported beside the interval over users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from musicrec.evaluation.collapse import diagnose
from musicrec.evaluation.intervals import summarise
from musicrec.evaluation.metrics import evaluate, metric_columns
from musicrec.evaluation.significance import mean_over_seeds


def restrict_to_items(recs: pd.DataFrame, excluded_items: np.ndarray) -> pd.DataFrame:
    """Recommendations without ``excluded_items``, each user's ranks renumbered 1, 2, ..."""
    kept = recs[~np.isin(recs["track_idx"].to_numpy(), excluded_items)].sort_values(["user_id", "rank"])
    kept = kept.assign(rank=kept.groupby("user_id", sort=False).cumcount() + 1)
    return kept.reset_index(drop=True)


def score_run(
    recs_by_seed: Sequence[pd.DataFrame],
    truth: pd.DataFrame,
    k: int,
    confidence: float,
    interval: str,
    excluded_items: np.ndarray,
    curves_by_seed: Sequence[pd.DataFrame] = (),
    diagnose_collapse: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-user metrics (mean over seeds), their summary, and the evaluation report.

    In: each seed's recommendations, the part's ground truth (``user_id, track_idx``), k,
    the interval's confidence and method, the track indices outside the item set, and the
    trained run's curves per seed, and whether to diagnose collapse (not for a baseline
    that gives everyone the same list by design). Out: per-user frame (``user_id``
    and the metrics), the summary (``summarise`` columns plus ``seed_sd``, ``seed_min``,
    ``seed_max`` of the mean over seeds, ``n_seeds``) and a JSON-able report: users,
    pairs, pairs removed by the item set, seeds, collapse diagnosis.
    """
    excluded_items = np.asarray(excluded_items, dtype=np.int64)
    in_set = ~np.isin(truth["track_idx"].to_numpy(), excluded_items)
    kept_truth = truth[in_set]
    per_seed = [evaluate(restrict_to_items(recs, excluded_items), kept_truth, k=k) for recs in recs_by_seed]
    per_user = mean_over_seeds(dict(enumerate(per_seed)))
    # Averaged over seeds a hit rate is no longer 0/1: the Wilson interval would not apply.
    binary = {"binary_metrics": ()} if len(per_seed) > 1 else {}
    summary = summarise(per_user, confidence=confidence, method=interval, **binary)
    metrics = metric_columns(k)
    seed_means = np.array([frame[metrics].mean().to_numpy() for frame in per_seed])
    summary = summary.assign(
        seed_sd=seed_means.std(axis=0, ddof=1) if len(per_seed) > 1 else 0.0,
        seed_min=seed_means.min(axis=0),
        seed_max=seed_means.max(axis=0),
        n_seeds=len(per_seed),
    )
    report = {
        "n_users": int(len(per_user)),
        "n_truth_pairs": int(len(truth)),
        "n_pairs_removed_by_item_set": int((~in_set).sum()),
        "n_items_excluded": int(len(excluded_items)),
        "n_seeds": len(per_seed),
        "seed_means": {metric: seed_means[:, j].tolist() for j, metric in enumerate(metrics)},
        "collapse": diagnose(recs_by_seed, curves_by_seed, k)
        if diagnose_collapse
        else {"collapsed": False, "reasons": [], "not_diagnosed": "not personalised"},
    }
    return per_user, summary, report
