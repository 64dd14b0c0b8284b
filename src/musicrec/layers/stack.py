"""A multi-layer extraction: the ``layers/{backbone}.npy`` stack and its sidecar, checked.

The stack is (n_tracks, n_layers, d_max) float32; a layer narrower than ``d_max`` is
zero-padded on the right, and its true width is ``layer_dims[l]`` of the sidecar, whose
``layer_names`` name the layers in order. Rows of failed tracks (sidecar ``failures``) are
NaN. :func:`resolve_layer` turns what a config says (a name, an index, ``last``) into a
layer index, or fails naming the key and the choices.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class LayerStackError(ValueError):
    """A layer stack or a layer reference is not what the probe/fusion needs."""


@dataclass(frozen=True)
class LayerStack:
    """``values`` (n, L, d_max) float32; ``names``/``dims`` per layer; ``sidecar`` as read."""

    values: np.ndarray
    names: tuple[str, ...]
    dims: tuple[int, ...]
    sidecar: dict
    source: str = ""

    @property
    def n_layers(self) -> int:
        return len(self.names)

    def layer(self, index: int) -> np.ndarray:
        """Layer ``index`` cut to its own width: (n, dims[index])."""
        return self.values[:, index, : self.dims[index]]

    def layers(self) -> list[np.ndarray]:
        return [self.layer(index) for index in range(self.n_layers)]

    @property
    def failures(self) -> list[dict]:
        return list(self.sidecar.get("failures", []))

    def valid_rows(self) -> np.ndarray:
        """(n,) bool: tracks whose every layer is finite."""
        return np.isfinite(self.values).all(axis=(1, 2))


def check_stack(values: np.ndarray, sidecar: dict, source: str, n_tracks: int | None = None) -> LayerStack:
    """Check a stack against its sidecar; raises :class:`LayerStackError` naming ``source``."""
    if values.ndim != 3:
        raise LayerStackError(
            f"{source}: expected a (n_tracks, n_layers, d) multi-layer stack, got shape {values.shape}; a backbone "
            "that is not multi-layer cannot be probed or fused (extract it with layer: all)"
        )
    for key in ("layer_names", "layer_dims"):
        if not isinstance(sidecar.get(key), list):
            raise LayerStackError(f"{source}: the sidecar must list {key!r} (one entry per layer)")
    names, dims = [str(n) for n in sidecar["layer_names"]], [int(d) for d in sidecar["layer_dims"]]
    if len(names) != values.shape[1] or len(dims) != values.shape[1]:
        raise LayerStackError(
            f"{source}: {values.shape[1]} layers in the matrix but {len(names)} layer_names and {len(dims)} layer_dims"
        )
    if len(set(names)) != len(names):
        raise LayerStackError(f"{source}: layer_names repeat a name: {names}")
    if min(dims) < 1 or max(dims) > values.shape[2]:
        raise LayerStackError(f"{source}: layer_dims {dims} must lie in 1..{values.shape[2]} (the padded width)")
    if n_tracks is not None and values.shape[0] != n_tracks:
        raise LayerStackError(
            f"{source}: {values.shape[0]} rows but data/trackid_sorted.csv lists {n_tracks} tracks; row i must be track i"
        )
    return LayerStack(np.asarray(values, dtype=np.float32), tuple(names), tuple(dims), dict(sidecar), source)


def read_stack(npy: str | os.PathLike, sidecar: str | os.PathLike, n_tracks: int | None = None) -> LayerStack:
    """The checked :class:`LayerStack` of ``layers/{backbone}.npy`` + ``.json``."""
    try:
        metadata = json.loads(Path(sidecar).read_text())
    except FileNotFoundError:
        raise LayerStackError(f"{sidecar}: sidecar missing; a layer stack needs its .json beside the .npy") from None
    return check_stack(np.load(npy, mmap_mode="r"), metadata, str(npy), n_tracks)


def resolve_layer(reference: object, names: tuple[str, ...] | list[str], key: str = "layer") -> int:
    """The index of the layer a config names: ``last``, ``first``, a layer name or an integer (negative from the end).

    Raises :class:`LayerStackError` naming ``key``, the reference and the valid choices.
    """
    names = list(names)
    if reference == "last":
        return len(names) - 1
    if reference == "first":
        return 0
    if isinstance(reference, str) and reference in names:
        return names.index(reference)
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        if -len(names) <= reference < len(names):
            return int(reference) % len(names)
        raise LayerStackError(
            f"{key}: layer index {reference} is out of range; this stack has {len(names)} layers "
            f"(0..{len(names) - 1} or -{len(names)}..-1)"
        )
    if isinstance(reference, str) and reference.lstrip("-").isdigit():
        return resolve_layer(int(reference), names, key)
    raise LayerStackError(f"{key}: unknown layer {reference!r}; expected last, first, an index or one of {names}")
