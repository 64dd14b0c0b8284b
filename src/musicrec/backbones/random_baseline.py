"""The random baseline: a seeded Gaussian vector per track, the floor every audio backbone must beat.

A track's vector is drawn from its own generator, seeded with ``(seed, row)``
where ``row`` is the track's index in the full sorted track list. It therefore
depends on nothing else: not on the shard layout, the batch size or the order
in which tracks are embedded. The module is named ``random_baseline`` so it can
never be mistaken for the standard library's ``random``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicrec.backbones.base import Backbone


class RandomBackbone(Backbone):
    """``dim`` standard-normal float32 values per track; needs no audio, only the global seed."""

    plugin = "random"
    default_sample_rate = None
    needs_audio = False
    default_batch_size = 4096
    plugin_options = {"dim": 200}

    def __init__(self, name: str, options: dict[str, Any] | None = None):
        super().__init__(name, options)
        self.dim = self._check_positive_int("dim", self.params["dim"])
        if self.settings.seed is None:
            raise self.option_error("seed", None, "a non-negative integer (the workflow passes the global seed)")
        self.seed = self.settings.seed

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), dim)`` float32: row ``r`` is drawn from ``default_rng([seed, r])``; ``audio`` is ignored."""
        vectors = np.empty((len(rows), self.dim), dtype=np.float32)
        for i, row in enumerate(np.asarray(rows, dtype=np.int64)):
            if row < 0:
                raise ValueError(f"backbone {self.name!r}: row index {row} is negative")
            vectors[i] = np.random.default_rng([self.seed, int(row)]).standard_normal(self.dim, dtype=np.float32)
        return vectors

    def describe_model(self) -> dict[str, Any]:
        return {
            "weights": None,
            "layer": None,
            "pooling": None,
            "seed": self.seed,
            "distribution": "standard normal; track row r drawn from numpy default_rng([seed, r])",
        }
