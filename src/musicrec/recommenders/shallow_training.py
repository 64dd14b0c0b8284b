"""Training Shallow Net: tensorised positives and negatives, the task the training loop
drives, the model builder, and :func:`fit_shallow` (through the shared ``fit_trained``).

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

import math
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import torch

from musicrec.recommenders.fitting import ModelFit, fit_trained
from musicrec.recommenders.inputs import InputError, Interactions
from musicrec.recommenders.knn import mean_item_vectors
from musicrec.recommenders.losses import confidence_weights, hinge_loss, l2_penalty
from musicrec.recommenders.options import ShallowOptions, parse_options
from musicrec.recommenders.shallow import ShallowEmbeddingModel, ShallowInteractionModel
from musicrec.recommenders.training import effective_freeze

VARIANTS = {"embedding": ShallowEmbeddingModel, "interaction": ShallowInteractionModel}
OPTIONS_SOURCE = "config recommenders.shallow"


def shallow_options(options: Mapping | None, source: str = OPTIONS_SOURCE) -> ShallowOptions:
    """Parse and check Shallow Net's model options; :class:`OptionsError` names the bad key."""
    return parse_options(ShallowOptions, options, source)


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
    trainable_items: bool = False,
) -> torch.nn.Module:
    """The variant's model with its tables initialised and frozen as the options say.

    ``trainable_items`` (the id-only baseline) learns the item table whatever
    ``freeze_items`` says.
    """
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
        freeze_items=effective_freeze(options.freeze_items, options.paper_compat) and not trainable_items,
        freeze_users=effective_freeze(options.freeze_users, options.paper_compat),
    )


class ShallowNet:
    """Shallow Net for :func:`musicrec.recommenders.fitting.fit_trained`."""

    name = "shallow"
    options_type = ShallowOptions

    def build(self, item_matrix, interactions, options, seed, variant, device, trainable_items):
        model = build_shallow_model(variant, item_matrix, interactions, options, seed, trainable_items)
        return model, ShallowTask(model, interactions, options, device, seed)

    def retrieval(self, model, task, interactions, device):
        user_vectors, item_vectors = (t.float().cpu().numpy() for t in model.retrieval_vectors())

        def to_scores(inner_products: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model.scores_from_inner_products(torch.from_numpy(inner_products).to(device)).cpu().numpy()

        return user_vectors, item_vectors, to_scores


def fit_shallow(
    embeddings: np.ndarray,
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    options: Mapping | None,
    variant: str,
    top_n: int,
    **fit_options,
) -> ModelFit:
    """One Shallow Net variant (``embedding`` | ``interaction``) through :func:`fit_trained`."""
    if variant not in VARIANTS:
        raise InputError(f"unknown Shallow Net variant {variant!r}; expected one of {sorted(VARIANTS)}")
    return fit_trained(
        ShallowNet(), embeddings, train_frame, val_frame, test_frame, options, top_n, variant=variant, **fit_options
    )
