"""Shallow Net's data side: options, tensorised positives and negatives, the task the
training loop drives, and :func:`fit_shallow`, which goes from arrays to recommendations.

Positives are the train (user, track) pairs, held as tensors on the training device;
an epoch is a random permutation of them cut into batches, and each batch's negatives are
drawn on the device in one call. Nothing is loaded row by row.

``sample_type`` keeps the paper's meaning:

* ``item`` (the paper's default and the only one it reports): each positive (u, i) is
  contrasted with ``neg_samples`` pairs (u', i), u' drawn uniformly from all train users;
* ``user``: with pairs (u, i'), i' drawn uniformly from the usable catalogue items.

A negative is never the positive's own user/item (drawn from the other m − 1 exactly,
without rejection loops), but may be another positive of the same item/user: as in the
paper, such accidental positives are allowed, since excluding them needs per-row sets and
they are rare (a user hears a tiny fraction of the catalogue).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from musicrec.recommenders.inputs import (
    InputError,
    Interactions,
    check_embeddings,
    prepare_interactions,
)
from musicrec.recommenders.knn import mean_item_vectors
from musicrec.recommenders.losses import confidence_weights, hinge_loss, l2_penalty
from musicrec.recommenders.retrieval import recommend
from musicrec.recommenders.shallow import ShallowEmbeddingModel, ShallowInteractionModel
from musicrec.recommenders.training import (
    LoopSettings,
    ModelFit,
    choose_device,
    effective_freeze,
    fingerprint,
    options_from_mapping,
    train,
    trained_options,
)

VARIANTS = {"embedding": ShallowEmbeddingModel, "interaction": ShallowInteractionModel}
OPTIONS_SOURCE = "config recommenders.shallow"


@dataclass(frozen=True)
class ShallowOptions:
    """The ``recommenders.shallow`` config block; defaults are the paper's."""

    enabled: bool = True  # read by the workflow: whether to run this model at all
    variants: list = field(default_factory=lambda: ["embedding", "interaction"])  # jobs the workflow runs
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
    top_n: int = 100


def shallow_options(options: Mapping | None, source: str = OPTIONS_SOURCE) -> ShallowOptions:
    """Parse and check the config block; :class:`InputError` names the bad key."""
    parsed = options_from_mapping(ShallowOptions, options, source)
    checks = [
        (parsed.user_init in ("mean", "random"), "user_init", "mean or random"),
        (parsed.sample_type in ("item", "user"), "sample_type", "item or user"),
        (parsed.neg_samples >= 1, "neg_samples", ">= 1"),
        (parsed.hidden_dim >= 0, "hidden_dim", ">= 0 (0 = embedding size)"),
        (parsed.batch_size >= 1, "batch_size", ">= 1"),
        (parsed.margin >= 0, "margin", ">= 0"),
        (parsed.l2 >= 0, "l2", ">= 0"),
        (parsed.lr > 0, "lr", "> 0"),
        (parsed.max_epochs >= 1, "max_epochs", ">= 1"),
        (parsed.patience >= 1, "patience", ">= 1"),
        (parsed.top_n >= 1, "top_n", ">= 1"),
        (all(v in VARIANTS for v in parsed.variants), "variants", f"a list drawn from {sorted(VARIANTS)}"),
    ]
    for ok, key, expected in checks:
        if not ok:
            raise InputError(f"{source}: {key} = {getattr(parsed, key)!r}; expected {expected}")
    return parsed


def sample_negatives(
    pool: torch.Tensor, positive_positions: torch.Tensor, k: int, generator: torch.Generator
) -> torch.Tensor:
    """k negatives per positive, uniformly from ``pool`` minus the positive itself.

    In: pool (m,) candidate indices (users or items), positive_positions (B,) each positive's
    position in the pool, k, a generator on the pool's device. Out: (B, k) pool values.
    Draws from m − 1 slots and skips the positive's slot, so the positive never appears and
    the others stay equally likely.
    """
    draws = torch.randint(0, pool.numel() - 1, (positive_positions.numel(), k), generator=generator, device=pool.device)
    draws += (draws >= positive_positions.unsqueeze(1)).long()
    return pool[draws]


class ShallowTask:
    """Shallow Net's pieces for :func:`musicrec.recommenders.training.train`.

    Validation loss: the same hinge loss on the val (user, track) pairs, against
    negatives drawn once with the run's seed, so epochs are compared on identical terms
    (the L2 term is training-only).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        interactions: Interactions,
        options: ShallowOptions,
        device: torch.device,
        seed: int,
    ) -> None:
        self.model, self.device, self.options = model, device, options
        as_tensor = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
        self.users = as_tensor(interactions.train_user)
        self.items = as_tensor(interactions.train_item)
        self.weights = confidence_weights(as_tensor(interactions.train_count)) if options.use_confidence else None
        self.negative_users = options.sample_type == "item"
        if self.negative_users:
            self.pool = torch.arange(interactions.n_users, device=device)
            pool_name = "train users"
        else:
            self.pool = as_tensor(np.flatnonzero(interactions.item_is_usable))
            pool_name = "usable items"
        if self.pool.numel() < 2:
            raise InputError(
                f"{OPTIONS_SOURCE}: sample_type {options.sample_type} draws negatives from the {pool_name}, "
                f"but there are only {self.pool.numel()}"
            )
        self.positions = self._positions(self.users, self.items)
        self.val_users = as_tensor(interactions.val_user)
        self.val_items = as_tensor(interactions.val_item)
        self.val_weights = confidence_weights(as_tensor(interactions.val_count)) if options.use_confidence else None
        fixed = torch.Generator(device=device)
        fixed.manual_seed(int(seed))
        self.val_negatives = sample_negatives(
            self.pool, self._positions(self.val_users, self.val_items), options.neg_samples, fixed
        )

    def _positions(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        corrupted = users if self.negative_users else items
        return torch.searchsorted(self.pool, corrupted)

    def _loss(self, users, items, negatives, weights) -> torch.Tensor:
        if self.negative_users:
            scores = self.model(torch.cat([users.unsqueeze(1), negatives], dim=1), items.unsqueeze(1))
        else:
            scores = self.model(users.unsqueeze(1), torch.cat([items.unsqueeze(1), negatives], dim=1))
        return hinge_loss(scores[:, 0], scores[:, 1:], weights, self.options.margin)

    def n_train_batches(self) -> int:
        return math.ceil(self.users.numel() / self.options.batch_size)

    def train_batches(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(self.users.numel(), generator=generator, device=self.device)
        for rows in order.split(self.options.batch_size):
            yield rows, sample_negatives(self.pool, self.positions[rows], self.options.neg_samples, generator)

    def train_loss(self, batch) -> torch.Tensor:
        rows, negatives = batch
        weights = self.weights[rows] if self.weights is not None else None
        loss = self._loss(self.users[rows], self.items[rows], negatives, weights)
        if self.options.l2 > 0:
            loss = loss + self.options.l2 * l2_penalty(p for p in self.model.parameters() if p.requires_grad)
        return loss

    def validation_loss(self) -> float:
        total = torch.zeros((), device=self.device)
        for rows in torch.arange(self.val_users.numel(), device=self.device).split(self.options.batch_size):
            weights = self.val_weights[rows] if self.val_weights is not None else None
            loss = self._loss(self.val_users[rows], self.val_items[rows], self.val_negatives[rows], weights)
            total += loss.float() * rows.numel()
        return float(total) / self.val_users.numel()


def build_shallow_model(
    variant: str,
    item_matrix: np.ndarray,
    interactions: Interactions,
    options: ShallowOptions,
    seed: int,
) -> torch.nn.Module:
    """The variant's model with its tables initialised and frozen as the options say."""
    if variant not in VARIANTS:
        raise InputError(f"unknown Shallow Net variant {variant!r}; expected one of {sorted(VARIANTS)}")
    torch.manual_seed(int(seed))
    if options.user_init == "mean":
        users = torch.from_numpy(mean_item_vectors(interactions, item_matrix))
    else:
        users = torch.randn(interactions.n_users, item_matrix.shape[1])
    return VARIANTS[variant](
        torch.from_numpy(item_matrix),
        users,
        hidden_dim=options.hidden_dim,
        freeze_items=effective_freeze(options.freeze_items, options.paper_compat),
        freeze_users=effective_freeze(options.freeze_users, options.paper_compat),
    )


def fit_shallow(
    embeddings: np.ndarray,
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    options: Mapping | None,
    variant: str,
    seed: int = 0,
    top_n: int | None = None,
    excluded_rows: np.ndarray | None = None,
    state_dir=None,
    tensorboard_dir=None,
    device: str | None = None,
    sources: Mapping[str, str] | None = None,
    on_step=None,
    progress: bool = True,
) -> ModelFit:
    """Validate the inputs, train one Shallow Net variant (resuming if possible), recommend.

    In: the (n_tracks, d) embedding matrix, the three split frames, the config block, the
    variant (``embedding`` | ``interaction``), seed, top_n (default: the block's), the rows
    listed as failed audio, the resume folder, the TensorBoard folder, the device (None =
    auto), the input file names for error messages. Out: :class:`ModelFit` whose
    user/item vectors are the retrieval vectors (inner product ranks as the model scores).
    """
    opts = shallow_options(options, (sources or {}).get("options", OPTIONS_SOURCE))
    item_matrix, usable = check_embeddings(
        embeddings, [] if excluded_rows is None else excluded_rows, (sources or {}).get("embeddings", "embeddings")
    )
    interactions = prepare_interactions(train_frame, val_frame, test_frame, usable, sources)
    chosen = choose_device(device)
    model = build_shallow_model(variant, item_matrix, interactions, opts, seed)
    task = ShallowTask(model, interactions, opts, chosen, seed)
    settings = LoopSettings.from_options(opts, seed)
    run_id = fingerprint(
        "shallow",
        variant,
        trained_options(opts),
        int(seed),
        item_matrix,
        interactions.train_user,
        interactions.train_item,
        interactions.train_count,
        interactions.val_user,
        interactions.val_item,
    )
    outcome = train(task, settings, state_dir, tensorboard_dir, run_id, on_step=on_step, progress=progress)
    user_vectors, item_vectors = (t.float().cpu().numpy() for t in model.retrieval_vectors())
    item_vectors[~usable] = 0.0

    def to_scores(inner_products: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.scores_from_inner_products(torch.from_numpy(inner_products).to(chosen)).cpu().numpy()

    recommendations = recommend(interactions, user_vectors, item_vectors, top_n or opts.top_n, to_scores)
    return ModelFit(
        user_ids=interactions.user_ids,
        user_vectors=user_vectors,
        item_vectors=item_vectors,
        recommendations=recommendations,
        training=outcome,
        options=dataclasses.asdict(opts),
    )
