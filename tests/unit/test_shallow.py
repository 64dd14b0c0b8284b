"""Shallow Net: freezing, the hinge loss, negative sampling, scores and learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from musicrec.recommenders.inputs import prepare_interactions
from musicrec.recommenders.knn import mean_item_vectors
from musicrec.recommenders.losses import confidence_weights, hinge_loss, l2_penalty
from musicrec.recommenders.shallow import ShallowEmbeddingModel, ShallowInteractionModel
from musicrec.recommenders.shallow_training import (
    ShallowTask,
    build_shallow_model,
    fit_shallow,
    sample_negatives,
    shallow_options,
)
from test_training import FAST_SHALLOW, TOP_N, planted_listening


@pytest.fixture(scope="module")
def problem():
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    interactions = prepare_interactions(train_frame, val_frame, test_frame, np.ones(len(embeddings), dtype=bool))
    return embeddings, interactions, (train_frame, val_frame, test_frame)


@pytest.mark.parametrize("variant", ["embedding", "interaction"])
def test_requires_grad_per_table(problem, variant):
    embeddings, interactions, _ = problem
    default = build_shallow_model(variant, embeddings, interactions, shallow_options({}), seed=0)
    assert default.items.weight.requires_grad is False  # the paper's description: frozen audio items
    assert default.users.weight.requires_grad is True
    assert all(p.requires_grad for p in default.projection.parameters())
    compat = build_shallow_model(variant, embeddings, interactions, shallow_options({"paper_compat": True}), seed=0)
    assert compat.items.weight.requires_grad is True  # the published code's inverted flags
    assert compat.users.weight.requires_grad is False
    explicit = build_shallow_model(
        variant, embeddings, interactions, shallow_options({"freeze_items": False, "freeze_users": True}), seed=0
    )
    assert explicit.items.weight.requires_grad is True and explicit.users.weight.requires_grad is False


def test_frozen_items_do_not_move_in_training(problem):
    embeddings, _, frames = problem
    fit = fit_shallow(embeddings, *frames, {**FAST_SHALLOW, "max_epochs": 2}, "embedding", TOP_N, progress=False)
    assert torch.equal(fit.training.best_state["items.weight"], torch.from_numpy(embeddings))


def test_hinge_loss_by_hand():
    positive = torch.tensor([0.9, 0.1])
    negative = torch.tensor([[0.5, 0.8], [0.0, -0.5]])
    # Violations: max(0, 0.2 - 0.9 + 0.5) = 0, max(0, 0.2 - 0.9 + 0.8) = 0.1,
    #             max(0, 0.2 - 0.1 + 0.0) = 0.1, max(0, 0.2 - 0.1 - 0.5) = 0; mean = 0.05.
    assert float(hinge_loss(positive, negative)) == pytest.approx(0.05)
    weights = torch.tensor([2.0, 3.0])
    assert float(hinge_loss(positive, negative, weights)) == pytest.approx((2 * 0.1 + 3 * 0.1) / 4)
    assert float(hinge_loss(positive, negative, margin=0.0)) == pytest.approx(0.0)


def test_confidence_weight_and_l2_by_hand():
    counts = torch.tensor([0.0, 1.0, 9.0])
    expected = [1.0, 1.0 + 2.0 * np.log(2.0), 1.0 + 2.0 * np.log(10.0)]
    np.testing.assert_allclose(confidence_weights(counts).numpy(), expected, rtol=1e-6)
    assert float(l2_penalty([torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])])) == pytest.approx(14.0)


def test_negatives_shape_range_and_never_the_positive():
    generator = torch.Generator().manual_seed(0)
    pool = torch.tensor([2, 5, 7, 11, 13])  # usable items (others excluded)
    positives = torch.tensor([5, 13, 2, 7])
    negatives = sample_negatives(pool, torch.searchsorted(pool, positives), 400, generator)
    assert negatives.shape == (4, 400)
    assert torch.isin(negatives, pool).all(), "a negative outside the pool (an excluded item)"
    assert not (negatives == positives.unsqueeze(1)).any()
    for row, positive in zip(negatives, positives):  # the other four are all drawn, about equally
        counts = torch.bincount(row, minlength=14)[pool[pool != positive]]
        assert counts.min() > 60


@pytest.mark.parametrize("sample_type, corrupted", [("item", "users"), ("user", "items")])
def test_task_draws_negatives_over_the_configured_side(problem, sample_type, corrupted):
    embeddings, interactions, _ = problem
    options = shallow_options({"sample_type": sample_type, "neg_samples": 7, "batch_size": 50})
    model = build_shallow_model("embedding", embeddings, interactions, options, seed=0)
    task = ShallowTask(model, interactions, options, torch.device("cpu"), seed=0)
    rows, negatives = next(iter(task.train_batches(torch.Generator().manual_seed(1))))
    assert rows.shape == (50,) and negatives.shape == (50, 7)
    positives = getattr(task, corrupted)[rows]
    assert not (negatives == positives.unsqueeze(1)).any()
    limit = interactions.n_users if corrupted == "users" else interactions.n_items
    assert negatives.min() >= 0 and negatives.max() < limit
    assert task.n_train_batches() == int(np.ceil(len(interactions.train_user) / 50))
    # The validation negatives are fixed: two evaluations agree exactly.
    with torch.no_grad():
        assert task.validation_loss() == task.validation_loss()


def test_users_start_from_the_mean_of_their_items(problem):
    embeddings, interactions, _ = problem
    means = mean_item_vectors(interactions, embeddings)
    indptr = interactions.train_indptr()
    user = 7
    np.testing.assert_allclose(
        means[user], embeddings[interactions.train_item[indptr[user] : indptr[user + 1]]].mean(0), rtol=1e-5
    )
    model = build_shallow_model("embedding", embeddings, interactions, shallow_options({}), seed=0)
    np.testing.assert_allclose(model.users.weight.detach().numpy(), means, rtol=1e-6)


def test_cosine_score_and_projection_size():
    torch.manual_seed(0)
    items, users = torch.randn(10, 6), torch.randn(4, 6)
    model = ShallowEmbeddingModel(items, users, hidden_dim=3)
    assert model.projection[0].out_features == 3
    assert ShallowEmbeddingModel(items, users).projection[0].out_features == 6  # 0 = input size
    u, i = torch.tensor([[0], [1]]), torch.tensor([[2, 3, 3], [4, 4, 9]])
    direct = F.cosine_similarity(model.projection(users[u]), model.projection(items[i]), dim=-1)
    torch.testing.assert_close(model(u, i), direct)


def test_interaction_score_and_retrieval_vectors_rank_like_the_model():
    torch.manual_seed(0)
    items, users = torch.randn(12, 5), torch.randn(3, 5)
    model = ShallowInteractionModel(items, users, hidden_dim=4)
    u, i = torch.tensor([[1]]), torch.arange(12).unsqueeze(0)
    hadamard = model.projection(users[1]) * model.projection(items)
    torch.testing.assert_close(model(u, i)[0], torch.sigmoid(model.interaction(hadamard).squeeze(-1)))
    user_vectors, item_vectors = model.retrieval_vectors()
    inner = user_vectors @ item_vectors.t()
    torch.testing.assert_close(model.scores_from_inner_products(inner[1]), model(u, i)[0].detach())
    cosine = ShallowEmbeddingModel(items, users)
    user_vectors, item_vectors = cosine.retrieval_vectors()
    torch.testing.assert_close(
        user_vectors @ item_vectors.t(), cosine(torch.arange(3)[:, None], torch.arange(12)[None, :]).detach()
    )


@pytest.mark.parametrize("variant", ["embedding", "interaction"])
def test_training_on_planted_structure_lowers_validation_loss(problem, variant):
    embeddings, _, frames = problem
    # Random user vectors: the mean initialisation alone already nearly solves this problem.
    options = {**FAST_SHALLOW, "max_epochs": 12, "user_init": "random", "lr": 0.01}
    fit = fit_shallow(embeddings, *frames, options, variant, TOP_N, seed=2, progress=False)
    val_loss = fit.training.history["val_loss"].to_numpy()
    assert val_loss.min() < 0.6 * val_loss[0]
    assert fit.user_vectors.shape == (48, 16) and fit.item_vectors.shape == (64, 16)


def test_informative_embeddings_beat_random_ones(problem):
    embeddings, _, (train_frame, val_frame, test_frame) = problem
    options = {**FAST_SHALLOW, "max_epochs": 10, "sample_type": "user"}

    def hit_rate(matrix):
        fit = fit_shallow(matrix, train_frame, val_frame, test_frame, options, "embedding", top_n=5, progress=False)
        truth = set(zip(test_frame["user_id"], test_frame["track_idx"]))
        hits = {u for u, t in zip(fit.recommendations["user_id"], fit.recommendations["track_idx"]) if (u, t) in truth}
        return len(hits) / test_frame["user_id"].nunique()

    random = np.random.default_rng(9).normal(size=embeddings.shape).astype(np.float32)
    assert hit_rate(embeddings) > hit_rate(random) + 0.3
