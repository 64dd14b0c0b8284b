"""AlignerV2: a two-tower contrastive model of users and songs in one space.

User tower: a table of user vectors. Song tower: a small MLP projecting the *frozen* song
embeddings. Both outputs are L2-normalised, so a user-song score is a cosine; InfoNCE with a
temperature turns cosines into a softmax over one positive and its sampled negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AlignerV2(nn.Module):
    """songs (n_songs, d) frozen features; n_users rows of the user table; dim the shared width;
    hidden the song tower's hidden width (0: linear)."""

    def __init__(self, songs: torch.Tensor, n_users: int, dim: int, hidden: int):
        super().__init__()
        # Not persistent: the frozen inputs are data, not weights; checkpoints stay small.
        self.register_buffer("songs", songs.float(), persistent=False)
        self.users = nn.Embedding(n_users, dim)
        nn.init.normal_(self.users.weight, std=1.0 / dim**0.5)
        # hidden = 0: a linear projection (the tastes of the simulator are linear in the songs);
        # hidden > 0: one GELU hidden layer of that width.
        if hidden:
            self.song_tower = nn.Sequential(nn.Linear(songs.shape[1], hidden), nn.GELU(), nn.Linear(hidden, dim))
        else:
            self.song_tower = nn.Linear(songs.shape[1], dim)

    def song_vectors(self, songs: torch.Tensor | None = None) -> torch.Tensor:
        """(n, d) song features (default: all songs) -> (n, dim) unit vectors."""
        return F.normalize(self.song_tower(self.songs if songs is None else songs), dim=-1)

    def user_vectors(self, users: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) user indices (default: all) -> (B, dim) unit vectors."""
        table = self.users.weight if users is None else self.users(users)
        return F.normalize(table, dim=-1)


def info_nce(users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE: mean over B pairs of ``−log softmax(cos/τ)[positive]``.

    In: users (B, h), positives (B, h), negatives (B, K, h), all unit vectors. Out: a scalar.
    """
    positive = (users * positives).sum(-1, keepdim=True)
    negative = torch.einsum("bh,bkh->bk", users, negatives)
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(users), dtype=torch.long, device=users.device))
