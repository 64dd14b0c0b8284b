"""The shared training loop, the input checks and top-N retrieval of the trained recommenders."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from musicrec.recommenders.bert4rec_training import bert4rec_options, fit_bert4rec
from musicrec.recommenders.inputs import (
    InputError,
    check_embeddings,
    excluded_rows_from_sidecar,
    prepare_interactions,
)
from musicrec.recommenders.options import OptionsError
from musicrec.recommenders.retrieval import recommendations_frame, top_n_excluding_seen
from musicrec.recommenders.shallow_training import fit_shallow, shallow_options
from musicrec.recommenders.training import (
    CURVE_COLUMNS,
    LoopSettings,
    choose_device,
    effective_freeze,
    train,
)

SPLIT_COLUMNS = ["user_id", "track_id", "track_idx", "timestamp", "count"]
FAST_SHALLOW = {"batch_size": 128, "neg_samples": 5, "max_epochs": 6}
FAST_BERT = {"batch_size": 16, "max_seq_len": 8, "max_epochs": 4}
TOP_N = 100  # more than any planted user has unheard: every candidate is ranked


def planted_listening(n_users=48, n_items=64, dim=16, n_clusters=4, per_user=10, held_out=3, seed=0):
    """A tiny listening log with planted structure.

    Items fall into clusters whose embeddings share a centre; each user listens only within
    one cluster, so the embeddings predict held-out listens. Users alternate between the val
    and test halves. Out: (embeddings (n_items, dim) float32, train, val, test) frames in the
    split contract.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 3.0
    item_cluster = np.arange(n_items) % n_clusters
    embeddings = (centres[item_cluster] + rng.normal(size=(n_items, dim))).astype(np.float32)
    rows = {"train": [], "val": [], "test": []}
    start = pd.Timestamp("2019-03-01")
    for user in range(n_users):
        own = np.flatnonzero(item_cluster == user % n_clusters)
        picks = rng.choice(own, size=per_user + held_out, replace=False)
        held_out_part = "val" if user % 2 == 0 else "test"
        for position, item in enumerate(picks):
            part = "train" if position < per_user else held_out_part
            when = start + pd.Timedelta(days=int(position))
            rows[part].append((f"u{user:03d}", f"t{item:03d}", int(item), when, int(rng.integers(1, 6))))
    frames = [pd.DataFrame(rows[part], columns=SPLIT_COLUMNS) for part in ("train", "val", "test")]
    return (embeddings, *frames)


# --- the loop -------------------------------------------------------------------------


class QuadraticTask:
    """A minimal task: fit a vector to a target; the validation loss is the distance.

    ``plateau_after`` freezes the validation loss after that many calls, to exercise early
    stopping.
    """

    def __init__(self, plateau_after: int | None = None) -> None:
        self.model = torch.nn.Linear(4, 1, bias=False)
        self.device = torch.device("cpu")
        self.target = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
        self.plateau_after = plateau_after
        self.calls = 0

    def n_train_batches(self) -> int:
        return 3

    def train_batches(self, generator):
        for _ in range(3):
            yield torch.randn(8, 4, generator=generator)

    def train_loss(self, batch) -> torch.Tensor:
        return ((self.model(batch) - batch @ self.target.t()) ** 2).mean()

    def validation_loss(self) -> float:
        self.calls += 1
        if self.plateau_after is not None and self.calls > self.plateau_after:
            return 1e6
        return float(((self.model.weight - self.target) ** 2).sum())


def test_loop_lowers_validation_loss_and_writes_curves(tmp_path):
    torch.manual_seed(0)
    task = QuadraticTask()
    outcome = train(task, LoopSettings(lr=0.05, max_epochs=8, seed=3), tensorboard_dir=tmp_path / "tb", progress=False)
    history = outcome.history
    assert list(history.columns) == CURVE_COLUMNS
    assert list(history["epoch"]) == list(range(0, 9))  # epoch 0: the untrained model
    assert np.isnan(history["train_loss"].iloc[0]) and np.isfinite(history["train_loss"].iloc[1:]).all()
    assert history["val_loss"].iloc[-1] < 0.5 * history["val_loss"].iloc[0]
    assert outcome.best_epoch == int(history.loc[history["val_loss"].idxmin(), "epoch"])
    assert list((tmp_path / "tb").glob("events.out.tfevents.*")), "TensorBoard scalars were not written"


def test_early_stopping_keeps_the_best_weights():
    torch.manual_seed(0)
    task = QuadraticTask(plateau_after=4)  # epochs 0-3 are real, epochs 4.. report a constant, worse loss
    outcome = train(task, LoopSettings(lr=0.05, max_epochs=50, patience=4, seed=1), progress=False)
    assert outcome.stopped_early
    assert len(outcome.history) == 1 + 3 + 4  # the untrained model, three improving epochs, `patience` stale ones
    assert outcome.best_epoch == 3
    best_distance = float(((task.model.weight.detach() - task.target) ** 2).sum())
    assert best_distance == pytest.approx(outcome.best_val_loss)


def test_lr_is_reduced_on_plateau():
    torch.manual_seed(0)
    task = QuadraticTask(plateau_after=1)
    outcome = train(task, LoopSettings(lr=0.05, max_epochs=10, patience=20, lr_patience=2, seed=1), progress=False)
    lrs = outcome.history["lr"].to_numpy()
    assert lrs[0] == pytest.approx(0.05)
    assert lrs[-1] < lrs[0]


def test_finished_state_is_reused_and_a_changed_fingerprint_retrains(tmp_path):
    torch.manual_seed(0)
    first = train(QuadraticTask(), LoopSettings(lr=0.05, max_epochs=3), tmp_path, run_fingerprint="a", progress=False)
    again_task = QuadraticTask()
    again = train(again_task, LoopSettings(lr=0.05, max_epochs=3), tmp_path, run_fingerprint="a", progress=False)
    assert again.trained_epochs == 0 and again.resumed_from_epoch == 3
    pd.testing.assert_frame_equal(again.history, first.history)
    assert torch.equal(again_task.model.weight, first.best_state["weight"])
    other = train(QuadraticTask(), LoopSettings(lr=0.05, max_epochs=3), tmp_path, run_fingerprint="b", progress=False)
    assert other.trained_epochs == 3 and other.resumed_from_epoch == 0


def test_diverging_training_is_reported():
    class Diverging(QuadraticTask):
        def train_loss(self, batch):
            return self.model(batch).sum() * float("nan")

    with pytest.raises(FloatingPointError, match="lower the lr"):
        train(Diverging(), LoopSettings(max_epochs=2), progress=False)


def test_device_and_freezing_helpers():
    assert choose_device("cpu").type == "cpu"
    assert choose_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert effective_freeze(True, paper_compat=False) is True
    assert effective_freeze(True, paper_compat=True) is False  # the published inversion


def test_determinism_same_seed_same_losses_and_recommendations():
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    runs = [
        fit_shallow(
            embeddings,
            train_frame,
            val_frame,
            test_frame,
            FAST_SHALLOW,
            "embedding",
            TOP_N,
            seed=5,
            device="cpu",
            progress=False,
        )
        for _ in range(2)
    ]
    curves = [run.training.history.drop(columns="seconds") for run in runs]
    pd.testing.assert_frame_equal(curves[0], curves[1])
    pd.testing.assert_frame_equal(runs[0].recommendations, runs[1].recommendations)
    bert = [
        fit_bert4rec(
            embeddings, train_frame, val_frame, test_frame, FAST_BERT, TOP_N, seed=5, device="cpu", progress=False
        )
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(
        bert[0].training.history.drop(columns="seconds"), bert[1].training.history.drop(columns="seconds")
    )
    pd.testing.assert_frame_equal(bert[0].recommendations, bert[1].recommendations)
    other_seed = fit_shallow(
        embeddings, train_frame, val_frame, test_frame, FAST_SHALLOW, "embedding", TOP_N, seed=6, progress=False
    )
    assert not other_seed.training.history["train_loss"].equals(runs[0].training.history["train_loss"])


# --- options and bad input ------------------------------------------------------------


def test_options_reject_unknown_keys_and_wrong_types():
    with pytest.raises(OptionsError, match="unknown option.*neg_sample"):
        shallow_options({"neg_sample": 20})
    with pytest.raises(OptionsError, match="freeze_items.*bool"):
        shallow_options({"freeze_items": "yes"})
    with pytest.raises(OptionsError, match="sample_type"):
        shallow_options({"sample_type": "both"})
    assert shallow_options({"lr": 1}).lr == 1.0


def test_nan_rows_not_listed_as_failures_are_fatal():
    embeddings = np.ones((5, 3), dtype=np.float32)
    embeddings[3, 1] = np.nan
    embeddings[4, 0] = np.inf
    with pytest.raises(InputError, match=r"embeddings/musicnn.npy: rows 3, 4 contain NaN.*on_bad_audio: skip"):
        check_embeddings(embeddings, [], "embeddings/musicnn.npy")


def test_failed_rows_are_blanked_and_never_recommended():
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    excluded = excluded_rows_from_sidecar(
        {"failures": [{"track_idx": 5, "track_id": "t005", "reason": "decode"}, {"track_idx": 9, "track_id": "t009"}]}
    )
    assert excluded.tolist() == [5, 9]
    embeddings[excluded] = np.nan
    cleaned, usable = check_embeddings(embeddings, excluded)
    assert np.isfinite(cleaned).all() and not cleaned[excluded].any()
    assert usable.sum() == len(embeddings) - 2
    fit = fit_shallow(
        embeddings,
        train_frame,
        val_frame,
        test_frame,
        FAST_SHALLOW,
        "embedding",
        TOP_N,
        excluded_rows=excluded,
        progress=False,
    )
    assert not fit.recommendations["track_idx"].isin(excluded).any()
    assert not fit.item_vectors[excluded].any()


def test_user_without_train_items_is_named():
    _, train_frame, val_frame, test_frame = planted_listening()
    lonely = val_frame.iloc[:1].assign(user_id="ghost")
    usable = np.ones(64, dtype=bool)
    with pytest.raises(InputError, match=r"data/val.parquet: user\(s\) ghost have no usable train items"):
        prepare_interactions(train_frame, pd.concat([val_frame, lonely]), test_frame, usable)


def test_user_whose_train_items_all_failed_is_named():
    _, train_frame, val_frame, test_frame = planted_listening()
    usable = np.ones(64, dtype=bool)
    usable[train_frame.loc[train_frame["user_id"] == "u000", "track_idx"]] = False
    with pytest.raises(InputError, match="u000 have no usable train items"):
        prepare_interactions(train_frame, val_frame, test_frame, usable)


def test_empty_val_split_is_named():
    _, train_frame, val_frame, test_frame = planted_listening()
    with pytest.raises(InputError, match="data/val.parquet: the val split is empty"):
        prepare_interactions(train_frame, val_frame.iloc[:0], test_frame, np.ones(64, dtype=bool))


def test_out_of_range_track_and_missing_column_are_named():
    _, train_frame, val_frame, test_frame = planted_listening()
    usable = np.ones(64, dtype=bool)
    broken = train_frame.copy()
    broken.loc[2, "track_idx"] = 64
    with pytest.raises(InputError, match=r"data/train.parquet: track_idx out of range 0..63 in rows 2"):
        prepare_interactions(broken, val_frame, test_frame, usable)
    with pytest.raises(InputError, match=r"data/test.parquet: missing column\(s\) \['count'\]"):
        prepare_interactions(train_frame, val_frame, test_frame.drop(columns="count"), usable)


def test_short_max_seq_len_is_rejected_before_training():
    assert bert4rec_options({"max_seq_len": 2}).max_seq_len == 2
    with pytest.raises(OptionsError, match="max_seq_len = 1.*>= 2"):
        bert4rec_options({"max_seq_len": 1})
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    with pytest.raises(OptionsError, match="recommenders.bert4rec: max_seq_len"):
        fit_bert4rec(embeddings, train_frame, val_frame, test_frame, {"max_seq_len": 1}, TOP_N, progress=False)


def test_interactions_index_users_and_order_histories():
    _, train_frame, val_frame, test_frame = planted_listening()
    shuffled = train_frame.sample(frac=1.0, random_state=0)
    interactions = prepare_interactions(shuffled, val_frame, test_frame, np.ones(64, dtype=bool))
    assert list(interactions.user_ids) == sorted(train_frame["user_id"].unique())
    assert np.all(np.diff(interactions.train_user) >= 0)
    expected = train_frame[train_frame["user_id"] == "u001"].sort_values("timestamp")["track_idx"].tolist()
    indptr = interactions.train_indptr()
    assert interactions.train_item[indptr[1] : indptr[2]].tolist() == expected
    assert len(interactions.target_users) == 48  # every user is in val or test here


# --- retrieval -------------------------------------------------------------------------


def brute_force_top_n(users, items, seen_sets, n, excluded):
    scores = users @ items.T
    result = []
    for row, seen in zip(scores, seen_sets):
        order = [i for i in np.argsort(-row, kind="stable") if i not in seen and i not in excluded]
        result.append(order[:n])
    return result


def test_top_n_matches_brute_force_and_removes_seen_and_excluded():
    rng = np.random.default_rng(1)
    users, items = rng.normal(size=(30, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    seen_sets = [set(rng.choice(50, size=rng.integers(0, 20), replace=False).tolist()) for _ in range(30)]
    seen = sp.csr_matrix(
        (
            np.ones(sum(map(len, seen_sets))),
            ([u for u, s in enumerate(seen_sets) for _ in s], [i for s in seen_sets for i in s]),
        ),
        shape=(30, 50),
    )
    excluded = np.array([3, 17])
    indices, scores = top_n_excluding_seen(users, items, seen, 10, excluded)
    assert indices.shape == (30, 10) and (indices >= 0).all()
    assert indices.tolist() == brute_force_top_n(users, items, seen_sets, 10, set(excluded.tolist()))
    np.testing.assert_allclose(scores, np.take_along_axis(users @ items.T, indices, axis=1), rtol=1e-5)
    same = top_n_excluding_seen(users, items, (seen.indptr, seen.indices), 10, excluded)
    assert np.array_equal(same[0], indices)


def test_top_n_fills_every_row_even_for_heavy_users_and_pads_only_when_the_catalogue_is_short():
    rng = np.random.default_rng(2)
    users, items = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(12, 4)).astype(np.float32)
    # User 0 has seen the 7 items it likes best: all of its first candidates are seen.
    liked = np.argsort(-(users[0] @ items.T))[:7]
    seen = sp.csr_matrix((np.ones(7), (np.zeros(7, dtype=int), liked)), shape=(3, 12))
    excluded = np.setdiff1d(np.arange(12), liked)[-1:]
    indices, scores = top_n_excluding_seen(users, items, seen, 4, excluded)
    assert (indices >= 0).all() and not set(indices[0]) & set(liked) and excluded[0] not in indices
    short, short_scores = top_n_excluding_seen(users, items, seen, 6, excluded)
    assert (short[0] >= 0).sum() == 4 and np.isneginf(short_scores[0, 4:]).all()  # 12 − 7 seen − 1 excluded
    frame = recommendations_frame(np.array(["a", "b", "c"]), short, short_scores)
    assert list(frame.columns) == ["user_id", "rank", "track_idx", "score"]
    assert frame.groupby("user_id").size().to_dict() == {"a": 4, "b": 6, "c": 6}
    assert frame[frame.user_id == "b"]["rank"].tolist() == [1, 2, 3, 4, 5, 6]


def test_recommendations_cover_every_val_and_test_user_without_train_items():
    embeddings, train_frame, val_frame, test_frame = planted_listening()
    fit = fit_shallow(
        embeddings, train_frame, val_frame, test_frame, FAST_SHALLOW, "interaction", top_n=20, progress=False
    )
    recs = fit.recommendations
    targets = set(val_frame["user_id"]) | set(test_frame["user_id"])
    assert set(recs["user_id"]) == targets
    assert (recs.groupby("user_id").size() == 20).all()
    merged = recs.merge(train_frame[["user_id", "track_idx"]], on=["user_id", "track_idx"])
    assert merged.empty, "a train item was recommended"
    assert recs.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert math.isfinite(recs["score"].min())
