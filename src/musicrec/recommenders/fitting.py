"""The one fit path of the trained recommenders: from arrays to trained model and recommendations.

A trained recommender (Shallow Net, BERT4Rec, and whatever joins the registry) provides a
:class:`TrainedModel`: how to parse its options, build its model and training task, and
read its retrieval vectors. :func:`fit_trained` does everything else, the same way for all:
input checks, the interaction arrays, the device, the resume fingerprint, the training loop,
the top-N over the candidate items, and :class:`ModelFit`, which :func:`write_fit_outputs`
writes.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from musicrec.io import atomic_path, write_npy, write_parquet, write_csv
from musicrec.recommenders.inputs import Interactions, check_embeddings, prepare_interactions
from musicrec.recommenders.options import parse_options
from musicrec.recommenders.retrieval import recommend
from musicrec.recommenders.training import LoopSettings, TrainingOutcome, choose_device, fingerprint, train


@dataclass
class ModelFit:
    """Everything a trained recommender hands to the workflow.

    user_ids (n_users,) original ids, row order of user_vectors; user_vectors (n_users, h);
    item_vectors (n_items, h) with zero rows for excluded items; recommendations with
    columns user_id, rank, track_idx, score; training holds the curves and best weights.
    """

    user_ids: np.ndarray
    user_vectors: np.ndarray
    item_vectors: np.ndarray
    recommendations: pd.DataFrame
    training: TrainingOutcome
    options: dict = field(default_factory=dict)


class TrainedModel(Protocol):
    """What a trained recommender plugs into :func:`fit_trained`."""

    name: str  # its registry name, e.g. "shallow"
    options_type: type  # its options dataclass (musicrec.recommenders.options)

    def build(
        self,
        item_matrix: np.ndarray,
        interactions: Interactions,
        options: Any,
        seed: int,
        variant: str | None,
        device: torch.device,
        trainable_items: bool,
    ) -> tuple[torch.nn.Module, Any]:
        """The model (initialised, frozen as the options say) and its training task."""
        ...

    def retrieval(
        self, model: torch.nn.Module, task: Any, interactions: Interactions, device: torch.device
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray] | None]:
        """(user_vectors (n_users, h), item_vectors (n_items, h), inner products -> scores or None)."""
        ...


def fit_trained(
    recommender: TrainedModel,
    embeddings: np.ndarray,
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    options: Mapping | None,
    top_n: int,
    variant: str | None = None,
    seed: int = 0,
    excluded_rows: np.ndarray | None = None,
    trainable_items: bool = False,
    candidates: str = "train",
    state_dir=None,
    tensorboard_dir=None,
    device: str | None = None,
    sources: Mapping[str, str] | None = None,
    on_step=None,
    progress: bool = True,
) -> ModelFit:
    """Validate the inputs, train ``recommender`` (resuming if possible), recommend.

    In: the (n_tracks, d) embedding matrix, the three split frames, the model options (a
    mapping of its options dataclass' fields), top_n, the variant (for recommenders that
    have them), seed, the rows listed as failed audio, ``trainable_items`` (the id-only
    baseline: the item table is learned, whatever ``freeze_items`` says), the candidate
    set (``train``: tracks played in train, the protocol's; ``catalogue``: every usable
    track), the resume and TensorBoard folders, the device (None = auto), the input file
    names for error messages. Out: :class:`ModelFit` whose user/item vectors are the
    retrieval vectors (their inner product ranks as the model scores).
    """
    sources = dict(sources or {})
    opts = parse_options(recommender.options_type, options, sources.get("options", f"config recommenders.{recommender.name}"))
    item_matrix, usable = check_embeddings(
        embeddings, [] if excluded_rows is None else excluded_rows, sources.get("embeddings", "embeddings")
    )
    interactions = prepare_interactions(train_frame, val_frame, test_frame, usable, sources, candidates=candidates)
    chosen = choose_device(device)
    model, task = recommender.build(item_matrix, interactions, opts, seed, variant, chosen, trainable_items)
    run_id = fingerprint(
        recommender.name,
        variant,
        dataclasses.asdict(opts),
        int(seed),
        bool(trainable_items),
        item_matrix,
        interactions.train_user,
        interactions.train_item,
        interactions.train_count,
        interactions.val_user,
        interactions.val_item,
    )
    settings = LoopSettings.from_options(opts, seed)
    outcome = train(task, settings, state_dir, tensorboard_dir, run_id, on_step=on_step, progress=progress)
    model.eval()
    with torch.no_grad():
        user_vectors, item_vectors, to_scores = recommender.retrieval(model, task, interactions, chosen)
    item_vectors[~usable] = 0.0
    recommendations = recommend(interactions, user_vectors, item_vectors, top_n, to_scores)
    return ModelFit(
        user_ids=interactions.user_ids,
        user_vectors=user_vectors,
        item_vectors=item_vectors,
        recommendations=recommendations,
        training=outcome,
        options=dataclasses.asdict(opts),
    )


def job_folders(checkpoint: str | Path, state_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Where a training job keeps what must survive being killed.

    In: the job's checkpoint output and the optional ``state_dir`` param. Out: the resume
    folder (default ``<checkpoint>.state``, beside but not among the declared outputs,
    which Snakemake deletes after a failed job) and the TensorBoard log inside it (copied
    to the declared ``tensorboard`` output at the end, so resumed runs keep earlier epochs).
    """
    folder = Path(state_dir) if state_dir else Path(f"{checkpoint}.state")
    return folder, folder / "tensorboard"


def write_fit_outputs(
    fit: ModelFit,
    checkpoint: str | Path,
    user_vectors: str | Path,
    item_vectors: str | Path,
    recs: str | Path,
    curves: str | Path,
    tensorboard: str | Path | None = None,
    tensorboard_log: str | Path | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a trained recommender's artefacts (the one place they are written), each atomically.

    checkpoint: ``torch.save`` of {"model": best weights, "options", "best_epoch",
    "best_val_loss", "user_ids", **metadata}; user/item vectors: float32 .npy (rows: users in
    ``user_ids`` order, items in track-index order); recs: parquet (user_id, rank,
    track_idx, score); curves: CSV (epoch, train_loss, val_loss, lr, seconds); tensorboard:
    a copy of the ``tensorboard_log`` folder the loop wrote.
    """
    payload = {
        "model": fit.training.best_state,
        "options": fit.options,
        "best_epoch": fit.training.best_epoch,
        "best_val_loss": fit.training.best_val_loss,
        "user_ids": fit.user_ids.tolist(),
        **dict(metadata or {}),
    }
    with atomic_path(checkpoint) as temporary:
        torch.save(payload, temporary)
    write_npy(fit.user_vectors.astype(np.float32), user_vectors)
    write_npy(fit.item_vectors.astype(np.float32), item_vectors)
    write_parquet(fit.recommendations, recs)
    write_csv(fit.training.history, curves)
    if tensorboard is not None:
        Path(tensorboard).mkdir(parents=True, exist_ok=True)
        if tensorboard_log is not None and Path(tensorboard_log).is_dir():
            shutil.copytree(tensorboard_log, tensorboard, dirs_exist_ok=True)
