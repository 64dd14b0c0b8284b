"""Shallow Net: user and item tables, one shared Linear + ReLU projection, and a score.

Item vectors are the audio embeddings (frozen by default); user vectors start from the
mean of each user's train items (or random). Both pass through the same projection.
:class:`ShallowEmbeddingModel` scores a pair by cosine similarity,
:class:`ShallowInteractionModel` by ``sigmoid(w · (u ⊙ i) + b)``.

Both expose :meth:`retrieval_vectors`: user and item vectors whose inner product orders
items exactly as the model's score does, so top-N retrieval is one FAISS search.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ShallowModel(nn.Module):
    def __init__(
        self,
        item_embeddings: torch.Tensor,
        user_embeddings: torch.Tensor,
        hidden_dim: int = 0,
        freeze_items: bool = True,
        freeze_users: bool = False,
    ) -> None:
        """item_embeddings (n_items, d), user_embeddings (n_users, d) initial values;
        hidden_dim: projection output size, 0 = d; freeze_*: keep that table fixed."""
        super().__init__()
        if item_embeddings.shape[1] != user_embeddings.shape[1]:
            raise ValueError(
                f"user table width {user_embeddings.shape[1]} differs from item table width {item_embeddings.shape[1]}"
            )
        width = item_embeddings.shape[1]
        self.items = nn.Embedding.from_pretrained(item_embeddings.float().clone(), freeze=freeze_items)
        self.users = nn.Embedding.from_pretrained(user_embeddings.float().clone(), freeze=freeze_users)
        self.projection = nn.Sequential(nn.Linear(width, hidden_dim or width), nn.ReLU())

    def _project(self, table: nn.Embedding, index: torch.Tensor) -> torch.Tensor:
        """Projected rows for an index tensor of any shape: (*index.shape, h).

        Negatives repeat rows many times (10 000 positives × 20 negatives draw most of the
        catalogue several times over), so each distinct row is projected once and gathered.
        """
        unique, inverse = torch.unique(index, return_inverse=True)
        return self._finish(self.projection(table(unique)))[inverse]

    def _finish(self, projected: torch.Tensor) -> torch.Tensor:
        return projected

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of (user, item) pairs; users and items are index tensors that broadcast
        against each other, e.g. (B, 1) with (B, 1 + K). Out: the broadcast shape."""
        return self._score(self._project(self.users, users), self._project(self.items, items))

    def _score(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_users, h) and (n_items, h) whose inner products rank items as the score does."""
        raise NotImplementedError

    def scores_from_inner_products(self, inner_products: torch.Tensor) -> torch.Tensor:
        """The model's score for retrieval inner products (identity unless overridden)."""
        return inner_products


class ShallowEmbeddingModel(_ShallowModel):
    """Cosine similarity between projected user and item vectors."""

    def _finish(self, projected: torch.Tensor) -> torch.Tensor:
        # Normalising distinct rows before gathering is the cosine, computed once per row.
        return F.normalize(projected, dim=-1)

    def _score(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        return (user_vectors * item_vectors).sum(-1)

    @torch.no_grad()
    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        users = self._finish(self.projection(self.users.weight))
        items = self._finish(self.projection(self.items.weight))
        return users, items


class ShallowInteractionModel(_ShallowModel):
    """``sigmoid(w · (u ⊙ i) + b)`` on the Hadamard product of projected vectors."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.interaction = nn.Linear(self.projection[0].out_features, 1)

    def _score(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.interaction(user_vectors * item_vectors).squeeze(-1))

    @torch.no_grad()
    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        # w · (u ⊙ i) = (u ⊙ w) · i and sigmoid(· + b) is increasing, so folding w into the
        # user side gives exactly the model's ranking by inner product.
        users = self.projection(self.users.weight) * self.interaction.weight[0]
        items = self.projection(self.items.weight)
        return users, items

    def scores_from_inner_products(self, inner_products: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(inner_products + self.interaction.bias[0])
