"""Training BERT4Rec: listening histories as padded sequences, masking, the task the
training loop drives, the model builder, and :func:`fit_bert4rec` (through ``fit_trained``).

Sequences are left-padded to ``max_seq_len`` so the newest item always sits in the last
slot. Training uses each user's last ``max_seq_len`` train items (as the paper); every
non-padding position is replaced by [MASK] with probability ``mlm_probability``, and the
last item additionally with probability ``force_last_item_masking_prob``. The loss is the
cross-entropy of the true items at the masked positions only.

Prediction (and the user vector) uses one context of the same length: the last
``max_seq_len − 1`` train items followed by [MASK]; the hidden state at [MASK] scored
against the tied item table ranks the catalogue, and the user's train items are removed.

Validation loss (deterministic, comparable across epochs): for each val user, the
prediction context above; the loss is the mean over all val (user, track) pairs of
``−log softmax(logits)[track]``, the softmax running over the usable catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import torch

from musicrec.recommenders.bert4rec import Bert4Rec
from musicrec.recommenders.fitting import ModelFit, fit_trained
from musicrec.recommenders.inputs import InputError, Interactions
from musicrec.recommenders.losses import item_logits, masked_item_cross_entropy
from musicrec.recommenders.options import Bert4RecOptions, parse_options
from musicrec.recommenders.training import effective_freeze

OPTIONS_SOURCE = "config recommenders.bert4rec"
PAPER_PREDICTION_CONTEXT = 50  # the published code predicted from 50 slots whatever it trained on


def bert4rec_options(options: Mapping | None, source: str = OPTIONS_SOURCE) -> Bert4RecOptions:
    """Parse and check BERT4Rec's model options; :class:`OptionsError` names the bad key."""
    return parse_options(Bert4RecOptions, options, source)


def prediction_context_length(options: Bert4RecOptions) -> int:
    """Slots in the prediction context: ``max_seq_len``, or the published code's 50 under paper_compat."""
    return min(PAPER_PREDICTION_CONTEXT, options.max_seq_len) if options.paper_compat else options.max_seq_len


def last_items(indptr: np.ndarray, items: np.ndarray, users: np.ndarray, length: int, pad_id: int) -> np.ndarray:
    """(len(users), length) int64: each user's last ``length`` items, oldest first, left-padded.

    In: CSR-style histories (user u's items in order are ``items[indptr[u]:indptr[u+1]]``).
    """
    starts, ends = indptr[users][:, None], indptr[users + 1][:, None]
    slots = ends - length + np.arange(length)[None, :]
    return np.where(slots >= starts, items[np.clip(slots, 0, max(len(items) - 1, 0))], pad_id).astype(np.int64)


def prediction_contexts(
    indptr: np.ndarray, items: np.ndarray, users: np.ndarray, length: int, mask_id: int, pad_id: int
) -> np.ndarray:
    """(len(users), length): the last ``length − 1`` items of each history, then [MASK]."""
    history = last_items(indptr, items, users, length - 1, pad_id)
    return np.concatenate([history, np.full((len(users), 1), mask_id, dtype=np.int64)], axis=1)


def mask_sequences(
    sequences: torch.Tensor,
    pad_id: int,
    mask_id: int,
    probability: float,
    force_last_probability: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style masking of left-padded sequences (B, L).

    Out: inputs (B, L) with masked positions set to ``mask_id``, and is_masked (B, L) bool.
    Padding is never masked; the last slot (the newest item) is masked in addition with
    ``force_last_probability``.
    """
    draws = torch.rand(sequences.shape, generator=generator, device=sequences.device)
    is_masked = (draws < probability) & (sequences != pad_id)
    if force_last_probability > 0:
        forced = torch.rand(sequences.shape[0], generator=generator, device=sequences.device) < force_last_probability
        is_masked[:, -1] |= forced & (sequences[:, -1] != pad_id)
    return sequences.masked_fill(is_masked, mask_id), is_masked


def _trim_padding(sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Drop leading columns that are padding in every row (positions count from the right)."""
    return sequences[:, sequences.shape[1] - int(lengths.max()) :]


class Bert4RecTask:
    """BERT4Rec's pieces for :func:`musicrec.recommenders.training.train`."""

    def __init__(
        self,
        model: Bert4Rec,
        interactions: Interactions,
        options: Bert4RecOptions,
        device: torch.device,
        context_length: int,
    ) -> None:
        self.model, self.device, self.options = model, device, options
        self.indptr = interactions.train_indptr()
        self.history = interactions.train_item
        all_users = np.arange(interactions.n_users)
        self.sequences = torch.as_tensor(
            last_items(self.indptr, self.history, all_users, options.max_seq_len, model.pad_id), device=device
        )
        self.lengths = torch.as_tensor(np.minimum(np.diff(self.indptr), options.max_seq_len), device=device)
        self.usable = torch.as_tensor(interactions.item_is_usable, device=device)
        self.context_length = context_length
        # Val pairs grouped by user, for the deterministic validation loss.
        order = np.argsort(interactions.val_user, kind="stable")
        self.val_users, self.val_pair_start = np.unique(interactions.val_user[order], return_index=True)
        self.val_pair_start = np.append(self.val_pair_start, len(order))
        self.val_items = torch.as_tensor(interactions.val_item[order], device=device)
        self.val_rows = torch.as_tensor(
            np.repeat(np.arange(len(self.val_users)), np.diff(self.val_pair_start)), device=device
        )

    def n_train_batches(self) -> int:
        return math.ceil(self.sequences.shape[0] / self.options.batch_size)

    def train_batches(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = torch.randperm(self.sequences.shape[0], generator=generator, device=self.device)
        for rows in order.split(self.options.batch_size):
            sequences = _trim_padding(self.sequences[rows], self.lengths[rows])
            inputs, is_masked = mask_sequences(
                sequences,
                self.model.pad_id,
                self.model.mask_id,
                self.options.mlm_probability,
                self.options.force_last_item_masking_prob,
                generator,
            )
            yield inputs, sequences, is_masked

    def train_loss(self, batch) -> torch.Tensor:
        inputs, labels, is_masked = batch
        hidden = self.model(inputs)
        return masked_item_cross_entropy(hidden, labels, is_masked, self.model.output_item_table(), self.usable)

    def user_states(self, users: np.ndarray) -> torch.Tensor:
        """(len(users), h): hidden state at [MASK] after each user's prediction context."""
        contexts = prediction_contexts(
            self.indptr, self.history, users, self.context_length, self.model.mask_id, self.model.pad_id
        )
        states = []
        for chunk in torch.as_tensor(contexts, device=self.device).split(self.options.batch_size):
            lengths = (chunk != self.model.pad_id).sum(1)
            states.append(self.model(_trim_padding(chunk, lengths))[:, -1])
        return torch.cat(states)

    def validation_loss(self) -> float:
        table = self.model.output_item_table()
        total = torch.zeros((), device=self.device)
        size = self.options.batch_size
        for first in range(0, len(self.val_users), size):
            last = min(first + size, len(self.val_users))
            states = self.user_states(self.val_users[first:last])
            log_probs = torch.log_softmax(item_logits(states, table, self.usable).float(), dim=-1)
            pairs = slice(self.val_pair_start[first], self.val_pair_start[last])
            total -= log_probs[self.val_rows[pairs] - first, self.val_items[pairs]].sum()
        return float(total) / len(self.val_items)


def build_bert4rec_model(
    item_matrix: np.ndarray, options: Bert4RecOptions, seed: int, trainable_items: bool = False
) -> Bert4Rec:
    """BERT4Rec over the (n_items, d) item table, initialised with ``seed``, frozen as the options say.

    ``trainable_items`` (the id-only baseline) learns the item table whatever ``freeze_items`` says.
    """
    hidden = options.hidden_dim or item_matrix.shape[1]
    if hidden % options.num_heads:
        raise InputError(
            f"{OPTIONS_SOURCE}: num_heads = {options.num_heads} does not divide the hidden size {hidden} (embedding "
            f"size {item_matrix.shape[1]}, hidden_dim {options.hidden_dim}); pick num_heads dividing it or set hidden_dim"
        )
    torch.manual_seed(int(seed))
    return Bert4Rec(
        torch.from_numpy(item_matrix),
        max_seq_len=options.max_seq_len,
        num_layers=options.num_layers,
        num_heads=options.num_heads,
        intermediate_size=options.intermediate_size,
        hidden_dim=options.hidden_dim,
        dropout=options.dropout,
        freeze_items=effective_freeze(options.freeze_items, options.paper_compat) and not trainable_items,
        learn_logit_scale=options.learn_logit_scale and not options.paper_compat,
    )


class Bert4RecModel:
    """BERT4Rec for :func:`musicrec.recommenders.fitting.fit_trained`.

    User vectors are the hidden states at [MASK] of every train user, item vectors the tied
    output table (logit = inner product), so scores are the logits.
    """

    name = "bert4rec"
    options_type = Bert4RecOptions

    def build(self, item_matrix, interactions, options, seed, variant, device, trainable_items):
        model = build_bert4rec_model(item_matrix, options, seed, trainable_items)
        return model, Bert4RecTask(model, interactions, options, device, prediction_context_length(options))

    def retrieval(self, model, task, interactions, device):
        user_vectors = task.user_states(np.arange(interactions.n_users)).float().cpu().numpy()
        return user_vectors, model.output_item_table().float().cpu().numpy(), None


def fit_bert4rec(
    embeddings: np.ndarray,
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    options: Mapping | None,
    top_n: int,
    **fit_options,
) -> ModelFit:
    """BERT4Rec through :func:`musicrec.recommenders.fitting.fit_trained`."""
    return fit_trained(Bert4RecModel(), embeddings, train_frame, val_frame, test_frame, options, top_n, **fit_options)
