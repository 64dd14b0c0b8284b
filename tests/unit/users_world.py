"""A tiny synthetic world, its aligner and its estimator, shared by the test_users_* files (built once per process)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch

from musicrec.users.aligner_training import AlignerOptions, train_aligner
from musicrec.users.estimator import EstimatorOptions, train_estimator
from musicrec.users.simulation import SimulationOptions, clustered_embedding, simulate

SIMULATION = SimulationOptions(n_users=150, observed_per_user=48, held_out_fraction=0.25)
ALIGNER = AlignerOptions(dim=8, hidden=0, negatives=16, batch_size=256, lr=1e-2, max_epochs=8, patience=3,
                         fold_in_steps=60, device="cpu")
ESTIMATOR = EstimatorOptions(steps=10, max_songs=32, batch_size=64, max_epochs=4, patience=2, device="cpu")


@lru_cache(maxsize=1)
def embedding() -> np.ndarray:
    return clustered_embedding(160, 24, 5, seed=3)


@lru_cache(maxsize=1)
def world():
    return simulate(embedding(), SIMULATION, seed=7)


@lru_cache(maxsize=1)
def aligner():
    return train_aligner(world(), ALIGNER, seed=7)


@lru_cache(maxsize=1)
def estimator():
    w, fit = world(), aligner()
    return train_estimator(
        fit.song_vectors, w.observed, w.scores, fit.user_vectors, w.users("train"), w.users("val"), ESTIMATOR, seed=7
    )


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One torch thread: these tests run many small tensor ops, which a second thread only slows
    down on a busy machine (imported by every test_users_* module, so autouse there)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
