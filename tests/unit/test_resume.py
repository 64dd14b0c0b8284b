"""A training job killed mid-epoch and rerun ends exactly where an uninterrupted run ends (CPU)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from musicrec.recommenders.bert4rec_training import fit_bert4rec
from musicrec.recommenders.shallow_training import fit_shallow
from musicrec.recommenders.training import LAST_STATE
from test_training import TOP_N, planted_listening

SHALLOW = {"batch_size": 128, "neg_samples": 5, "max_epochs": 5, "lr": 0.01, "user_init": "random"}
BERT = {"batch_size": 16, "max_seq_len": 8, "max_epochs": 4}


class Killed(Exception):
    pass


def kill_at(epoch: int, step: int):
    def on_step(current_epoch: int, current_step: int) -> None:
        if (current_epoch, current_step) == (epoch, step):
            raise Killed

    return on_step


def assert_same_result(resumed, uninterrupted) -> None:
    pd.testing.assert_frame_equal(
        resumed.training.history.drop(columns="seconds"), uninterrupted.training.history.drop(columns="seconds")
    )
    pd.testing.assert_frame_equal(resumed.recommendations, uninterrupted.recommendations)
    np.testing.assert_array_equal(resumed.user_vectors, uninterrupted.user_vectors)
    assert resumed.training.best_epoch == uninterrupted.training.best_epoch


@pytest.fixture(scope="module")
def data():
    return planted_listening()


def test_shallow_interrupted_mid_epoch_resumes_to_the_same_result(data, tmp_path):
    uninterrupted = fit_shallow(*data, SHALLOW, "embedding", TOP_N, seed=4, device="cpu", progress=False)
    with pytest.raises(Killed):
        fit_shallow(
            *data,
            SHALLOW,
            "embedding",
            TOP_N,
            seed=4,
            state_dir=tmp_path,
            on_step=kill_at(3, 1),
            device="cpu",
            progress=False,
        )
    saved = torch.load(tmp_path / LAST_STATE, weights_only=False)
    assert [row["epoch"] for row in saved["history"]] == [0, 1, 2] and not saved["finished"]  # 3 was lost
    resumed = fit_shallow(*data, SHALLOW, "embedding", TOP_N, seed=4, state_dir=tmp_path, device="cpu", progress=False)
    assert resumed.training.resumed_from_epoch == 2 and resumed.training.trained_epochs == 3
    assert_same_result(resumed, uninterrupted)


def test_bert4rec_interrupted_mid_epoch_resumes_to_the_same_result(data, tmp_path):
    uninterrupted = fit_bert4rec(*data, BERT, TOP_N, seed=4, device="cpu", progress=False)
    with pytest.raises(Killed):
        fit_bert4rec(
            *data, BERT, TOP_N, seed=4, state_dir=tmp_path, on_step=kill_at(2, 1), device="cpu", progress=False
        )
    resumed = fit_bert4rec(*data, BERT, TOP_N, seed=4, state_dir=tmp_path, device="cpu", progress=False)
    assert resumed.training.resumed_from_epoch == 1
    assert_same_result(resumed, uninterrupted)


def test_a_state_from_other_options_is_not_resumed(data, tmp_path):
    with pytest.raises(Killed):
        fit_shallow(
            *data,
            SHALLOW,
            "embedding",
            TOP_N,
            seed=4,
            state_dir=tmp_path,
            on_step=kill_at(2, 0),
            device="cpu",
            progress=False,
        )
    other = fit_shallow(
        *data, {**SHALLOW, "margin": 0.3}, "embedding", TOP_N, seed=4, state_dir=tmp_path, device="cpu", progress=False
    )
    assert other.training.resumed_from_epoch == 0 and other.training.trained_epochs == 5


CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, pandas as pd
    from musicrec.recommenders.shallow_training import fit_shallow

    folder, signal_name = sys.argv[1], sys.argv[2]
    embeddings = np.load(f"{folder}/embeddings.npy")
    frames = [pd.read_parquet(f"{folder}/{part}.parquet") for part in ("train", "val", "test")]

    def on_step(epoch, step):
        if (epoch, step) == (3, 1):  # mid-epoch, after two finished epochs were checkpointed
            os.kill(os.getpid(), getattr(signal, signal_name))

    fit_shallow(embeddings, *frames, OPTIONS, "embedding", 100, seed=4, state_dir=f"{folder}/state",
                on_step=on_step, device="cpu", progress=False)
    print("not killed")
    """).replace("OPTIONS", repr(SHALLOW))


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_a_killed_process_resumes_to_the_same_result(data, tmp_path, signal_name):
    embeddings, *frames = data
    np.save(tmp_path / "embeddings.npy", embeddings)
    for part, frame in zip(("train", "val", "test"), frames):
        frame.to_parquet(tmp_path / f"{part}.parquet")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), signal_name], capture_output=True, text=True, timeout=300
    )
    if signal_name == "SIGKILL":
        assert child.returncode == -signal.SIGKILL
    else:  # SIGTERM becomes TrainingInterrupted: a clean, non-zero exit saying what to do
        assert child.returncode == 1 and "TrainingInterrupted" in child.stderr and "rerun to resume" in child.stderr
    assert "not killed" not in child.stdout
    saved = torch.load(tmp_path / "state" / LAST_STATE, weights_only=False)
    assert [row["epoch"] for row in saved["history"]] == [0, 1, 2]
    reloaded = [pd.read_parquet(tmp_path / f"{part}.parquet") for part in ("train", "val", "test")]
    resumed = fit_shallow(
        embeddings,
        *reloaded,
        SHALLOW,
        "embedding",
        TOP_N,
        seed=4,
        state_dir=tmp_path / "state",
        device="cpu",
        progress=False,
    )
    uninterrupted = fit_shallow(
        embeddings, *reloaded, SHALLOW, "embedding", TOP_N, seed=4, device="cpu", progress=False
    )
    assert resumed.training.resumed_from_epoch == 2
    assert_same_result(resumed, uninterrupted)
