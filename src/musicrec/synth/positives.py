"""Phase 1: positive clusters per user, found iteratively around a pivot.

For each user's segment: the pivot is the most recent remaining item; the
teacher returns the items sharing an interest with it (pivot included) and a
one-sentence summary of that interest; those items leave the segment and the
next pivot is taken, until the teacher finds no cluster (fewer than
``min_cluster`` items), too few items remain, or ``max_positives`` are found.
The context of a positive is the segment without its cluster.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, Mapping

import pandas as pd

from musicrec.synth.client import Task, Teacher
from musicrec.synth.schemas import cluster_schema, validate_cluster
from musicrec.synth.segments import Segment, context_text

POSITIVE_COLUMNS = ["user_id", "positive", "segment", "cluster_indices", "pivot", "pos_summary", "context"]

SYSTEM_PROMPT = (
    "You analyse what a music listener likes. You group a listener's tracks into interests and describe "
    "an interest in one sentence. Answer with JSON only."
)


@dataclass(frozen=True)
class PositiveSettings:
    segment_size: int = 12
    min_plays: int = 4  # users with fewer train tracks are skipped and counted
    max_positives: int = 3
    min_cluster: int = 2  # a cluster of the pivot alone is "no cluster": the user is done
    max_cluster: int = 6
    summary_min_chars: int = 10
    summary_max_chars: int = 160

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "PositiveSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def summary_chars(self) -> tuple[int, int]:
        return self.summary_min_chars, self.summary_max_chars


def cluster_task(texts: list[str], segment: Segment, remaining: list[int], settings: PositiveSettings) -> Task:
    """The phase 1 question for the ``remaining`` segment positions (pivot: the most recent).

    Items are shown newest first and numbered from 1, as lists are written, so the
    pivot is item [1] (small models tend to answer a list's first number; the pivot
    is then rarely forgotten). Answer number ``n`` means segment position
    ``shown_positions(remaining)[n - 1]``.
    """
    shown = shown_positions(remaining)
    numbers = list(range(1, len(shown) + 1))
    low, high = settings.summary_chars
    listed = "\n".join(f"[{n}] {texts[segment.tracks[position]]}" for n, position in enumerate(shown, start=1))
    prompt = (
        f"A listener's recent tracks, newest first:\n{listed}\n\n"
        f"The pivot is item [1], the most recent one. Find the items that share an interest with the pivot "
        f"(same artist, genre, mood or tags), including [1] itself, at most {settings.max_cluster} items. "
        f"Then describe that interest in one sentence of {low} to {high} characters: what the listener enjoys, "
        'not the track titles. Answer as {"cluster": [item numbers], "summary": "..."}.'
    )
    return Task(
        name="cluster",
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
        schema=cluster_schema(numbers, settings.max_cluster, settings.summary_chars),
        validate=lambda answer: validate_cluster(answer, numbers, 1, settings.max_cluster, settings.summary_chars),
    )


def shown_positions(remaining: list[int]) -> list[int]:
    """Segment positions in the order the prompt shows them (newest first): item n is entry n - 1."""
    return sorted(remaining, reverse=True)


def user_positives(teacher: Teacher, texts: list[str], segment: Segment,
                   settings: PositiveSettings) -> tuple[list[dict], str]:
    """One user's positives (rows of :data:`POSITIVE_COLUMNS`) and why the iteration ended.

    The reason is one of ``max_positives``, ``no_cluster``, ``too_few_left``, ``rejected``.
    """
    remaining = list(range(len(segment.tracks)))
    rows: list[dict] = []
    while True:
        if len(rows) >= settings.max_positives:
            return rows, "max_positives"
        if len(remaining) < settings.min_cluster:
            return rows, "too_few_left"
        answer = teacher.ask(cluster_task(texts, segment, remaining, settings))
        if answer is None:
            return rows, "rejected"
        shown = shown_positions(remaining)
        cluster = sorted(shown[int(n) - 1] for n in answer["cluster"])
        if len(cluster) < settings.min_cluster:
            return rows, "no_cluster"
        kept = [i for i in range(len(segment.tracks)) if i not in cluster]
        rows.append({
            "user_id": segment.user_id,
            "positive": len(rows),
            "segment": list(segment.tracks),
            "cluster_indices": cluster,
            "pivot": max(remaining),
            "pos_summary": answer["summary"].strip(),
            "context": context_text(texts, [segment.tracks[i] for i in kept]),
        })
        remaining = [i for i in remaining if i not in cluster]


def synthesize_positives(teacher: Teacher, texts: list[str], segments: list[Segment],
                         settings: PositiveSettings) -> tuple[pd.DataFrame, dict]:
    """Phase 1 for every segment, ``teacher.settings.concurrency`` users at a time.

    Out: the positives frame (:data:`POSITIVE_COLUMNS`, ordered by user then
    positive) and a report: users, users with positives, end reasons.
    """
    with ThreadPoolExecutor(max_workers=max(1, teacher.settings.concurrency)) as pool:
        results = list(pool.map(lambda segment: user_positives(teacher, texts, segment, settings), segments))
    rows = [row for user_rows, _ in results for row in user_rows]
    reasons: dict[str, int] = {}
    for _, reason in results:
        reasons[reason] = reasons.get(reason, 0) + 1
    frame = pd.DataFrame(rows, columns=POSITIVE_COLUMNS)
    frame["positive"] = frame["positive"].astype("int64")
    frame["pivot"] = frame["pivot"].astype("int64")
    report = {
        "users": len(segments),
        "users_with_positives": int(frame["user_id"].nunique()),
        "positives": len(frame),
        "end_reasons": dict(sorted(reasons.items())),
    }
    return frame, report
