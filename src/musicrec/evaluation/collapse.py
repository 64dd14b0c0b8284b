"""Recognise a collapsed run, so that it is flagged instead of tabulated as a result.

A collapsed trained model has not learned to rank: its loss sits at the trivial value
from the start (Shallow Net's interaction variant on raw MFCC stays at exactly the hinge
margin, 0.2), it gives every item (nearly) the same score, and every user the same list.
Each symptom is measured; any one of them marks the run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

IDENTICAL_LISTS = 0.9  # share of users whose top-k list is the most common one
FLAT_SCORES = 1e-6  # spread of a user's top-k scores, relative to their magnitude
STUCK_LOSS = 1e-4  # relative range of the validation loss over all epochs


def identical_list_share(recs: pd.DataFrame, k: int) -> float:
    """Share of users whose top-``k`` track list equals the most common list."""
    top = recs[recs["rank"] <= k].sort_values(["user_id", "rank"])
    lists = top.groupby("user_id", sort=False)["track_idx"].agg(tuple)
    if lists.empty:
        return 0.0
    return float(lists.value_counts().iloc[0] / len(lists))


def flat_score_share(recs: pd.DataFrame, k: int) -> float:
    """Share of users whose top-``k`` scores are all equal (to a relative 1e-6)."""
    top = recs[recs["rank"] <= k]
    grouped = top.groupby("user_id")["score"]
    spread = grouped.max() - grouped.min()
    scale = grouped.apply(lambda s: float(np.abs(s).max())).clip(lower=1e-12)
    return float(((spread / scale) <= FLAT_SCORES).mean()) if len(spread) else 0.0


def loss_is_stuck(curves: pd.DataFrame) -> bool:
    """Whether the validation loss stayed put (relative range below 1e-4) from epoch 1 on.

    Epoch 0 (the untrained model) is left out: a collapse typically falls to its trivial
    value in the first epoch and stays there.
    """
    loss = curves.loc[curves["epoch"] >= 1, "val_loss"].to_numpy(dtype=np.float64)
    if len(loss) < 2:
        return False
    return bool(np.ptp(loss) <= STUCK_LOSS * max(abs(loss[0]), 1e-12))


def diagnose(recs_by_seed: Sequence[pd.DataFrame], curves_by_seed: Sequence[pd.DataFrame], k: int) -> dict:
    """The collapse verdict of a run on one embedding, over its seeds.

    In: each seed's recommendations (``user_id, rank, track_idx, score``) and, for trained
    runs, each seed's curves (``val_loss`` per epoch); the cut-off ``k``. Out: a JSON-able
    dict with the measured shares, ``reasons`` (list of str) and ``collapsed`` (bool: any
    seed shows any symptom).
    """
    reasons = []
    identical = [identical_list_share(recs, k) for recs in recs_by_seed]
    flat = [flat_score_share(recs, k) for recs in recs_by_seed]
    stuck = [loss_is_stuck(curves) for curves in curves_by_seed]
    n_users = recs_by_seed[0]["user_id"].nunique() if recs_by_seed else 0
    if n_users >= 10 and max(identical, default=0.0) >= IDENTICAL_LISTS:
        reasons.append(f"{max(identical):.0%} of users get the same top-{k} list")
    if max(flat, default=0.0) >= IDENTICAL_LISTS:
        reasons.append(f"{max(flat):.0%} of users get constant scores")
    if any(stuck):
        reasons.append("the validation loss did not move after the first epoch")
    return {
        "collapsed": bool(reasons),
        "reasons": reasons,
        "identical_list_share": identical,
        "flat_score_share": flat,
        "loss_stuck": stuck,
    }
