"""The recommender registry: one entry per recommender, and the runs a config asks for.

An entry names the recommender's options type (checked at start-up, torch-free), its fit
function (imported only inside the job that runs it), whether it is trained (a GPU job with
checkpoints, run once per training seed) and whether it needs an item embedding. The
workflow turns the ``recommenders`` config block into :class:`Run` objects: one per
recommender, or one per variant (``shallow-embedding``, ``shallow-interaction``); a run
name is the ``{run}`` wildcard of every recommendation, metric and table file.

Adding a recommender: write its model and a fit function with the signature of
:func:`musicrec.recommenders.knn.fit_knn` (untrained) or a
:class:`musicrec.recommenders.fitting.TrainedModel` (trained), add its options dataclass
to ``options.py``, an entry here, and a block to the config schema.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from musicrec.recommenders.options import (
    Bert4RecOptions,
    KnnOptions,
    OptionsError,
    PopularityOptions,
    ShallowOptions,
    parse_options,
    split_block,
)


@dataclass(frozen=True)
class Recommender:
    name: str  # its key under recommenders: in the config
    options_type: type
    fit: str  # "module:function", imported lazily by the job
    trained: bool  # a training job (GPU partition, checkpoints, seeds)
    needs_embedding: bool = True  # False: embedding-free baselines (popularity)
    learns_items: bool = False  # True: may take a trainable (id-only) item table
    variants: tuple[str, ...] = ()  # runs are <name>-<variant>
    default_variants: tuple[str, ...] = ()

    def fit_function(self) -> Callable[..., Any]:
        module, function = self.fit.split(":")
        return getattr(importlib.import_module(module), function)


RECOMMENDERS: dict[str, Recommender] = {
    entry.name: entry
    for entry in (
        Recommender("knn", KnnOptions, "musicrec.recommenders.knn:fit_knn", trained=False),
        Recommender(
            "popularity",
            PopularityOptions,
            "musicrec.recommenders.popularity:fit_popularity",
            trained=False,
            needs_embedding=False,
        ),
        Recommender(
            "shallow",
            ShallowOptions,
            "musicrec.recommenders.shallow_training:fit_shallow",
            trained=True,
            learns_items=True,
            variants=("embedding", "interaction"),
            default_variants=("embedding", "interaction"),
        ),
        Recommender(
            "bert4rec",
            Bert4RecOptions,
            "musicrec.recommenders.bert4rec_training:fit_bert4rec",
            trained=True,
            learns_items=True,
        ),
    )
}

# The embedding-free recommenders' recommendations are filed under this embedding name.
NO_EMBEDDING = "none"


@dataclass(frozen=True)
class Run:
    """One recommender run: the ``{run}`` wildcard and everything its job needs to know."""

    name: str
    recommender: Recommender
    variant: str | None
    options: dict = field(default_factory=dict)  # model options, already checked
    resources: dict = field(default_factory=dict)
    embeddings: tuple[str, ...] | None = None  # None: every embedding of the registry

    @property
    def family(self) -> str:
        return self.recommender.name

    @property
    def trained(self) -> bool:
        return self.recommender.trained


def configured_runs(recommenders: Mapping[str, Any]) -> list[Run]:
    """The runs the ``recommenders`` config block asks for, options checked, in registry order.

    Raises :class:`OptionsError` naming the key for an unknown recommender, an unknown or
    mistyped option, a value out of range, or an unknown variant; ``ValueError`` when
    every recommender is disabled.
    """
    unknown = sorted(set(recommenders) - set(RECOMMENDERS) - {"seeds"})
    if unknown:
        raise OptionsError(f"config recommenders: unknown recommender(s) {unknown}; registered: {sorted(RECOMMENDERS)}")
    runs = []
    for name, entry in RECOMMENDERS.items():
        if name not in recommenders:
            continue
        workflow, options = split_block(recommenders[name])
        if not workflow.get("enabled", True):
            continue
        parse_options(entry.options_type, options, f"config recommenders.{name}")
        resources = dict(workflow.get("resources", {}))
        only = workflow.get("embeddings")
        only = tuple(only) if only is not None else None
        if not entry.variants:
            if "variants" in workflow:
                raise OptionsError(f"config recommenders.{name}.variants: {name} has no variants")
            runs.append(Run(name, entry, None, options, resources, only))
            continue
        variants = workflow.get("variants", list(entry.default_variants))
        for variant in variants:
            if variant not in entry.variants:
                raise OptionsError(
                    f"config recommenders.{name}.variants: unknown variant {variant!r}; expected {list(entry.variants)}"
                )
            runs.append(Run(f"{name}-{variant}", entry, variant, options, resources, only))
    if not runs:
        raise ValueError("config recommenders: every recommender is disabled")
    return runs
