"""Session-wide set-up of the test process.

Two native-library clashes make a long pytest process fragile where separate workflow jobs are
not:

- TensorFlow bundles its own LLVM. Tests marked ``tensorflow`` import it lazily and run after
  every other in-process test.
- numba compiling librosa's JIT functions (onset peak picking, beat tracking, ...) for the first
  time inside this process, after torch, FAISS, TensorFlow and friends are loaded, was seen to
  segfault — and a crash mid-compile leaves a corrupt entry in numba's on-disk cache that then
  crashes every later process. So the session starts by compiling them in a clean child process;
  the test process then only loads the cached machine code, which is safe.
"""

import subprocess
import sys
import warnings

LIBROSA_JIT_WARM_UP = """
import numpy as np, librosa
y = np.random.default_rng(0).standard_normal(22050 * 4).astype(np.float32)
for dtype in (np.float32, np.float64):
    x = y.astype(dtype)
    librosa.onset.onset_detect(y=x, sr=22050)
    librosa.beat.beat_track(y=x, sr=22050)
    librosa.feature.zero_crossing_rate(x)
    librosa.piptrack(y=x, sr=22050)
    librosa.feature.mfcc(y=x, sr=22050)
    librosa.util.localmin(x)
"""


def pytest_sessionstart(session):
    result = subprocess.run([sys.executable, "-c", LIBROSA_JIT_WARM_UP], capture_output=True, text=True)
    if result.returncode != 0:
        warnings.warn(f"warming librosa's numba cache failed ({result.returncode}): {result.stderr[-500:]}")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.get_closest_marker("tensorflow") is not None)  # stable sort
