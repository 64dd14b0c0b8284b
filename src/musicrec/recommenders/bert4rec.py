"""BERT4Rec on audio item embeddings: a bidirectional Transformer over listening histories.

Token ids: ``0 .. n_items-1`` are tracks (row i of the embedding matrix), ``n_items`` is
[MASK] and ``n_items + 1`` is padding. The item table is the audio embedding matrix
(frozen by default) plus two learned rows for [MASK] and padding; positions are learned.
The hidden size equals the embedding size, or ``hidden_dim`` through a learned linear
projection applied to every item vector. The output is tied to the (projected) item
table: an item's logit is ``scale · (hidden · item)``, so prediction is an inner-product
search.

``scale`` is one learned positive scalar (not in the published code; off under
``paper_compat``). Audio embeddings differ in norm by orders of magnitude between backbones,
and with frozen items the tied logits inherit that norm: at MusicNN-like norms the first
logits span hundreds and the loss starts far above uniform guessing. Initialising the scale
to 1 / rms(item norm) starts every backbone at unit-variance logits, so they are compared
on equal terms.
"""

from __future__ import annotations

import torch
from torch import nn

SPECIAL_INIT_STD = 0.02  # BERT's initialiser range, used for the learned rows


class Bert4Rec(nn.Module):
    def __init__(
        self,
        item_embeddings: torch.Tensor,
        max_seq_len: int,
        num_layers: int = 2,
        num_heads: int = 2,
        intermediate_size: int = 256,
        hidden_dim: int = 0,
        dropout: float = 0.1,
        freeze_items: bool = True,
        learn_logit_scale: bool = True,
    ) -> None:
        """item_embeddings (n_items, d); hidden_dim 0 = d (the paper), otherwise a projection
        d → hidden_dim; hidden size must be divisible by num_heads; learn_logit_scale False
        fixes the output scale at 1 (the published code)."""
        super().__init__()
        n_items, width = item_embeddings.shape
        hidden = hidden_dim or width
        if hidden % num_heads:
            raise ValueError(
                f"hidden size {hidden} (embedding size {width}, hidden_dim {hidden_dim}) is not divisible by "
                f"num_heads = {num_heads}; choose num_heads dividing it or set hidden_dim"
            )
        self.n_items = n_items
        self.mask_id = n_items
        self.pad_id = n_items + 1
        self.max_seq_len = max_seq_len
        self.items = nn.Embedding.from_pretrained(item_embeddings.float().clone(), freeze=freeze_items)
        self.special = nn.Parameter(torch.randn(2, width) * SPECIAL_INIT_STD)  # [MASK], padding
        self.projection = nn.Linear(width, hidden) if hidden != width else nn.Identity()
        self.positions = nn.Embedding(max_seq_len, hidden)
        self.input_norm = nn.LayerNorm(hidden)
        self.input_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=hidden,
            nhead=num_heads,
            dim_feedforward=intermediate_size,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        rms_norm = item_embeddings.float().pow(2).sum(1).mean().sqrt().clamp(min=1e-6)
        log_scale = -torch.log(rms_norm) if learn_logit_scale else torch.zeros(())
        self.log_logit_scale = nn.Parameter(log_scale, requires_grad=learn_logit_scale)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Item-table rows for token ids of any shape: (*ids.shape, d)."""
        is_special = ids >= self.n_items
        rows = self.items(ids.clamp(max=self.n_items - 1))
        return torch.where(is_special.unsqueeze(-1), self.special[(ids - self.n_items).clamp(min=0, max=1)], rows)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, h) for left-padded token ids (B, L), L <= max_seq_len.

        Positions count from the right end (the last slot is always position
        max_seq_len - 1), so a batch trimmed of all-padding leading columns, a training
        sequence and a prediction context all place their newest item alike. Padding is not
        attended to.
        """
        length = ids.shape[1]
        if length > self.max_seq_len:
            raise ValueError(f"sequence length {length} exceeds max_seq_len {self.max_seq_len}")
        positions = torch.arange(self.max_seq_len - length, self.max_seq_len, device=ids.device)
        states = self.projection(self.embed(ids)) + self.positions(positions)
        states = self.input_dropout(self.input_norm(states))
        return self.encoder(states, src_key_padding_mask=ids == self.pad_id)

    def output_item_table(self) -> torch.Tensor:
        """(n_items, h): the tied output layer, one row per track (special rows excluded),
        times the logit scale, so ``hidden @ table.T`` are the logits."""
        return self.projection(self.items.weight) * self.log_logit_scale.exp()
