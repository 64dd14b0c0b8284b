"""Training a layer fusion with a triplet loss, on the shared resumable training loop.

Tracks are split **by artist** into fusion-train, fusion-validation and held-out artists
(:func:`artist_roles`): triplets come from the training artists only, the validation loss
(early stopping) from the validation artists, and the held-out artists' same-artist pairs
are what :mod:`musicrec.layers.search` scores Recall@k on, for every layer and the fusion
alike, so the fusion is never scored on pairs it was trained on.

Triplets (anchor, positive, negative), anchors = every training track with a positive, in
a fresh order each epoch:

- ``metadata``: positive = another track of the same artist (``positive: artist``) or
  album (``positive: album``), negative = a track of another artist;
- ``colistening``: positive = a track that a user who played the anchor also played, in
  the recommendation **train** split (``data/train.parquet``) only, among training-artist
  tracks; negative = a random training track other than both.

Loss: ``mean(max(0, d(a, p) - d(a, n) + margin))`` with ``d`` the Euclidean distance
between L2-normalised embeddings. The loop is :func:`musicrec.recommenders.training.train`
(seeded per epoch, checkpoint after every epoch, resumes bit-identically on the CPU).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from musicrec.layers.fusion import build_fusion
from musicrec.layers.stack import LayerStack
from musicrec.recommenders.options import options_from_mapping
from musicrec.recommenders.training import LoopSettings, TrainingOutcome, choose_device, fingerprint, train

TRIPLET_SOURCES = ("metadata", "colistening")
ROLES = ("train", "val", "heldout")


@dataclass(frozen=True)
class FusionOptions:
    """The ``layers.fusion`` config block (defaults here are the library's; the schema holds the workflow's)."""

    kind: str = "softmax"  # softmax | attention
    dim: int = 128  # fused embedding width
    hidden_dim: int = 64  # attention scorer's hidden width
    common_dim: int = 256  # per-layer projection width when layer widths differ
    margin: float = 0.2
    triplets: str = "metadata"  # metadata | colistening
    positive: str = "artist"  # artist | album (metadata triplets)
    batch_size: int = 128
    lr: float = 1e-2  # a small model: 1e-3 barely moves the softmax logits in 30 epochs
    max_epochs: int = 30
    patience: int = 5
    lr_patience: int = 3
    val_fraction: float = 0.2  # of artists (0.1 of the demo's 80 is a validation loss too noisy to stop on)
    heldout_fraction: float = 0.2  # of artists, for Recall@k
    val_triplets: int = 2000
    device: str = "cpu"

    @classmethod
    def from_mapping(cls, options) -> "FusionOptions":
        parsed = options_from_mapping(cls, options, "layers.fusion")
        if parsed.kind not in ("softmax", "attention"):
            raise ValueError(f"layers.fusion.kind = {parsed.kind!r}; expected softmax or attention")
        if parsed.triplets not in TRIPLET_SOURCES:
            raise ValueError(f"layers.fusion.triplets = {parsed.triplets!r}; expected one of {TRIPLET_SOURCES}")
        if parsed.positive not in ("artist", "album"):
            raise ValueError(f"layers.fusion.positive = {parsed.positive!r}; expected artist or album")
        if not (parsed.val_fraction > 0 and parsed.heldout_fraction > 0 and parsed.val_fraction + parsed.heldout_fraction < 1):
            raise ValueError("layers.fusion: val_fraction and heldout_fraction must be positive and sum below 1")
        return parsed


def artist_roles(artists: np.ndarray, val_fraction: float, heldout_fraction: float, seed: int) -> np.ndarray:
    """Each track's role, ``train``/``val``/``heldout`` (n,) str, whole artists at a time, seeded."""
    names = np.unique(np.asarray(artists).astype(str))
    order = np.random.default_rng([seed, 17]).permutation(len(names))
    n_heldout = max(1, round(heldout_fraction * len(names)))
    n_val = max(1, round(val_fraction * len(names)))
    if n_heldout + n_val >= len(names):
        raise ValueError(f"{len(names)} artists are too few for a fusion train/val/held-out split by artist")
    role_of = np.empty(len(names), dtype=object)
    role_of[order[:n_heldout]] = "heldout"
    role_of[order[n_heldout : n_heldout + n_val]] = "val"
    role_of[order[n_heldout + n_val :]] = "train"
    lookup = dict(zip(names, role_of))
    return np.array([lookup[a] for a in np.asarray(artists).astype(str)], dtype=object)


class MetadataTriplets:
    """Triplets within a pool of tracks: positive shares the anchor's group, negative's artist differs."""

    def __init__(self, pool: np.ndarray, positive_groups: np.ndarray, artists: np.ndarray):
        pool = np.asarray(pool)
        groups = np.unique(np.asarray(positive_groups)[pool].astype(str), return_inverse=True)[1]
        order = np.argsort(groups, kind="stable")
        self.sorted_tracks = pool[order]  # pool tracks grouped together
        sorted_groups = groups[order]
        starts = np.searchsorted(sorted_groups, sorted_groups, side="left")
        counts = np.searchsorted(sorted_groups, sorted_groups, side="right") - starts
        has_positive = counts > 1
        self.anchor_slots = np.flatnonzero(has_positive)  # positions in sorted_tracks
        self.starts, self.counts = starts, counts
        self.artist_codes = np.unique(np.asarray(artists).astype(str), return_inverse=True)[1]
        self.pool = pool

    @property
    def n_anchors(self) -> int:
        return len(self.anchor_slots)

    def sample(self, rng: np.random.Generator, slots: np.ndarray) -> np.ndarray:
        """(len(slots), 3) track indices (anchor, positive, negative) for anchor ``slots``."""
        starts, counts = self.starts[slots], self.counts[slots]
        offset = (slots - starts + 1 + rng.integers(0, counts - 1)) % counts  # any other group member
        positives = self.sorted_tracks[starts + offset]
        anchors = self.sorted_tracks[slots]
        negatives = self.pool[rng.integers(0, len(self.pool), size=len(slots))]
        for _ in range(20):  # resample the (rare) negatives by the anchor's artist
            clash = self.artist_codes[negatives] == self.artist_codes[anchors]
            if not clash.any():
                break
            negatives[clash] = self.pool[rng.integers(0, len(self.pool), size=int(clash.sum()))]
        return np.stack([anchors, positives, negatives], axis=1)


class ColisteningTriplets:
    """Triplets from co-listening within a pool: positive = another pool track a listener of the anchor played."""

    def __init__(self, pool: np.ndarray, interactions: pd.DataFrame, n_tracks: int):
        for column in ("user_id", "track_idx"):
            if column not in interactions.columns:
                raise ValueError(f"train split: missing column {column!r}; found {list(interactions.columns)}")
        in_pool = np.zeros(n_tracks, dtype=bool)
        in_pool[np.asarray(pool)] = True
        frame = interactions[["user_id", "track_idx"]].drop_duplicates()
        frame = frame[in_pool[frame["track_idx"].to_numpy()]]
        users = np.unique(frame["user_id"].astype(str).to_numpy(), return_inverse=True)[1]
        tracks = frame["track_idx"].to_numpy().astype(np.int64)
        # user -> tracks and track -> users, as CSR arrays.
        by_user = np.lexsort((tracks, users))
        self.user_tracks = tracks[by_user]
        self.user_start = np.searchsorted(users[by_user], np.arange(users.max() + 1 if len(users) else 0))
        self.user_count = np.diff(np.append(self.user_start, len(by_user)))
        by_track = np.lexsort((users, tracks))
        self.track_users = users[by_track]
        self.track_start = np.searchsorted(tracks[by_track], np.arange(n_tracks))
        self.track_count = np.diff(np.append(self.track_start, len(by_track)))
        # Anchors: pool tracks with a listener who played some other pool track.
        partner = np.zeros(n_tracks, dtype=bool)
        multi = self.user_count[users] > 1
        partner[tracks[multi]] = True
        self.anchor_slots = np.flatnonzero(partner & in_pool)  # track indices here
        self.pool = np.asarray(pool)

    @property
    def n_anchors(self) -> int:
        return len(self.anchor_slots)

    def sample(self, rng: np.random.Generator, slots: np.ndarray) -> np.ndarray:
        anchors = slots
        users = self.track_users[self.track_start[anchors] + rng.integers(0, self.track_count[anchors])]
        positives = anchors.copy()
        pending = np.ones(len(anchors), dtype=bool)
        for _ in range(50):  # a listener with at least one other track: redraw until it is not the anchor
            eligible = pending & (self.user_count[users] > 1)
            draw = self.user_tracks[self.user_start[users] + rng.integers(0, self.user_count[users])]
            accept = eligible & (draw != anchors)
            positives[accept] = draw[accept]
            pending &= ~accept
            if not pending.any():
                break
            # A listener with only the anchor: pick another listener of the anchor.
            lonely = pending & (self.user_count[users] <= 1)
            users[lonely] = self.track_users[
                self.track_start[anchors[lonely]] + rng.integers(0, self.track_count[anchors[lonely]])
            ]
        negatives = self.pool[rng.integers(0, len(self.pool), size=len(anchors))]
        for _ in range(20):
            clash = (negatives == anchors) | (negatives == positives)
            if not clash.any():
                break
            negatives[clash] = self.pool[rng.integers(0, len(self.pool), size=int(clash.sum()))]
        keep = ~pending  # anchors whose positive was found
        return np.stack([anchors[keep], positives[keep], negatives[keep]], axis=1)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean hinge ``max(0, |a - p| - |a - n| + margin)`` over the batch (embeddings (B, d))."""
    return torch.relu(
        torch.linalg.vector_norm(anchor - positive, dim=-1) - torch.linalg.vector_norm(anchor - negative, dim=-1) + margin
    ).mean()


class FusionTask:
    """The :class:`~musicrec.recommenders.training.TrainingTask` of a fusion model."""

    def __init__(self, model, stack: torch.Tensor, triplets, val_triplets: np.ndarray, options: FusionOptions, device):
        self.model, self.device = model, device
        self.stack = stack.to(device)
        self.triplets, self.options = triplets, options
        self.val_triplets = torch.as_tensor(val_triplets, dtype=torch.long, device=device)

    def n_train_batches(self) -> int:
        return -(-self.triplets.n_anchors // self.options.batch_size)

    def train_batches(self, generator: torch.Generator) -> Iterable[torch.Tensor]:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        rng = np.random.default_rng(seed)
        slots = self.triplets.anchor_slots[rng.permutation(self.triplets.n_anchors)]
        for start in range(0, len(slots), self.options.batch_size):
            triplets = self.triplets.sample(rng, slots[start : start + self.options.batch_size])
            yield torch.as_tensor(triplets, dtype=torch.long, device=self.device)

    def _loss(self, triplets: torch.Tensor) -> torch.Tensor:
        flat = self.model(self.stack[triplets.reshape(-1)]).reshape(len(triplets), 3, -1)
        return triplet_loss(flat[:, 0], flat[:, 1], flat[:, 2], self.options.margin)

    def train_loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self._loss(batch)

    def validation_loss(self) -> float:
        return float(self._loss(self.val_triplets))


@dataclass
class FusionResult:
    """embedding (n, dim) float32 (failed rows NaN); weights (n, L) per track; roles (n,); the outcome."""

    embedding: np.ndarray
    weights: np.ndarray
    roles: np.ndarray
    outcome: TrainingOutcome
    options: FusionOptions
    seconds: float
    train_anchors: int

    def weight_table(self, layer_names) -> pd.DataFrame:
        """``layer_index, layer, weight_mean, weight_std`` over the valid tracks."""
        valid = np.isfinite(self.weights).all(axis=1)
        return pd.DataFrame(
            {
                "layer_index": np.arange(len(layer_names)),
                "layer": list(layer_names),
                "weight_mean": self.weights[valid].mean(axis=0),
                "weight_std": self.weights[valid].std(axis=0),
            }
        )


def _triplet_source(options: FusionOptions, pool, artists, albums, interactions, n_tracks):
    if options.triplets == "metadata":
        return MetadataTriplets(pool, albums if options.positive == "album" else artists, artists)
    if interactions is None:
        raise ValueError("layers.fusion.triplets: colistening needs the train split (data/train.parquet)")
    return ColisteningTriplets(pool, interactions, n_tracks)


def train_fusion(
    stack: LayerStack,
    artists: np.ndarray,
    albums: np.ndarray,
    options: FusionOptions,
    seed: int,
    state_dir: str | Path | None = None,
    interactions: pd.DataFrame | None = None,
    progress: bool = False,
) -> FusionResult:
    """Train a fusion of ``stack``'s layers and embed every track with it.

    In: the stack (n, L, d_max), per-track artists and albums (n,), options, seed, an
    optional resume folder and, for co-listening triplets, the train split's interactions
    (``user_id, track_idx``). Out: :class:`FusionResult`. Tracks with non-finite layers are
    left out of training and get NaN rows.
    """
    torch.manual_seed(seed)
    device = choose_device(options.device)
    values = np.asarray(stack.values, dtype=np.float32)
    valid = stack.valid_rows()
    roles = artist_roles(artists, options.val_fraction, options.heldout_fraction, seed)
    train_pool = np.flatnonzero((roles == "train") & valid)
    val_pool = np.flatnonzero((roles == "val") & valid)
    mean = values[train_pool].mean(axis=0)
    scale = values[train_pool].std(axis=0)
    model = build_fusion(options.kind, stack.dims, mean, scale, options.dim, options.hidden_dim, options.common_dim)
    filled = np.where(valid[:, None, None], values, 0.0).astype(np.float32)
    tensor = torch.from_numpy(filled)
    triplets = _triplet_source(options, train_pool, artists, albums, interactions, len(values))
    if triplets.n_anchors == 0:
        raise ValueError(f"layers.fusion: no training triplets ({options.triplets}); too few tracks per artist?")
    val_source = _triplet_source(options, val_pool, artists, albums, interactions, len(values))
    if val_source.n_anchors == 0:
        raise ValueError("layers.fusion: no validation triplets; raise layers.fusion.val_fraction")
    val_rng = np.random.default_rng([seed, 23])
    val_slots = val_source.anchor_slots[val_rng.integers(0, val_source.n_anchors, size=options.val_triplets)]
    val_triplets = val_source.sample(val_rng, val_slots)
    task = FusionTask(model, tensor, triplets, val_triplets, options, device)
    settings = LoopSettings(
        lr=options.lr, max_epochs=options.max_epochs, patience=options.patience, lr_patience=options.lr_patience,
        seed=int(seed), mixed_precision=False,
    )
    run_fingerprint = fingerprint(
        {k: v for k, v in dataclasses.asdict(options).items() if k != "device"}, int(seed), filled, stack.names
    )
    started = time.perf_counter()
    outcome = train(task, settings, state_dir=state_dir, run_fingerprint=run_fingerprint, progress=progress)
    seconds = time.perf_counter() - started
    model.eval()
    with torch.no_grad():
        pieces = [model.forward_with_weights(tensor[i : i + 1024].to(device)) for i in range(0, len(tensor), 1024)]
    embedding = torch.cat([p[0] for p in pieces]).cpu().numpy().astype(np.float32)
    weights = torch.cat([p[1] for p in pieces]).cpu().numpy().astype(np.float64)
    embedding[~valid] = np.nan
    weights[~valid] = np.nan
    return FusionResult(embedding, weights, roles, outcome, options, seconds, triplets.n_anchors)
