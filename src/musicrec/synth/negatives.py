"""Phase 2: a hard negative per positive, chosen by the teacher's ranking (as Gecko does).

Candidates are ``n_candidates`` summaries of the global pool, never the user's
own: drawn at random (the note), or the top-k the baseline embedder finds
closest to the context (``retrieve``). The teacher ranks all N+1 (candidates
and the positive, in a seeded random order, so position tells nothing) by how
likely each is for the context; the negative is the best-ranked candidate
(``pick: hardest``) or, with ``pick: mix``, that one with probability
``hard_fraction`` and otherwise a uniformly drawn other candidate. Every draw
comes from a generator seeded by (seed, user, positive), so sharding and
thread order change nothing.
"""

from __future__ import annotations

import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from musicrec.synth.client import Task, Teacher
from musicrec.synth.schemas import ranking_schema, validate_ranking

TRIPLET_COLUMNS = ["user_id", "positive", "context", "pos_summary", "neg_summary", "provenance",
                   "teacher_pos_rank"]
STRATEGIES = ("random", "retrieve")
PICKS = ("hardest", "mix")
ON_REJECT = ("drop", "random")

SYSTEM_PROMPT = ("You judge which musical interests fit a listener. Answer with JSON only.")


@dataclass(frozen=True)
class NegativeSettings:
    n_candidates: int = 4
    strategy: str = "random"  # random | retrieve
    pick: str = "hardest"  # hardest | mix
    hard_fraction: float = 1.0  # pick: mix
    on_reject: str = "drop"  # a ranking rejected after repairs: drop the triplet, or a random candidate (marked)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "NegativeSettings":
        known = {f.name for f in fields(cls)}
        settings = cls(**{k: v for k, v in values.items() if k in known})
        for key, allowed in (("strategy", STRATEGIES), ("pick", PICKS), ("on_reject", ON_REJECT)):
            if getattr(settings, key) not in allowed:
                raise ValueError(f"config synth.negatives.{key}: {getattr(settings, key)!r}; expected one of {allowed}")
        if settings.n_candidates < 1:
            raise ValueError(f"config synth.negatives.n_candidates: {settings.n_candidates}; expected >= 1")
        return settings


def positive_rng(seed: int, user_id: str, positive: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(user_id.encode()), positive])


def summary_pool(positives: pd.DataFrame) -> pd.DataFrame:
    """The global pool: one row per distinct summary text, with the users who produced it."""
    grouped = positives.groupby("pos_summary", sort=True)["user_id"].agg(lambda users: sorted(set(users)))
    return pd.DataFrame({"summary": grouped.index.to_numpy(), "users": grouped.to_numpy()})


def eligible_candidates(pool: pd.DataFrame, user_id: str, pos_summary: str, own: set[str]) -> np.ndarray:
    """Pool rows that may be negatives for this positive: not its text, not any of the user's summaries."""
    texts = pool["summary"].to_numpy()
    mine = np.array([user_id in users for users in pool["users"]], dtype=bool)
    return np.flatnonzero(~mine & (texts != pos_summary) & ~np.isin(texts, list(own)))


def ranking_task(context: str, options: list[str]) -> Task:
    listed = "\n".join(f"[{i}] {text}" for i, text in enumerate(options))
    n = len(options)
    prompt = (
        f"{context}\n\nCandidate interests of this listener:\n{listed}\n\n"
        f"Rank all {n} candidates from the most to the least likely to describe this listener's taste. "
        f'List every number from 0 to {n - 1} exactly once. Answer as {{"ranking": [numbers]}}.'
    )
    return Task(
        name="ranking",
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
        schema=ranking_schema(n),
        validate=lambda answer: validate_ranking(answer, n),
    )


def choose_negative(teacher: Teacher, row: dict, candidates: list[str], settings: NegativeSettings, seed: int,
                    model: str) -> dict | None:
    """The triplet of one positive (a dict of :data:`TRIPLET_COLUMNS`), or None when dropped."""
    rng = positive_rng(seed, row["user_id"], int(row["positive"]))
    options = candidates + [row["pos_summary"]]
    order = rng.permutation(len(options))  # shown position -> option
    shown = [options[i] for i in order]
    positive_shown = int(np.flatnonzero(order == len(candidates))[0])
    answer = teacher.ask(ranking_task(row["context"], shown))
    provenance = {"strategy": settings.strategy, "n_candidates": len(candidates), "pick": settings.pick,
                  "teacher": model}
    mix_draw = rng.random()
    other_draw = rng.integers(0, max(1, len(candidates) - 1))
    if answer is None:
        if settings.on_reject == "drop":
            return None
        negative = candidates[int(rng.integers(0, len(candidates)))]
        provenance.update(ranking="rejected", chosen="random")
        pos_rank = None
    else:
        ranking = [int(i) for i in answer["ranking"]]
        pos_rank = ranking.index(positive_shown) + 1
        candidate_order = [shown[i] for i in ranking if i != positive_shown]  # best-ranked candidate first
        if settings.pick == "hardest" or mix_draw < settings.hard_fraction or len(candidate_order) == 1:
            chosen_rank = 1
        else:
            chosen_rank = 2 + int(other_draw)
        negative = candidate_order[chosen_rank - 1]
        provenance.update(ranking=ranking, positive_shown_at=positive_shown, chosen_candidate_rank=chosen_rank)
    return {
        "user_id": row["user_id"], "positive": int(row["positive"]), "context": row["context"],
        "pos_summary": row["pos_summary"], "neg_summary": negative,
        "provenance": json.dumps(provenance, sort_keys=True), "teacher_pos_rank": pos_rank,
    }


def synthesize_negatives(teacher: Teacher, positives: pd.DataFrame, pool_positives: pd.DataFrame,
                         settings: NegativeSettings, seed: int,
                         encode: Callable[[list[str]], np.ndarray] | None = None) -> tuple[pd.DataFrame, dict]:
    """Phase 2 for the ``positives`` of this job, candidates from ``pool_positives`` (every user's).

    ``encode`` (texts -> (n, d) unit vectors) is required for ``strategy: retrieve``.
    Out: the triplets (:data:`TRIPLET_COLUMNS`) and a report.
    """
    pool = summary_pool(pool_positives)
    own_by_user = pool_positives.groupby("user_id")["pos_summary"].agg(set).to_dict()
    if settings.strategy == "retrieve":
        if encode is None:
            raise ValueError("config synth.negatives.strategy: 'retrieve' needs the baseline embedder")
        pool_vectors = encode(pool["summary"].tolist())
        context_vectors = encode(positives["context"].tolist()) if len(positives) else np.zeros((0, 1))
    rows = positives.to_dict("records")
    too_few = 0
    jobs = []
    for number, row in enumerate(rows):
        eligible = eligible_candidates(pool, row["user_id"], row["pos_summary"], own_by_user.get(row["user_id"], set()))
        if len(eligible) == 0:
            too_few += 1
            continue
        k = min(settings.n_candidates, len(eligible))
        if settings.strategy == "random":
            rng = positive_rng(seed + 1, row["user_id"], int(row["positive"]))
            chosen = np.sort(rng.choice(eligible, size=k, replace=False))
        else:
            similarity = pool_vectors[eligible] @ context_vectors[number]
            chosen = eligible[np.argsort(-similarity, kind="stable")[:k]]
        jobs.append((row, pool["summary"].to_numpy()[chosen].tolist()))
    model = teacher.model_identity
    with ThreadPoolExecutor(max_workers=max(1, teacher.settings.concurrency)) as executor:
        triplets = list(executor.map(lambda job: choose_negative(teacher, job[0], job[1], settings, seed, model),
                                     jobs))
    kept = [t for t in triplets if t is not None]
    frame = pd.DataFrame(kept, columns=TRIPLET_COLUMNS)
    frame["teacher_pos_rank"] = frame["teacher_pos_rank"].astype("Int64")
    report = {
        "positives": len(rows),
        "without_candidates": too_few,
        "dropped_rejected": len(triplets) - len(kept),
        "triplets": len(frame),
        "pool_size": len(pool),
    }
    return frame, report
