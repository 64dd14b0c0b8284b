"""Turning frame-wise model outputs into one vector per track.

Every audio backbone ends the same way: a (batch, frames, dim) sequence, possibly
one per layer, is reduced to (batch, dim) or (batch, n_layers, dim). This module
holds those reductions once: layer selection, the mean over time, cutting clips
into fixed windows and averaging the windows' embeddings, and the channel mean
that reproduces the paper's MusicFM features.

The extraction loop batches equal-length clips only (see
:mod:`musicrec.backbones.base`), so no padding reaches a model and every frame
a model returns holds real audio: the mean over time needs no mask.

The reductions use only ``reshape`` and ``mean`` along a positional axis, so they
run unchanged on NumPy arrays and on torch tensors: plug-ins pool on the GPU (a
30-s clip's 25 hidden layers are hundreds of MB) and the tests check the same
functions on small NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

LayerSpec = int | Sequence[int] | str

ALL_LAYERS = "all"


def resolve_layers(spec: LayerSpec, n_layers: int, *, key: str = "layer") -> list[int]:
    """Turn a layer choice into explicit, non-negative layer indices.

    ``spec`` is one index, a list of indices, or ``"all"``; negative indices count
    from the end (``-1`` is the last layer). ``n_layers`` is how many layers the
    model returns (for transformers' ``hidden_states`` that is ``num_hidden_layers
    + 1``, index 0 being the transformer's input). ``key`` names the config key
    in error messages. Returns distinct indices in the order given.
    """
    if n_layers < 1:
        raise ValueError(f"{key}: the model returned no layers to choose from")
    if isinstance(spec, str):
        if spec != ALL_LAYERS:
            raise ValueError(f"{key}: expected an integer, a list of integers or 'all', got {spec!r}")
        return list(range(n_layers))
    requested = [spec] if is_single_layer(spec) else list(spec)
    if not requested:
        raise ValueError(f"{key}: the list of layers is empty")
    resolved: list[int] = []
    for index in requested:
        if not is_single_layer(index):
            raise ValueError(f"{key}: layer indices must be integers, got {index!r}")
        if not -n_layers <= index < n_layers:
            raise ValueError(
                f"{key}: layer {index} does not exist; the model has layers 0..{n_layers - 1}"
                f" (or -{n_layers}..-1 counted from the end)"
            )
        positive = int(index) % n_layers
        if positive in resolved:
            raise ValueError(f"{key}: layer {index} is listed twice")
        resolved.append(positive)
    return resolved


def is_single_layer(spec: Any) -> bool:
    """True when ``spec`` names one layer: outputs are then (batch, dim), not (batch, n_layers, dim)."""
    return isinstance(spec, (int, np.integer)) and not isinstance(spec, bool)


def time_mean(frames: Any) -> Any:
    """Mean over the time axis of (batch, ..., time, dim), e.g. (B, T, D) -> (B, D)
    or (B, n_layers, T, D) -> (B, n_layers, D). Pass float32: an fp16 sum over
    thousands of frames loses precision."""
    return frames.mean(-2)


def channel_mean(frames: Any) -> Any:
    """Mean over the channel axis of (batch, time, dim), giving (batch, time).

    This is what the paper's MusicFM extraction computed (``emb.mean(-1)``): a
    time series whose length depends on the clip duration (750 values for 30 s
    at 25 Hz) rather than a description of the track. It is offered only as a
    compatibility switch.
    """
    return frames.mean(-1)


def window_starts(n_samples: int, window_samples: int | None) -> np.ndarray:
    """First sample of each window a clip of ``n_samples`` is cut into.

    ``None`` (or a window at least as long as the clip) means one window, the
    whole clip. Otherwise the clip is covered by ``ceil(n_samples / window)``
    windows of exactly ``window_samples``: back to back when the clip length
    is a multiple of the window (30-s clips in 5-s windows), else spread evenly
    with a small overlap so that the last window ends on the clip's last sample
    and no audio is dropped. Returns an int64 array (n_windows,).
    """
    if window_samples is None or window_samples >= n_samples:
        return np.zeros(1, dtype=np.int64)
    if window_samples <= 0:
        raise ValueError(f"window length must be positive, got {window_samples} samples")
    n_windows = math.ceil(n_samples / window_samples)
    return np.rint(np.linspace(0, n_samples - window_samples, n_windows)).astype(np.int64)


def split_into_windows(batch: np.ndarray, window_samples: int | None) -> np.ndarray:
    """Cut each clip of ``batch`` (B, n_samples) into windows: (B * W, window) rows.

    Row ``b * W + w`` is window ``w`` of clip ``b`` (see :func:`window_starts` for
    where windows lie). Without windowing, or for clips no longer than a window,
    the batch comes back unchanged.
    """
    n_batch, n_samples = batch.shape
    starts = window_starts(n_samples, window_samples)
    if len(starts) == 1:
        return batch
    indices = starts[:, None] + np.arange(window_samples)[None, :]
    return batch[:, indices].reshape(n_batch * len(starts), window_samples)


def average_windows(pooled: Any, n_windows: int) -> Any:
    """Average consecutive window embeddings back into one per clip.

    ``pooled`` is (B * n_windows, ...) in the row order of
    :func:`split_into_windows`; returns (B, ...), each clip's mean over its
    windows.
    """
    if n_windows < 1 or pooled.shape[0] % n_windows:
        raise ValueError(f"{pooled.shape[0]} window rows cannot be split into groups of {n_windows}")
    return pooled.reshape(pooled.shape[0] // n_windows, n_windows, *pooled.shape[1:]).mean(1)
