"""The id-only baseline (issue 9 point 3): ``trainable_items`` learns the item table of both trained models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicrec.embeddings import id_table
from musicrec.recommenders.bert4rec_training import bert4rec_options, build_bert4rec_model, fit_bert4rec
from musicrec.recommenders.inputs import prepare_interactions
from musicrec.recommenders.shallow_training import build_shallow_model, fit_shallow, shallow_options
from test_training import FAST_BERT, TOP_N, planted_listening

# Random users and a higher lr, so that the first epochs improve the validation loss and the
# best weights are trained ones (not the initial table kept by early stopping).
SHALLOW = {"batch_size": 128, "neg_samples": 5, "max_epochs": 3, "lr": 0.01, "user_init": "random"}
BERT = {**FAST_BERT, "max_epochs": 3}


@pytest.fixture(scope="module")
def data():
    _, train_frame, val_frame, test_frame = planted_listening()
    return id_table(64, 16, seed=0), train_frame, val_frame, test_frame


@pytest.fixture(scope="module")
def interactions(data):
    items, train_frame, val_frame, test_frame = data
    return prepare_interactions(train_frame, val_frame, test_frame, np.ones(len(items), dtype=bool))


@pytest.mark.parametrize("variant", ["embedding", "interaction"])
@pytest.mark.parametrize("freeze_items", [True, False])
def test_shallow_item_table_requires_grad_when_trainable(data, interactions, variant, freeze_items):
    items = data[0]
    options = shallow_options({"freeze_items": freeze_items})
    learned = build_shallow_model(variant, items, interactions, options, seed=0, trainable_items=True)
    assert learned.items.weight.requires_grad is True  # whatever freeze_items says
    assert learned.users.weight.requires_grad is True  # the user table is left as configured
    frozen = build_shallow_model(variant, items, interactions, options, seed=0, trainable_items=False)
    assert frozen.items.weight.requires_grad is (not freeze_items)
    compat = shallow_options({"paper_compat": True})  # the published inversion: items train anyway
    assert build_shallow_model(variant, items, interactions, compat, seed=0).items.weight.requires_grad is True


@pytest.mark.parametrize("freeze_items", [True, False])
def test_bert4rec_item_table_requires_grad_when_trainable(data, freeze_items):
    items = data[0]
    options = bert4rec_options({"freeze_items": freeze_items, "max_seq_len": 8})
    learned = build_bert4rec_model(items, options, seed=0, trainable_items=True)
    assert learned.items.weight.requires_grad is True
    assert learned.special.requires_grad is True
    frozen = build_bert4rec_model(items, options, seed=0, trainable_items=False)
    assert frozen.items.weight.requires_grad is (not freeze_items)
    np.testing.assert_array_equal(learned.items.weight.detach().numpy(), items)  # starts from the given table


def test_shallow_trainable_items_change_in_training_and_frozen_ones_do_not(data):
    items = data[0]
    initial = torch.from_numpy(items)
    learned = fit_shallow(*data, SHALLOW, "embedding", TOP_N, seed=3, trainable_items=True, progress=False)
    assert learned.training.best_epoch >= 1
    assert not torch.equal(learned.training.best_state["items.weight"], initial)
    frozen = fit_shallow(*data, SHALLOW, "embedding", TOP_N, seed=3, trainable_items=False, progress=False)
    assert torch.equal(frozen.training.best_state["items.weight"], initial)
    # The retrieval vectors come from the learned table, not the initial one.
    assert not np.allclose(learned.item_vectors, frozen.item_vectors)


def test_bert4rec_trainable_items_change_in_training_and_frozen_ones_do_not(data):
    items = data[0]
    initial = torch.from_numpy(items)
    learned = fit_bert4rec(*data, BERT, TOP_N, seed=1, trainable_items=True, progress=False)
    assert learned.training.best_epoch >= 1
    assert not torch.equal(learned.training.best_state["items.weight"], initial)
    frozen = fit_bert4rec(*data, BERT, TOP_N, seed=1, trainable_items=False, progress=False)
    assert torch.equal(frozen.training.best_state["items.weight"], initial)


def test_a_frozen_runs_state_is_not_resumed_as_the_id_baseline(data, tmp_path):
    fit_shallow(*data, SHALLOW, "embedding", TOP_N, seed=3, state_dir=tmp_path, progress=False)
    learned = fit_shallow(
        *data, SHALLOW, "embedding", TOP_N, seed=3, trainable_items=True, state_dir=tmp_path, progress=False
    )
    assert learned.training.resumed_from_epoch == 0 and learned.training.trained_epochs == SHALLOW["max_epochs"]
