"""The baseline scorers of (context, candidate summaries): BM25 and sentence embedders.

Every scorer maps ``(queries (n,), candidates (n, m))`` to scores ``(n, m)``
(higher: more relevant), so the benchmark and the audit treat lexical and dense
models alike. Dense models are the packaged all-MiniLM-L6-v2 and all-mpnet-base-v2
(hash-verified, loaded offline) or any sentence-transformers folder (the student).
"""

from __future__ import annotations

import os
import re
from typing import Protocol

import numpy as np

SCORERS = ("bm25", "minilm", "mpnet")
TOKEN = re.compile(r"[a-z0-9]+")


class Scorer(Protocol):
    name: str

    def score(self, queries: list[str], candidates: list[list[str]]) -> np.ndarray: ...


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class BM25Scorer:
    """Okapi BM25 (``rank-bm25``) over each query's own candidate list, idf from the whole candidate set.

    The idf comes from every distinct candidate text of the call (the summary pool
    as the benchmark sees it), not from the handful of candidates of one query,
    whose idf would be degenerate.
    """

    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b

    def score(self, queries: list[str], candidates: list[list[str]]) -> np.ndarray:
        from rank_bm25 import BM25Okapi

        corpus = sorted({text for row in candidates for text in row})
        position = {text: i for i, text in enumerate(corpus)}
        bm25 = BM25Okapi([tokens(text) or ["<empty>"] for text in corpus], k1=self.k1, b=self.b)
        scores = np.empty((len(queries), len(candidates[0]) if candidates else 0))
        for row, (query, options) in enumerate(zip(queries, candidates)):
            all_scores = bm25.get_scores(tokens(query))
            scores[row] = all_scores[[position[text] for text in options]]
        return scores


class DenseScorer:
    """Cosine similarity of sentence-transformers embeddings (unit vectors, inner product)."""

    def __init__(self, name: str, model_dir: str, batch_size: int = 32, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
        self.name = name
        self.model_dir = str(model_dir)
        self.batch_size = batch_size
        self.model = SentenceTransformer(self.model_dir, device=device)

    @classmethod
    def from_model(cls, name: str, model, batch_size: int = 32) -> "DenseScorer":
        """A scorer over a model already in memory (the student while it trains), not a fresh load."""
        scorer = cls.__new__(cls)
        scorer.name, scorer.model_dir, scorer.batch_size, scorer.model = name, None, batch_size, model
        return scorer

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), d)`` float32 unit vectors."""
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension()), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return vectors.astype(np.float32)

    def score(self, queries: list[str], candidates: list[list[str]]) -> np.ndarray:
        distinct = sorted({text for row in candidates for text in row} | set(queries))
        vectors = self.encode(distinct)
        index = {text: i for i, text in enumerate(distinct)}
        q = vectors[[index[t] for t in queries]]
        c = vectors[np.array([[index[t] for t in row] for row in candidates], dtype=np.int64)]
        return np.einsum("nd,nmd->nm", q, c)


def make_scorer(name: str, model_cache: str | None = None, model_dir: str | None = None) -> Scorer:
    """A scorer by name: ``bm25``, ``minilm``, ``mpnet``, or any name with ``model_dir`` given."""
    from musicrec.synth.weights import sentence_model_dir

    if name == "bm25":
        return BM25Scorer()
    if model_dir is not None:
        return DenseScorer(name, model_dir)
    if name in ("minilm", "mpnet"):
        return DenseScorer(name, str(sentence_model_dir(name, model_cache)))
    raise ValueError(f"unknown scorer {name!r}; expected one of {SCORERS} or a model folder")
