"""Step 3: the student, MiniLM fine-tuned on the teacher's triplets, then used as a user embedder.

Loss: multiple-negatives ranking (InfoNCE over cosine similarities times
``scale``). Each context is scored against every positive of the batch and
every hard negative; the trap is in-batch false negatives: when two triplets
share a summary text (small teachers repeat themselves), another row's
"negative" is this row's positive. Every column whose *text* equals the row's
positive, other than the row's own, is masked out of the softmax, and so is a
hard negative identical to the positive.

Training: seeded shuffling, AdamW, a fixed number of epochs; the learning curve
(loss per epoch, and R@1 / MRR on the held-out triplets per epoch when given)
is returned with the throughput. As a user embedder: user vector =
student(context text), item vector = student(track text).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StudentSettings:
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 2e-5
    scale: float = 20.0  # inverse temperature of the cosine softmax (sentence-transformers' default)
    max_seq_length: int = 128
    seed: int = 0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "StudentSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def false_negative_mask(pos_texts: list[str], neg_texts: list[str]) -> np.ndarray:
    """(b, 2b) bool: True where column j is a false negative for row i (same text as i's positive, j != i).

    Columns 0..b-1 are the batch's positives, b..2b-1 its hard negatives.
    """
    b = len(pos_texts)
    columns = np.array(list(pos_texts) + list(neg_texts), dtype=object)
    rows = np.array(pos_texts, dtype=object)
    mask = rows[:, None] == columns[None, :]
    mask[np.arange(b), np.arange(b)] = False  # the row's own positive is the target
    return mask


def mnrl_loss(anchors, positives, negatives, false_negatives, scale: float):
    """InfoNCE of anchors (b, d) against [positives; negatives] (2b, d) with ``false_negatives`` masked."""
    import torch
    import torch.nn.functional as F

    candidates = torch.cat([positives, negatives], dim=0)
    logits = scale * F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).T
    logits = logits.masked_fill(false_negatives, float("-inf"))
    target = torch.arange(len(anchors), device=anchors.device)
    return F.cross_entropy(logits, target)


def _embed(model, texts: list[str]):
    features = model.tokenize(texts)
    features = {key: value.to(model.device) if hasattr(value, "to") else value for key, value in features.items()}
    return model(features)["sentence_embedding"]


def train_student(model_dir: str, triplets: pd.DataFrame, settings: StudentSettings, evaluate=None):
    """Fine-tune the sentence-transformers model in ``model_dir`` on ``triplets``.

    In: triplets (``context, pos_summary, neg_summary``); ``evaluate``: optional
    ``model -> dict`` called after each epoch (the held-out benchmark). Out:
    ``(model, curve frame (epoch, loss, seconds, triplets_per_s, ...evaluate's keys), stats dict)``.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(settings.seed)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = settings.max_seq_length
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    rng = np.random.default_rng(settings.seed)
    contexts = triplets["context"].tolist()
    pos, neg = triplets["pos_summary"].tolist(), triplets["neg_summary"].tolist()
    curve = []
    if evaluate is not None:
        model.eval()
        curve.append({"epoch": 0, "loss": float("nan"), "seconds": 0.0, "triplets_per_s": float("nan"),
                      **evaluate(model)})
    seen = 0
    total_seconds = 0.0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = rng.permutation(len(triplets))
        losses, started = [], time.perf_counter()
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            if len(batch) < 2:
                continue  # a batch of one has no in-batch negatives beyond its own hard one
            b_pos, b_neg = [pos[i] for i in batch], [neg[i] for i in batch]
            mask = torch.from_numpy(false_negative_mask(b_pos, b_neg))
            loss = mnrl_loss(_embed(model, [contexts[i] for i in batch]), _embed(model, b_pos),
                             _embed(model, b_neg), mask, settings.scale)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            seen += len(batch)
        seconds = time.perf_counter() - started
        total_seconds += seconds
        model.eval()
        row = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"), "seconds": seconds,
               "triplets_per_s": len(order) / seconds if seconds > 0 else float("nan")}
        if evaluate is not None:
            row.update(evaluate(model))
        curve.append(row)
    stats = {"triplets": len(triplets), "epochs": settings.epochs, "train_seconds": total_seconds,
             "triplets_per_s": seen / total_seconds if total_seconds > 0 else float("nan")}
    return model, pd.DataFrame(curve), stats


def encode(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), d) float32 unit vectors from a sentence-transformers model."""
    return model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                        show_progress_bar=False).astype(np.float32)


def taste_similarity_agreement(user_vectors: np.ndarray, truth: np.ndarray) -> float:
    """Spearman correlation between pairwise cosine similarities of user vectors and of ground-truth tastes.

    In: user_vectors (n, d), truth (n, t) (e.g. each demo listener's discovery
    distribution over tracks), rows aligned. Out: rho over the n (n - 1) / 2 pairs.
    """
    from scipy.stats import spearmanr

    def cosine(matrix):
        unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return unit @ unit.T

    upper = np.triu_indices(len(user_vectors), k=1)
    return float(spearmanr(cosine(user_vectors)[upper], cosine(truth)[upper]).statistic)


def user_contexts(train: pd.DataFrame, texts: list[str], user_ids, segment_size: int) -> list[str]:
    """The context text of each user in ``user_ids`` order: their ``segment_size`` most recent train tracks."""
    from musicrec.synth.segments import context_text, user_segments

    segments, _ = user_segments(train, segment_size, 0, [str(u) for u in user_ids])
    return [context_text(texts, s.tracks) for s in segments]


def student_recommendations(model, texts: list[str], item_matrix: np.ndarray, excluded_rows: np.ndarray,
                            train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, top_n: int,
                            candidates: str, segment_size: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The student as a recommender: user = student(context), item = the student's track vectors.

    In: the model, track texts and its item matrix (n_tracks, d) with ``excluded_rows``
    (NaN rows, from the sidecar), the splits, top_n, the candidate set. Out: the
    recommendations table (``user_id, rank, track_idx, score``, val ∪ test users, train
    items removed), and every train user's ids and vectors (n_users, d).
    """
    from musicrec.recommenders.inputs import prepare_interactions
    from musicrec.recommenders.retrieval import recommend

    usable = np.isfinite(item_matrix).all(axis=1)
    usable[np.asarray(excluded_rows, dtype=np.int64)] = False
    interactions = prepare_interactions(train, val, test, usable, candidates=candidates)
    user_vectors = encode(model, user_contexts(train, texts, interactions.user_ids, segment_size))
    items = np.where(usable[:, None], item_matrix, 0.0).astype(np.float32)
    return recommend(interactions, user_vectors, items, top_n), interactions.user_ids, user_vectors
