"""librosa's numba kernels, compiled once per environment before parallel jobs use them.

librosa compiles its numba kernels on first use and caches them beside the package (or in
``NUMBA_CACHE_DIR``). numba's cache is not safe for concurrent first writers: two fresh
processes compiling kernels of the same librosa module at once can crash one of them with
SIGSEGV (reproduced: 1 of 3 paired runs on an empty cache; in the demo, the probing targets'
job died beside a MusicNN extraction shard in a new environment). :func:`warm_librosa`
compiles the kernels the workflow uses under an exclusive file lock, so the jobs that follow
only ever read the cache; with a warm cache it costs about a second.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path


def _lock_path() -> Path:
    """One lock per librosa installation and numba cache location on this machine."""
    import librosa

    key = f"{Path(librosa.__file__).parent}|{os.environ.get('NUMBA_CACHE_DIR', '')}"
    return Path(tempfile.gettempdir()) / f"musicrec-librosa-jit-{hashlib.sha1(key.encode()).hexdigest()[:12]}.lock"


def warm_librosa() -> None:
    """Compile (or load) librosa's numba kernels for float32 and float64 clips, one process at a time."""
    import numpy as np

    from musicrec.layers.targets import acoustic_targets  # the widest set of librosa calls in the workflow

    with open(_lock_path(), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            noise = np.random.default_rng(0).standard_normal(4 * 16000) * 0.1
            for dtype in (np.float32, np.float64):
                acoustic_targets(noise.astype(dtype), 16000)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
