"""Step 2 of the note: can an off-the-shelf embedder already find the positive?

For each held-out triplet the candidates are {positive, negative, k pool
distractors} (distractors: seeded draws from the summary pool, never the user's
own summaries nor the triplet's two). A scorer ranks them given the context;
R@1 and MRR of the positive are averaged over triplets, with seeded bootstrap
intervals, next to the chance level. Verdict: ``too easy`` when the interval's
lower end of R@1 reaches ``easy_r1``, ``at chance`` when the interval of R@1
contains chance, ``hard`` otherwise.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from musicrec.evaluation.intervals import bootstrap_bounds, bootstrap_means

BENCHMARK_COLUMNS = ["scorer", "triplets", "candidates", "r_at_1", "r_at_1_lower", "r_at_1_upper", "mrr",
                     "mrr_lower", "mrr_upper", "chance_r_at_1", "chance_mrr", "verdict"]


def candidate_sets(triplets: pd.DataFrame, pool: pd.DataFrame, k: int, seed: int) -> list[list[str]]:
    """Per triplet: ``[positive, negative, k distractors]`` (positive first; scorers never see the order)."""
    texts = pool["summary"].to_numpy()
    sets = []
    for row in triplets.itertuples(index=False):
        mine = np.array([row.user_id in users for users in pool["users"]], dtype=bool)
        eligible = np.flatnonzero(~mine & (texts != row.pos_summary) & (texts != row.neg_summary))
        rng = np.random.default_rng([seed, zlib.crc32(str(row.user_id).encode()), int(row.positive)])
        take = min(k, len(eligible))
        distractors = texts[np.sort(rng.choice(eligible, size=take, replace=False))].tolist() if take else []
        sets.append([row.pos_summary, row.neg_summary] + distractors)
    return sets


def positive_ranks(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-based rank of column 0 per row; ties are broken at random (a constant scorer gets chance)."""
    jitter = rng.random(scores.shape)
    better = (scores > scores[:, :1]) | ((scores == scores[:, :1]) & (jitter > jitter[:, :1]))
    return 1 + better.sum(axis=1)


def interval(values: np.ndarray, confidence: float, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Mean and percentile bootstrap bounds of a per-triplet metric."""
    column = values.astype(np.float64)[:, None]
    boot = bootstrap_means(column, n_boot, np.random.default_rng(seed))
    lower, upper = bootstrap_bounds(column.mean(axis=0), boot, confidence)
    return float(column.mean()), float(lower[0]), float(upper[0])


def verdict(lower_r1: float, upper_r1: float, chance: float, easy_r1: float) -> str:
    if lower_r1 >= easy_r1:
        return "too easy"
    if lower_r1 <= chance <= upper_r1:
        return "at chance"
    return "hard"


def benchmark(scorers: dict, triplets: pd.DataFrame, pool: pd.DataFrame, k: int, seed: int,
              confidence: float = 0.95, n_boot: int = 2000, easy_r1: float = 0.9) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per scorer (:data:`BENCHMARK_COLUMNS`) and the per-triplet ranks (scorer, user_id, positive, rank).

    ``scorers``: name -> object with ``score(queries, candidates) -> (n, m)``.
    Triplets whose candidate set is smaller than the largest are padded by
    nothing: chance is computed per triplet and averaged.
    """
    if len(triplets) == 0:
        raise ValueError("benchmark: no held-out triplets (raise synth.max_users or lower synth.holdout_fraction)")
    sets = candidate_sets(triplets, pool, k, seed)
    sizes = np.array([len(s) for s in sets])
    chance_r1 = float(np.mean(1.0 / sizes))
    chance_mrr = float(np.mean([np.mean(1.0 / np.arange(1, n + 1)) for n in sizes]))
    rows, per_triplet = [], []
    for name, scorer in scorers.items():
        ranks = np.empty(len(sets), dtype=np.int64)
        for m in np.unique(sizes):  # score equal-sized sets together
            chosen = np.flatnonzero(sizes == m)
            scores = np.asarray(scorer.score([triplets["context"].iloc[i] for i in chosen],
                                             [sets[i] for i in chosen]), dtype=np.float64)
            ranks[chosen] = positive_ranks(scores, np.random.default_rng([seed, int(m)]))
        hit = (ranks == 1).astype(float)
        r1, r1_low, r1_high = interval(hit, confidence, n_boot, seed)
        mrr, mrr_low, mrr_high = interval(1.0 / ranks, confidence, n_boot, seed)
        rows.append([name, len(sets), int(sizes.max()), r1, r1_low, r1_high, mrr, mrr_low, mrr_high,
                     chance_r1, chance_mrr, verdict(r1_low, r1_high, chance_r1, easy_r1)])
        per_triplet.append(pd.DataFrame({"scorer": name, "user_id": triplets["user_id"].to_numpy(),
                                         "positive": triplets["positive"].to_numpy(), "rank": ranks}))
    return pd.DataFrame(rows, columns=BENCHMARK_COLUMNS), pd.concat(per_triplet, ignore_index=True)


def holdout_users(user_ids, fraction: float, seed: int) -> set[str]:
    """A seeded ``fraction`` of the users (at least one when there are two or more): the student never sees them."""
    users = sorted(set(map(str, user_ids)))
    if len(users) < 2:
        return set()
    n = min(len(users) - 1, max(1, int(round(fraction * len(users)))))
    return set(np.random.default_rng(seed).choice(users, size=n, replace=False).tolist())
