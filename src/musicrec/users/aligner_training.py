"""Training AlignerV2 on the synthetic train users' feedback, folding in other users, evaluation.

Training goes through the project's one loop (:func:`musicrec.recommenders.training.train`):
:class:`AlignerTask` supplies batches and losses, the loop owns the optimiser, early stopping,
checkpoints, resume and determinism. Positives are a user's *liked* observed songs (score >=
``like_threshold``); negatives are pool songs drawn uniformly (an accidental positive among them
is rare and only blurs the loss a little, as in any sampled InfoNCE). Each train user's observed
songs are split once: the last ``val_fraction`` give the validation loss.

Users outside the table (val/test users) are *folded in*: their vector is optimised on the same
InfoNCE loss over their own observed songs with the song tower frozen. Those vectors are the
reference an estimator is asked to approach.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch

from musicrec.recommenders.inputs import InputError
from musicrec.recommenders.training import LoopSettings, TrainingOutcome, choose_device, fingerprint, train
from musicrec.users.aligner import AlignerV2, info_nce
from musicrec.users.heldout import mean_quality
from musicrec.users.simulation import SyntheticWorld, ceiling, held_out_quality


@dataclass(frozen=True)
class AlignerOptions:
    """Config block ``users.aligner``."""

    dim: int = 32
    hidden: int = 0  # 0: a linear song tower
    temperature: float = 0.1
    negatives: int = 32
    batch_size: int = 1024
    lr: float = 1e-2
    max_epochs: int = 40
    patience: int = 4
    lr_patience: int = 2
    val_fraction: float = 0.2
    fold_in_steps: int = 150
    fold_in_lr: float = 0.05
    device: str = "auto"


def _liked_pairs(world: SyntheticWorld, users: np.ndarray, columns: slice) -> tuple[np.ndarray, np.ndarray]:
    """(user position in ``users``, song) of the liked songs among observed[:, columns]."""
    songs = world.observed[users][:, columns]
    liked = world.scores[users[:, None], songs] >= world.options.like_threshold
    rows, cols = np.nonzero(liked)
    return rows.astype(np.int64), songs[rows, cols].astype(np.int64)


class AlignerTask:
    """The aligner's :class:`~musicrec.recommenders.training.TrainingTask`."""

    def __init__(self, world: SyntheticWorld, options: AlignerOptions, seed: int):
        self.options = options
        self.device = choose_device(options.device)
        self.train_users = world.users("train")
        n_observed = world.observed.shape[1]
        n_val = int(round(options.val_fraction * n_observed))
        if n_val < 1 or n_val >= n_observed:
            raise InputError(
                f"users.aligner.val_fraction: {options.val_fraction} of {n_observed} observed songs leaves no "
                "train or no validation song; use a fraction between 1/n and 1 - 1/n"
            )
        self.train_user, self.train_song = _liked_pairs(world, self.train_users, slice(0, n_observed - n_val))
        val_user, val_song = _liked_pairs(world, self.train_users, slice(n_observed - n_val, None))
        if len(self.train_user) == 0 or len(val_user) == 0:
            raise InputError(
                "users.simulation: the train users like no observed song; lower like_threshold or raise "
                "observed_per_user"
            )
        torch.manual_seed(seed)  # the model's initial weights
        self.model = AlignerV2(torch.from_numpy(world.songs), len(self.train_users), options.dim, options.hidden)
        self.pool = torch.as_tensor(world.pool, device=self.device)
        generator = torch.Generator().manual_seed(seed + 1)
        self.val_user = torch.as_tensor(val_user, device=self.device)
        self.val_song = torch.as_tensor(val_song, device=self.device)
        self.val_negatives = torch.randint(len(world.pool), (len(val_user), options.negatives), generator=generator).to(
            self.device
        )
        self._train_user = torch.as_tensor(self.train_user, device=self.device)
        self._train_song = torch.as_tensor(self.train_song, device=self.device)

    def n_train_batches(self) -> int:
        return -(-len(self.train_user) // self.options.batch_size)

    def train_batches(self, generator: torch.Generator):
        order = torch.randperm(len(self.train_user), generator=generator, device=generator.device).to(self.device)
        for start in range(0, len(order), self.options.batch_size):
            rows = order[start : start + self.options.batch_size]
            negatives = torch.randint(
                len(self.pool), (len(rows), self.options.negatives), generator=generator, device=generator.device
            ).to(self.device)
            yield self._train_user[rows], self._train_song[rows], negatives

    def _loss(self, users, songs, negatives) -> torch.Tensor:
        song_vectors = self.model.song_vectors()
        return info_nce(
            self.model.user_vectors(users),
            song_vectors[songs],
            song_vectors[self.pool[negatives]],
            self.options.temperature,
        )

    def train_loss(self, batch) -> torch.Tensor:
        return self._loss(*batch)

    def validation_loss(self) -> float:
        return float(self._loss(self.val_user, self.val_song, self.val_negatives))


def fold_in(
    song_vectors: torch.Tensor,
    positives: torch.Tensor,
    mask: torch.Tensor,
    pool: torch.Tensor,
    options: AlignerOptions,
    seed: int,
) -> torch.Tensor:
    """User vectors for users outside the table, batched over users.

    In: song_vectors (n_songs, h) unit, frozen; positives (B, P) liked song indices padded
    anywhere with ``mask`` (B, P) False; pool (n_pool,) songs to draw negatives from. Out:
    (B, h) unit vectors minimising each user's mean InfoNCE over its positives
    (``fold_in_steps`` Adam steps; users are independent, Adam is per coordinate, so batching
    changes nothing). A user with no positive keeps the normalised mean of the song vectors.
    """
    generator = torch.Generator(device=song_vectors.device).manual_seed(seed)
    weights = mask.float() / mask.float().sum(dim=1, keepdim=True).clamp(min=1.0)
    start = (song_vectors[positives] * weights.unsqueeze(-1)).sum(dim=1)
    start = torch.where(mask.any(dim=1, keepdim=True), start, song_vectors.mean(dim=0).expand_as(start))
    users = torch.nn.Parameter(torch.nn.functional.normalize(start, dim=-1).clone())
    optimiser = torch.optim.Adam([users], lr=options.fold_in_lr)
    batch, width = positives.shape
    for _ in range(options.fold_in_steps):
        # One set of negatives per user and step, shared by its positives: (B, K), not (B, P, K).
        negatives = pool[torch.randint(len(pool), (batch, options.negatives), generator=generator, device=pool.device)]
        unit = torch.nn.functional.normalize(users, dim=-1)
        positive = (song_vectors[positives] * unit.unsqueeze(1)).sum(-1, keepdim=True)
        negative = torch.einsum("bh,bkh->bk", unit, song_vectors[negatives]).unsqueeze(1).expand(batch, width, -1)
        logits = torch.cat([positive, negative], dim=-1) / options.temperature
        loss = -(torch.log_softmax(logits, dim=-1)[..., 0] * weights).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return torch.nn.functional.normalize(users.detach(), dim=-1)


@dataclass
class AlignerFit:
    """user_vectors (n_users, h): table rows for train users, fold-ins for the others (world order);
    song_vectors (n_songs, h); both unit rows, float32."""

    model: AlignerV2
    training: TrainingOutcome
    user_vectors: np.ndarray
    song_vectors: np.ndarray
    options: AlignerOptions


def padded_liked(world: SyntheticWorld, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's liked observed songs, padded: (len(users), P) indices and mask."""
    songs = world.observed[users]
    mask = world.scores[users[:, None], songs] >= world.options.like_threshold
    return songs, mask


def train_aligner(
    world: SyntheticWorld, options: AlignerOptions, seed: int, state_dir=None, progress: bool = False, on_step=None
) -> AlignerFit:
    """Train AlignerV2 on the train users (resumable from ``state_dir``), fold in everyone else."""
    task = AlignerTask(world, options, seed)
    run_fingerprint = fingerprint(
        "aligner", asdict(options), int(seed), world.songs, world.scores, world.observed, world.user_part
    )
    settings = replace(LoopSettings.from_options(options, seed), mixed_precision=False)
    outcome = train(
        task, settings, state_dir=state_dir, run_fingerprint=run_fingerprint, progress=progress, on_step=on_step
    )
    model = task.model.eval()
    with torch.no_grad():
        song_vectors = model.song_vectors()
        user_vectors = torch.zeros(len(world.tastes), options.dim, device=task.device)
        user_vectors[torch.as_tensor(task.train_users, device=task.device)] = model.user_vectors()
    others = np.flatnonzero(world.user_part != 0)
    songs, mask = padded_liked(world, others)
    user_vectors[torch.as_tensor(others, device=task.device)] = fold_in(
        song_vectors,
        torch.as_tensor(songs, device=task.device),
        torch.as_tensor(mask, device=task.device),
        task.pool,
        options,
        seed + 2,
    )
    return AlignerFit(
        model=model.cpu(),
        training=outcome,
        user_vectors=user_vectors.cpu().numpy().astype(np.float32),
        song_vectors=song_vectors.cpu().numpy().astype(np.float32),
        options=options,
    )


def procrustes_recovery(world: SyntheticWorld, user_vectors: np.ndarray, seed: int) -> dict[str, float]:
    """How well aligner user vectors recover the true tastes, after an orthogonal alignment.

    The true tastes (d wide) are projected on their top-h principal directions (fitted on
    train users), an orthogonal map (h, h) from aligner to taste coordinates is fitted on train
    users (orthogonal Procrustes), and the mean cosine between mapped and true projected tastes
    is measured on test users; ``chance`` is the same with the test users shuffled, ``pca_energy``
    the share of the tastes' energy the h directions keep (what recovery could reach at best).
    """
    train_users, test_users = world.users("train"), world.users("test")
    h = user_vectors.shape[1]
    _, singular, directions = np.linalg.svd(world.tastes[train_users].astype(np.float64), full_matrices=False)
    basis = directions[:h].T
    target_train = world.tastes[train_users] @ basis
    left, _, right = np.linalg.svd(user_vectors[train_users].T.astype(np.float64) @ target_train)
    rotation = left @ right

    def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return float((a * b).sum(axis=1).mean())

    mapped = user_vectors[test_users] @ rotation
    target = world.tastes[test_users] @ basis
    shuffled = target[np.random.default_rng(seed).permutation(len(target))]
    return {
        "cosine": mean_cosine(mapped, target),
        "chance": mean_cosine(mapped, shuffled),
        "pca_energy": float((singular[:h] ** 2).sum() / (singular**2).sum()),
    }


def aligner_table(world: SyntheticWorld, fit: AlignerFit, seed: int) -> pd.DataFrame:
    """One row per (model, users): AUC, NDCG@10, Recall@10 on held-out songs, and n_users.

    models: ``ceiling`` (true tastes, the generator's own limit), ``aligner`` (table vectors
    for train users; fold-ins for held-out test users) and ``random`` (random unit user and
    song vectors). users: ``train`` (held-out songs of the train users) and ``test`` (held-out
    users). The recovery columns hold :func:`procrustes_recovery` on the aligner's rows.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for part in ("train", "test"):
        users = world.users(part)
        random_users = rng.standard_normal((len(users), fit.song_vectors.shape[1]))
        random_songs = rng.standard_normal(fit.song_vectors.shape)
        candidates = {
            "ceiling": ceiling(world, users),
            "aligner": held_out_quality(world, fit.user_vectors[users], fit.song_vectors, users),
            "random": held_out_quality(world, random_users, random_songs, users),
        }
        for model, quality in candidates.items():
            rows.append({"model": model, "users": part, **mean_quality(quality), "n_users": len(users)})
    table = pd.DataFrame(rows)
    recovery = procrustes_recovery(world, fit.user_vectors, seed)
    for key, value in recovery.items():
        table[f"recovery_{key}"] = np.where(table["model"] == "aligner", value, np.nan)
    return table
