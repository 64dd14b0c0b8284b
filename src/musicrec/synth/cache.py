"""The teacher's call store: SQLite, keyed by everything that decides an answer.

Key = sha256 of the canonical JSON of (model identity, messages, request
parameters incl. the response schema, seed). The store lives outside the
declared outputs (``results/checkpoints/synth/...``), so Snakemake's clean-up of a
killed job leaves it, the rerun finds every answered call, and a rerun with the
same inputs makes no call at all. Each answer is committed as it arrives (WAL
mode: a SIGKILL loses at most the calls in flight). One connection per store,
guarded by a lock, serves the job's worker threads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def call_key(model_identity: str, messages: list[dict], parameters: dict, seed: int | None) -> str:
    """Hex sha256 of the canonical JSON of one request."""
    canonical = json.dumps(
        {"model": model_identity, "messages": messages, "parameters": parameters, "seed": seed},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    content: str  # the raw message content the teacher returned
    prompt_tokens: int
    completion_tokens: int
    seconds: float  # wall time of the original call
    finish_reason: str | None


class CallCache:
    """``get(key)`` -> :class:`CachedAnswer` | None; ``put(key, model, answer)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60.0)
        with self._lock:
            # Several shard jobs may share one store: WAL lets them read while one writes.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL, "
                "prompt_tokens INTEGER, completion_tokens INTEGER, seconds REAL, finish_reason TEXT, created REAL)"
            )
            self._db.commit()

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT content, prompt_tokens, completion_tokens, seconds, finish_reason FROM calls WHERE key = ?",
                (key,),
            ).fetchone()
        return None if row is None else CachedAnswer(*row)

    def put(self, key: str, model_identity: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model_identity, answer.content, answer.prompt_tokens, answer.completion_tokens,
                 answer.seconds, answer.finish_reason, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "CallCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
