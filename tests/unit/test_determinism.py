"""Same seed, same numbers: two fresh CPU trainings give bitwise identical models and lists,
also while another process competes for the cores.

Each training runs in a process of its own (as two workflow jobs would), on data just large
enough for torch's multi-threaded kernels to engage: a gather's gradient of at least 32768
elements with repeated indices, which without deterministic algorithms is accumulated with
atomic float adds in a thread-timing-dependent order.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from test_training import planted_listening

# Shallow Net: 256 positives × (1 + 20 negatives) × 64 dims per gather gradient, 5 steps an epoch.
SHALLOW = {"batch_size": 256, "neg_samples": 20, "max_epochs": 2, "lr": 0.01, "user_init": "random"}
# BERT4Rec: 64 sequences × 20 slots × 64 dims per gather of the [MASK]/padding rows, one step an epoch.
BERT = {"batch_size": 64, "max_seq_len": 20, "max_epochs": 2, "num_layers": 1, "intermediate_size": 64}
MODELS = ("shallow", "bert4rec")

CHILD = textwrap.dedent("""
    import sys
    import numpy as np, pandas as pd
    from musicrec.recommenders.bert4rec_training import fit_bert4rec
    from musicrec.recommenders.shallow_training import fit_shallow

    folder, out = sys.argv[1], sys.argv[2]
    embeddings = np.load(f"{folder}/embeddings.npy")
    frames = [pd.read_parquet(f"{folder}/{part}.parquet") for part in ("train", "val", "test")]
    fits = {
        "shallow": fit_shallow(embeddings, *frames, SHALLOW, "embedding", 20, seed=5, device="cpu", progress=False),
        "bert4rec": fit_bert4rec(embeddings, *frames, BERT, 20, seed=5, device="cpu", progress=False),
    }
    for name, fit in fits.items():
        weights = {key: value.numpy() for key, value in fit.training.best_state.items()}
        np.savez(f"{out}/{name}.npz", user_vectors=fit.user_vectors, item_vectors=fit.item_vectors, **weights)
        fit.recommendations.to_parquet(f"{out}/{name}.recs.parquet")
        fit.training.history.drop(columns="seconds").to_parquet(f"{out}/{name}.curves.parquet")
    """).replace("SHALLOW", repr(SHALLOW)).replace("BERT", repr(BERT))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Train both models twice, each time in a fresh process, while a busy loop competes for the cores."""
    folder = tmp_path_factory.mktemp("determinism")
    embeddings, *frames = planted_listening(n_users=64, n_items=128, dim=64, per_user=20, held_out=3, seed=2)
    np.save(folder / "embeddings.npy", embeddings)
    for part, frame in zip(("train", "val", "test"), frames):
        frame.to_parquet(folder / f"{part}.parquet")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    outputs = []
    try:
        for run in ("first", "second"):
            out = folder / run
            out.mkdir()
            child = subprocess.run(
                [sys.executable, "-c", CHILD, str(folder), str(out)], capture_output=True, text=True, timeout=300
            )
            assert child.returncode == 0, child.stderr[-3000:]
            outputs.append(out)
    finally:
        busy.kill()
        busy.wait()
    return outputs


@pytest.mark.parametrize("model", MODELS)
def test_two_fresh_trainings_under_load_are_bitwise_identical(two_runs, model):
    first, second = two_runs
    curves = [pd.read_parquet(out / f"{model}.curves.parquet") for out in two_runs]
    # The comparison is not vacuous: training moved the model off its initial weights.
    assert curves[0]["epoch"].max() >= 2 and (curves[0]["val_loss"].iloc[1:] < curves[0]["val_loss"].iloc[0]).any()
    pd.testing.assert_frame_equal(curves[0], curves[1], check_exact=True)
    with np.load(first / f"{model}.npz") as a, np.load(second / f"{model}.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{model}: {key} differs between two runs")
    pd.testing.assert_frame_equal(
        pd.read_parquet(first / f"{model}.recs.parquet"), pd.read_parquet(second / f"{model}.recs.parquet")
    )
