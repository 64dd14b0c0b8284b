"""The teacher's answers: their JSON schemas (every array and string bounded) and validators.

Bounds matter beyond validation: llama.cpp turns the schema into a grammar, and
an unbounded array lets a small model repeat items until ``max_tokens``. A
validator returns the list of problems (empty: valid), phrased so that they can
be sent back to the teacher in a repair prompt.
"""

from __future__ import annotations

from typing import Any


def cluster_schema(allowed_indices: list[int], max_cluster: int, summary_chars: tuple[int, int]) -> dict:
    """Phase 1 answer: ``{"cluster": [indices], "summary": str}``.

    ``allowed_indices``: the items still in the segment (their numbers in the prompt).
    """
    low, high = summary_chars
    return {
        "type": "object",
        "properties": {
            "cluster": {
                "type": "array",
                "items": {"type": "integer", "enum": sorted(allowed_indices)},
                "minItems": 1,
                "maxItems": max(1, min(max_cluster, len(allowed_indices))),
                "uniqueItems": True,
            },
            "summary": {"type": "string", "minLength": low, "maxLength": high},
        },
        "required": ["cluster", "summary"],
        "additionalProperties": False,
    }


def validate_cluster(answer: Any, allowed_indices: list[int], pivot: int, max_cluster: int,
                     summary_chars: tuple[int, int]) -> list[str]:
    """Problems of a phase 1 answer: indices in the segment, unique, pivot included, summary bounded."""
    problems = _object_with(answer, ("cluster", "summary"))
    if problems:
        return problems
    cluster, summary = answer["cluster"], answer["summary"]
    if not isinstance(cluster, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in cluster):
        problems.append("'cluster' must be a list of integers")
    else:
        allowed = set(allowed_indices)
        outside = [i for i in cluster if i not in allowed]
        if outside:
            problems.append(f"'cluster' has indices {outside} that are not items of the list {sorted(allowed)}")
        if len(set(cluster)) != len(cluster):
            problems.append("'cluster' repeats indices; each item may appear once")
        if pivot not in cluster:
            problems.append(f"'cluster' must include the pivot item {pivot}")
        if len(cluster) > max_cluster:
            problems.append(f"'cluster' has {len(cluster)} items; at most {max_cluster} are allowed")
    problems += _summary_problems(summary, summary_chars)
    return problems


def ranking_schema(n_options: int) -> dict:
    """Phase 2 answer: ``{"ranking": [option numbers, most plausible first]}``, all n_options of them."""
    return {
        "type": "object",
        "properties": {
            "ranking": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": n_options - 1},
                "minItems": n_options,
                "maxItems": n_options,
                "uniqueItems": True,
            }
        },
        "required": ["ranking"],
        "additionalProperties": False,
    }


def validate_ranking(answer: Any, n_options: int) -> list[str]:
    """Problems of a ranking: it must be a permutation of 0..n_options-1."""
    problems = _object_with(answer, ("ranking",))
    if problems:
        return problems
    ranking = answer["ranking"]
    if not isinstance(ranking, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ranking):
        return ["'ranking' must be a list of integers"]
    if sorted(ranking) != list(range(n_options)):
        missing = sorted(set(range(n_options)) - set(ranking))
        repeated = sorted({i for i in ranking if ranking.count(i) > 1})
        outside = sorted({i for i in ranking if not 0 <= i < n_options})
        detail = "; ".join(part for part in (
            f"missing {missing}" if missing else "", f"repeated {repeated}" if repeated else "",
            f"out of range {outside}" if outside else "") if part)
        problems.append(f"'ranking' must list each of the options 0..{n_options - 1} exactly once ({detail})")
    return problems


def _object_with(answer: Any, keys: tuple[str, ...]) -> list[str]:
    if not isinstance(answer, dict):
        return [f"the answer must be a JSON object with keys {list(keys)}"]
    missing = [key for key in keys if key not in answer]
    return [f"the answer lacks the key(s) {missing}"] if missing else []


def _summary_problems(summary: Any, bounds: tuple[int, int]) -> list[str]:
    low, high = bounds
    if not isinstance(summary, str):
        return ["'summary' must be a string"]
    text = summary.strip()
    if not text:
        return ["'summary' must not be empty"]
    if not low <= len(text) <= high:
        return [f"'summary' has {len(text)} characters; it must have {low} to {high}"]
    return []
