"""Every recommender's options: one dataclass each, one default and one check per option.

This module imports neither torch nor FAISS, so the workflow validates every
``recommenders.<name>`` block at start-up (``rules/common.smk``), before any job runs, with
the same code the training jobs use. A config block holds two kinds of keys: *workflow
keys* (:data:`WORKFLOW_KEYS`: which jobs to run and what they may use), read by the
workflow only, and *model options*, the fields of the recommender's options dataclass;
:func:`split_block` separates them, :func:`parse_options` checks the latter.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# Keys of a recommenders.<name> block that decide which jobs run, not what is trained.
WORKFLOW_KEYS = ("enabled", "variants", "embeddings", "resources")


class OptionsError(ValueError):
    """A recommender option is unknown, of the wrong type or out of range; the message names it."""


@dataclass(frozen=True)
class KnnOptions:
    """KNN has no model options: user = mean of their train items, cosine similarity."""


@dataclass(frozen=True)
class PopularityOptions:
    """Most-played train tracks first (play counts, or distinct listeners)."""

    by: str = "listeners"  # listeners: distinct train users per track | plays: summed play counts


@dataclass(frozen=True)
class ShallowOptions:
    """``recommenders.shallow``; defaults are the paper's."""

    hidden_dim: int = 0  # projection output size; 0 = the embedding size
    user_init: str = "mean"  # mean of the user's train items | random (N(0, 1))
    sample_type: str = "item"  # item: negative users per positive | user: negative items
    neg_samples: int = 20
    margin: float = 0.2
    use_confidence: bool = False  # weight positives by 1 + 2·log(1 + count)
    l2: float = 0.0  # × sum of squares of the trainable parameters, added to the train loss
    batch_size: int = 10000  # positives per step (each with neg_samples negatives)
    lr: float = 1e-3
    max_epochs: int = 100
    patience: int = 16
    lr_patience: int = 5
    freeze_items: bool = True
    freeze_users: bool = False
    paper_compat: bool = False  # reproduce the published code's inverted freeze flags


@dataclass(frozen=True)
class Bert4RecOptions:
    """``recommenders.bert4rec``; defaults are the paper's."""

    max_seq_len: int = 50  # training sequence and prediction context length (incl. [MASK])
    mlm_probability: float = 0.2
    force_last_item_masking_prob: float = 0.0
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    hidden_dim: int = 0  # 0 = the embedding size (the paper); else a learned projection
    dropout: float = 0.1
    batch_size: int = 128  # sequences (users) per step
    lr: float = 1e-3
    max_epochs: int = 200
    patience: int = 16
    lr_patience: int = 5
    freeze_items: bool = True
    learn_logit_scale: bool = True  # one learned output temperature (see bert4rec.py)
    paper_compat: bool = False  # published code: trainable items, no logit scale, 50-slot prediction


def _type_ok(value: Any, expected: str) -> bool:
    return {
        "bool": isinstance(value, bool),
        "int": isinstance(value, (int, np.integer)) and not isinstance(value, bool),
        "float": isinstance(value, (int, float, np.number)) and not isinstance(value, bool),
        "str": isinstance(value, str),
    }.get(expected, True)


def _closest(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def options_from_mapping(cls: type, options: Mapping[str, Any] | None, source: str):
    """Build the options dataclass ``cls`` from a block of model options, checking names and types.

    Unknown keys and values of the wrong type raise :class:`OptionsError` naming ``source``,
    the key and what was expected; missing keys take the dataclass defaults.
    """
    options = dict(options or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in sorted(set(options) - set(fields)):
        raise OptionsError(f"{source}: unknown option {name!r}{_closest(name, list(fields))}; known: {sorted(fields)}")
    for name, value in options.items():
        expected = fields[name].type
        expected = expected if isinstance(expected, str) else expected.__name__
        if not _type_ok(value, expected):
            raise OptionsError(f"{source}: option {name} = {value!r} should be of type {expected}")
        if expected == "float":
            options[name] = float(value)
    return cls(**options)


def _check(source: str, parsed: Any, checks: list[tuple[bool, str, str]]) -> None:
    for ok, key, expected in checks:
        if not ok:
            raise OptionsError(f"{source}: {key} = {getattr(parsed, key)!r}; expected {expected}")


def _loop_checks(parsed: Any) -> list[tuple[bool, str, str]]:
    return [
        (parsed.batch_size >= 1, "batch_size", ">= 1"),
        (parsed.lr > 0, "lr", "> 0"),
        (parsed.max_epochs >= 1, "max_epochs", ">= 1"),
        (parsed.patience >= 1, "patience", ">= 1"),
        (parsed.lr_patience >= 1, "lr_patience", ">= 1"),
        (parsed.hidden_dim >= 0, "hidden_dim", ">= 0 (0 = embedding size)"),
    ]


def check_shallow(parsed: ShallowOptions, source: str) -> None:
    _check(
        source,
        parsed,
        [
            (parsed.user_init in ("mean", "random"), "user_init", "mean or random"),
            (parsed.sample_type in ("item", "user"), "sample_type", "item or user"),
            (parsed.neg_samples >= 1, "neg_samples", ">= 1"),
            (parsed.margin >= 0, "margin", ">= 0"),
            (parsed.l2 >= 0, "l2", ">= 0"),
            *_loop_checks(parsed),
        ],
    )


def check_bert4rec(parsed: Bert4RecOptions, source: str) -> None:
    _check(
        source,
        parsed,
        [
            (
                parsed.max_seq_len >= 2,
                "max_seq_len",
                "an integer >= 2 (one history item plus the [MASK] position; the paper uses 50 to 300)",
            ),
            (0.0 < parsed.mlm_probability <= 1.0, "mlm_probability", "in (0, 1]"),
            (0.0 <= parsed.force_last_item_masking_prob <= 1.0, "force_last_item_masking_prob", "in [0, 1]"),
            (parsed.num_layers >= 1, "num_layers", ">= 1"),
            (parsed.num_heads >= 1, "num_heads", ">= 1"),
            (parsed.intermediate_size >= 1, "intermediate_size", ">= 1"),
            (0.0 <= parsed.dropout < 1.0, "dropout", "in [0, 1)"),
            *_loop_checks(parsed),
        ],
    )


def check_popularity(parsed: PopularityOptions, source: str) -> None:
    _check(source, parsed, [(parsed.by in ("listeners", "plays"), "by", "listeners or plays")])


CHECKS: dict[type, Callable[[Any, str], None]] = {
    ShallowOptions: check_shallow,
    Bert4RecOptions: check_bert4rec,
    PopularityOptions: check_popularity,
}


def parse_options(cls: type, options: Mapping[str, Any] | None, source: str):
    """The checked options dataclass ``cls`` of a block of model options (no workflow keys)."""
    parsed = options_from_mapping(cls, options, source)
    CHECKS.get(cls, lambda parsed, source: None)(parsed, source)
    return parsed


def split_block(block: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """A ``recommenders.<name>`` block -> (workflow keys, model options)."""
    block = dict(block or {})
    workflow = {key: block.pop(key) for key in WORKFLOW_KEYS if key in block}
    return workflow, block
