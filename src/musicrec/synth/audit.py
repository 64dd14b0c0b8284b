"""The teacher audit: what the synthesis cost and how good its answers look.

In: the per-job stats (``TeacherStats.as_dict()`` plus the phase reports) of
every positives and negatives shard, the positives and the triplets, and the
baseline's scores. Out: one table, one row per quantity (``quantity, value``),
so the report shows it as is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _sum(stats: list[dict], key: str) -> float:
    return float(sum(s.get(key, 0) for s in stats))


def audit_table(phase_stats: dict[str, list[dict]], positives: pd.DataFrame, triplets: pd.DataFrame,
                baseline_prefers_negative: np.ndarray, too_short_users: int) -> pd.DataFrame:
    """``phase_stats``: {"positives": [stats per shard], "negatives": [...]}; ``baseline_prefers_negative``
    (n_triplets,) bool: the baseline embedder scores the negative above the positive."""
    rows: list[tuple[str, float]] = []
    for phase, stats in phase_stats.items():
        calls, answers = _sum(stats, "calls"), _sum(stats, "answers")
        tasks = _sum(stats, "tasks")
        rows += [
            (f"{phase}: tasks", tasks),
            (f"{phase}: calls", calls),
            (f"{phase}: cache hits", _sum(stats, "cache_hits")),
            (f"{phase}: tokens in", _sum(stats, "prompt_tokens")),
            (f"{phase}: tokens out", _sum(stats, "completion_tokens")),
            (f"{phase}: seconds per call", _sum(stats, "call_seconds") / calls if calls else float("nan")),
            (f"{phase}: JSON-invalid rate", _sum(stats, "json_invalid") / answers if answers else float("nan")),
            (f"{phase}: invalid-answer rate", _sum(stats, "invalid") / answers if answers else float("nan")),
            (f"{phase}: truncated rate", _sum(stats, "truncated") / answers if answers else float("nan")),
            (f"{phase}: repairs", _sum(stats, "repairs")),
            (f"{phase}: reject rate after repairs", _sum(stats, "rejected") / tasks if tasks else float("nan")),
        ]
    users = _sum(phase_stats.get("positives", []), "users")
    sizes = positives["cluster_indices"].map(len) if len(positives) else pd.Series(dtype=float)
    rows += [
        ("users asked", users),
        ("users with too few train plays", float(too_short_users)),
        ("users with positives", float(positives["user_id"].nunique()) if len(positives) else 0.0),
        ("positives", float(len(positives))),
        ("positives per user asked", len(positives) / users if users else float("nan")),
        ("mean cluster size", float(sizes.mean()) if len(sizes) else float("nan")),
        ("distinct summaries", float(positives["pos_summary"].nunique()) if len(positives) else 0.0),
        ("triplets", float(len(triplets))),
        ("teacher ranks the positive first", float((triplets["teacher_pos_rank"] == 1).mean()) if len(triplets)
         else float("nan")),
        ("baseline ranks the negative above the positive",
         float(np.mean(baseline_prefers_negative)) if len(baseline_prefers_negative) else float("nan")),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])
