"""Layer fusion models: a learned combination of a backbone's layers into one embedding.

Both models take a zero-padded layer stack ``(batch, n_layers, d_max)`` and return
L2-normalised embeddings ``(batch, out_dim)``; ``forward_with_weights`` also returns the
layer weights ``(batch, n_layers)``, which sum to 1 over layers for every track.

- :class:`SoftmaxLayerFusion`: one global weight per layer (softmax of free logits), the
  interpretable baseline (MARBLE's learned weighted sum);
- :class:`AttentionLayerFusion`: per-track weights, a small MLP scores each layer's vector
  and a softmax over the **layer** axis turns the scores into weights. (The design note's
  sketch applies ``Softmax(dim=0)`` to a batched input, normalising over the batch: a track's
  weights then depend on its batch mates. Here nothing mixes tracks; there is no batch
  normalisation either, so a track's output is independent of its batch.)

Both start with :class:`LayerInput`: fixed per-layer standardisation (means and scales of
the training tracks, buffers saved with the weights), then, when layer widths differ, a
per-layer linear projection to a common width (only each layer's own ``dims[l]`` columns
enter it); equal widths are used as they are. The fused vector goes through a linear
projection to ``out_dim``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

FUSION_KINDS = ("softmax", "attention")


class LayerInput(nn.Module):
    """Standardise each layer, then project layers of differing widths to a common width.

    In: (batch, L, d_max). Out: (batch, L, width) with ``width`` = d_max when all layers
    have that width, else ``common_dim``.
    """

    def __init__(self, dims: Sequence[int], mean: np.ndarray, scale: np.ndarray, common_dim: int):
        super().__init__()
        dims = [int(d) for d in dims]
        d_max = max(dims)
        mask = torch.zeros(len(dims), d_max)
        for index, width in enumerate(dims):
            mask[index, :width] = 1.0
        self.register_buffer("mask", mask)
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean), dtype=torch.float32).reshape(len(dims), d_max))
        scale = torch.as_tensor(np.asarray(scale), dtype=torch.float32).reshape(len(dims), d_max)
        self.register_buffer("scale", torch.where(scale > 0, scale, torch.ones_like(scale)))
        self.equal_widths = len(set(dims)) == 1
        self.width = d_max if self.equal_widths else int(common_dim)
        if self.equal_widths:
            self.projection = None
        else:
            weight = torch.empty(len(dims), d_max, self.width)
            for index, width in enumerate(dims):
                bound = 1.0 / np.sqrt(width)
                nn.init.uniform_(weight[index], -bound, bound)
            self.projection = nn.Parameter(weight)
            self.projection_bias = nn.Parameter(torch.zeros(len(dims), self.width))

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        layers = (stack - self.mean) / self.scale * self.mask  # padded columns are exactly 0
        if self.projection is None:
            return layers
        # Each layer's own projection; masking the weights keeps padded columns out for good.
        return torch.einsum("bld,lde->ble", layers, self.projection * self.mask[:, :, None]) + self.projection_bias


class SoftmaxLayerFusion(nn.Module):
    """Global softmax weights over layers, a weighted sum, a projection, L2 normalisation."""

    def __init__(self, layer_input: LayerInput, n_layers: int, out_dim: int):
        super().__init__()
        self.layer_input = layer_input
        self.logits = nn.Parameter(torch.zeros(n_layers))  # equal weights at the start
        self.projection = nn.Linear(layer_input.width, out_dim)

    def forward_with_weights(self, stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layers = self.layer_input(stack)  # (B, L, w)
        weights = torch.softmax(self.logits, dim=0).expand(layers.shape[0], -1)  # (B, L)
        fused = torch.einsum("bl,blw->bw", weights, layers)
        return nn.functional.normalize(self.projection(fused), dim=-1), weights

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return self.forward_with_weights(stack)[0]


class AttentionLayerFusion(nn.Module):
    """Per-track attention over layers (softmax over the layer axis), a projection, L2 normalisation."""

    def __init__(self, layer_input: LayerInput, out_dim: int, hidden_dim: int):
        super().__init__()
        self.layer_input = layer_input
        self.score = nn.Sequential(nn.Linear(layer_input.width, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))
        self.projection = nn.Linear(layer_input.width, out_dim)

    def forward_with_weights(self, stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layers = self.layer_input(stack)  # (B, L, w)
        weights = torch.softmax(self.score(layers).squeeze(-1), dim=1)  # over layers, per track
        fused = torch.einsum("bl,blw->bw", weights, layers)
        return nn.functional.normalize(self.projection(fused), dim=-1), weights

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return self.forward_with_weights(stack)[0]


def build_fusion(
    kind: str,
    dims: Sequence[int],
    mean: np.ndarray,
    scale: np.ndarray,
    out_dim: int,
    hidden_dim: int,
    common_dim: int,
) -> nn.Module:
    """A fusion model of ``kind`` (softmax | attention) for layers of widths ``dims``.

    ``mean``/``scale``: (L, d_max) per-layer column statistics of the training tracks.
    """
    layer_input = LayerInput(dims, mean, scale, common_dim)
    if kind == "softmax":
        return SoftmaxLayerFusion(layer_input, len(dims), out_dim)
    if kind == "attention":
        return AttentionLayerFusion(layer_input, out_dim, hidden_dim)
    raise ValueError(f"layers.fusion.kind = {kind!r}; expected one of {FUSION_KINDS}")
