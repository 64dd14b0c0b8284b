"""warm_librosa: parallel first compiles of librosa's numba kernels, serialised so none crashes."""

import os
import subprocess
import sys

import numpy as np

from musicrec.jit_warmup import warm_librosa

# What a job does after the warm-up: the kernels the workflow uses, on a clip of its own.
JOB = (
    "from musicrec.jit_warmup import warm_librosa; import numpy as np; import librosa; "
    "warm_librosa(); y = (np.random.default_rng(1).standard_normal(5 * 22050) * 0.1).astype(np.float32); "
    "librosa.beat.beat_track(y=y, sr=22050); librosa.feature.mfcc(y=y, sr=22050); print('ok')"
)


def test_two_fresh_processes_on_an_empty_cache_both_finish(tmp_path):
    """Without the lock, 1 of 3 such pairs died with SIGSEGV inside librosa's beat tracker."""
    for attempt in range(2):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / f"cache-{attempt}")}
        jobs = [subprocess.Popen([sys.executable, "-c", JOB], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
        for job in jobs:
            out, err = job.communicate(timeout=600)
            assert job.returncode == 0, f"return code {job.returncode}: {err[-2000:]}"
            assert out.strip().endswith("ok")
        assert any((tmp_path / f"cache-{attempt}").rglob("*.nbi"))  # the kernels were cached


def test_warm_up_leaves_results_unchanged():
    import librosa

    y = (np.random.default_rng(2).standard_normal(3 * 16000) * 0.1).astype(np.float32)
    before = librosa.onset.onset_strength(y=y, sr=16000)
    warm_librosa()
    np.testing.assert_array_equal(librosa.onset.onset_strength(y=y, sr=16000), before)
