"""BERT4Rec: freezing, masking, the masked-only loss, the prediction context and learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicrec.recommenders.bert4rec import Bert4Rec
from musicrec.recommenders.inputs import InputError, prepare_interactions
from musicrec.recommenders.losses import masked_item_cross_entropy, masked_item_logits
from musicrec.recommenders.bert4rec_training import (
    Bert4RecTask,
    bert4rec_options,
    fit_bert4rec,
    last_items,
    mask_sequences,
    prediction_context_length,
    prediction_contexts,
)
from test_training import FAST_BERT, TOP_N, planted_listening


def small_model(n_items=30, width=8, max_seq_len=6, **kwargs) -> Bert4Rec:
    torch.manual_seed(0)
    return Bert4Rec(
        torch.randn(n_items, width), max_seq_len=max_seq_len, num_layers=1, num_heads=2, intermediate_size=16, **kwargs
    )


def test_requires_grad_per_table():
    model = small_model()
    assert model.items.weight.requires_grad is False  # frozen audio item embeddings (default)
    assert model.special.requires_grad is True  # learned [MASK] and padding rows
    assert model.positions.weight.requires_grad is True  # learned positions
    assert all(p.requires_grad for p in model.encoder.parameters())
    assert model.log_logit_scale.requires_grad is True  # the learned output temperature
    assert small_model(freeze_items=False).items.weight.requires_grad is True
    fixed = small_model(learn_logit_scale=False)
    assert fixed.log_logit_scale.requires_grad is False and float(fixed.log_logit_scale) == 0.0
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    fit = fit_bert4rec(
        embeddings, train_frame, val_frame, test_frame, {**FAST_BERT, "max_epochs": 1}, TOP_N, progress=False
    )
    assert torch.equal(fit.training.best_state["items.weight"], torch.from_numpy(embeddings))
    compat = fit_bert4rec(
        embeddings,
        train_frame,
        val_frame,
        test_frame,
        {**FAST_BERT, "max_epochs": 1, "paper_compat": True},
        TOP_N,
        progress=False,
    )
    assert not torch.equal(compat.training.best_state["items.weight"], torch.from_numpy(embeddings))
    assert float(compat.training.best_state["log_logit_scale"]) == 0.0  # published code: no scale


def test_item_table_lookup_and_special_tokens():
    model = small_model(n_items=5)
    ids = torch.tensor([[0, 4, model.mask_id, model.pad_id]])
    rows = model.embed(ids)[0]
    torch.testing.assert_close(rows[:2], model.items.weight[[0, 4]])
    torch.testing.assert_close(rows[2], model.special[0])
    torch.testing.assert_close(rows[3], model.special[1])
    assert model.output_item_table().shape == (5, 8)  # tied output: tracks only


def test_optional_projection_changes_the_hidden_size():
    model = small_model(width=8, hidden_dim=6)
    hidden = model(torch.tensor([[1, 2, model.mask_id]]))
    assert hidden.shape == (1, 3, 6) and model.output_item_table().shape == (30, 6)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        Bert4Rec(torch.randn(4, 7), max_seq_len=4, num_heads=2)


def test_loss_only_at_masked_positions():
    model = small_model()
    model.eval()
    labels = torch.tensor([[3, 4, 5, 6], [7, 8, 9, 10]])
    is_masked = torch.tensor([[False, True, False, True], [True, False, False, False]])
    inputs = labels.masked_fill(is_masked, model.mask_id)
    hidden = model(inputs)
    table = model.output_item_table()
    logits = masked_item_logits(hidden, is_masked, table)
    assert logits.shape == (3, 30)  # one row per masked position, not B × L
    loss = masked_item_cross_entropy(hidden, labels, is_masked, table)
    changed = labels.clone()
    changed[~is_masked] = 0  # unmasked labels play no part
    assert torch.equal(masked_item_cross_entropy(hidden, changed, is_masked, table), loss)
    expected = torch.nn.functional.cross_entropy(logits, labels[is_masked])
    torch.testing.assert_close(loss, expected)
    flipped = labels.clone()
    flipped[0, 1] = 0  # a masked label does matter
    assert not torch.equal(masked_item_cross_entropy(hidden, flipped, is_masked, table), loss)
    nothing = masked_item_cross_entropy(hidden, labels, torch.zeros_like(is_masked), table)
    assert float(nothing.detach()) == 0.0 and nothing.requires_grad


def test_unusable_items_get_no_probability():
    model = small_model()
    usable = torch.ones(30, dtype=torch.bool)
    usable[[2, 5]] = False
    hidden = model(torch.tensor([[1, model.mask_id]]))
    logits = masked_item_logits(hidden, torch.tensor([[False, True]]), model.output_item_table(), usable)
    assert torch.isneginf(logits[0, [2, 5]]).all() and torch.isfinite(logits[0, usable]).all()


def test_histories_are_left_padded_and_the_context_has_max_seq_len_slots():
    indptr = np.array([0, 3, 10])
    items = np.array([5, 6, 7, 1, 2, 3, 4, 5, 6, 7])
    pad, mask = 99, 98
    assert last_items(indptr, items, np.array([0, 1]), 4, pad).tolist() == [[pad, 5, 6, 7], [4, 5, 6, 7]]
    contexts = prediction_contexts(indptr, items, np.array([0, 1]), 4, mask, pad)
    assert contexts.shape == (2, 4)  # the predict context length equals max_seq_len
    assert contexts.tolist() == [[5, 6, 7, mask], [5, 6, 7, mask]]


def test_task_uses_one_context_length_and_paper_compat_uses_50():
    embeddings, train_frame, val_frame, test_frame = planted_listening(per_user=60, n_items=256, n_users=8)
    interactions = prepare_interactions(train_frame, val_frame, test_frame, np.ones(256, dtype=bool))
    options = bert4rec_options({"max_seq_len": 60, "num_heads": 2})
    model = Bert4Rec(torch.from_numpy(embeddings), max_seq_len=60)
    task = Bert4RecTask(model, interactions, options, torch.device("cpu"), context_length=60)
    assert task.sequences.shape == (8, 60)
    captured = []
    model.register_forward_hook(lambda module, args, output: captured.append(args[0].shape[1]))
    with torch.no_grad():
        task.user_states(np.arange(8))
    assert captured == [60]
    assert prediction_context_length(options) == 60
    assert prediction_context_length(bert4rec_options({"max_seq_len": 60, "paper_compat": True})) == 50
    assert prediction_context_length(bert4rec_options({"max_seq_len": 30, "paper_compat": True})) == 30


def test_masking_never_touches_padding_and_can_force_the_last_item():
    generator = torch.Generator().manual_seed(0)
    pad, mask = 99, 98
    sequences = torch.tensor([[pad, pad, 1, 2, 3, 4]] * 400)
    inputs, is_masked = mask_sequences(sequences, pad, mask, 0.2, 0.0, generator)
    assert not is_masked[:, :2].any()
    assert torch.equal(inputs[is_masked], torch.full((int(is_masked.sum()),), mask))
    assert torch.equal(inputs[~is_masked], sequences[~is_masked])
    assert 0.15 < is_masked[:, 2:].float().mean() < 0.25
    _, forced = mask_sequences(sequences, pad, mask, 0.2, 1.0, generator)
    assert forced[:, -1].all()


def test_positions_count_from_the_right_so_trimming_padding_changes_nothing():
    model = small_model(max_seq_len=6)
    model.eval()
    padded = torch.tensor([[model.pad_id, model.pad_id, 3, 4, 5, model.mask_id]])
    with torch.no_grad():
        full = model(padded)[:, 2:]
        trimmed = model(padded[:, 2:])
    torch.testing.assert_close(full, trimmed, rtol=1e-5, atol=1e-5)


def test_training_on_planted_structure_lowers_validation_loss():
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    fit = fit_bert4rec(
        embeddings, train_frame, val_frame, test_frame, {**FAST_BERT, "max_epochs": 8}, TOP_N, seed=1, progress=False
    )
    val_loss = fit.training.history["val_loss"].to_numpy()
    assert val_loss[-1] < val_loss[0] - 0.5
    assert val_loss[-1] < np.log(64) - 0.5  # clearly better than a uniform guess over the catalogue
    recs = fit.recommendations
    assert train_frame["track_idx"].nunique() == 64  # every track is a train-played candidate
    assert (recs.groupby("user_id").size() == 64 - 10).all()  # top_n 100 > what is left unseen
    seen = set(zip(train_frame["user_id"], train_frame["track_idx"]))
    assert not any((u, t) in seen for u, t in zip(recs["user_id"], recs["track_idx"]))
    assert fit.item_vectors.shape == (64, 16) and fit.user_vectors.shape == (48, 16)


def test_num_heads_must_divide_the_hidden_size():
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    with pytest.raises(InputError, match="num_heads = 3 does not divide the hidden size 16"):
        fit_bert4rec(embeddings, train_frame, val_frame, test_frame, {"num_heads": 3}, TOP_N, progress=False)
