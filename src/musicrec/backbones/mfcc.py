"""The MFCC baseline: mean and standard deviation over time of librosa MFCCs.

Each clip becomes ``2 * n_mfcc`` numbers: the time mean of each coefficient,
then the time standard deviation. With the default ``n_mfcc = 52`` that is the
104-d MFCC row of the paper's table (2 x 52 = 104; the paper gives no other
parameters, so the rest are librosa's defaults). Parameters (config keys):

- ``sample_rate`` 22050 Hz (librosa's default rate),
- ``n_fft`` 2048 samples (93 ms), ``hop_length`` 512 samples (23 ms),
- ``n_mels`` 128 Slaney-normalised mel bands, power spectrogram,
- dB conversion ``10 log10(max(S, 1e-10))`` clipped at 80 dB below the clip's
  peak, DCT-II with orthonormal scaling, no liftering.

This is exactly ``librosa.feature.mfcc(y=clip, sr=22050, n_mfcc=52)`` per clip.
The STFT and mel projection run on the whole batch at once; the dB conversion
runs per clip, because librosa's ``power_to_db`` takes its 80-dB floor from the
peak of the *whole array*, which would make a quiet clip's features depend on a
loud batch mate.
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np

from musicrec.backbones.base import Backbone


class MfccBackbone(Backbone):
    """``(B, n_samples)`` clips at 22.05 kHz -> ``(B, 2 * n_mfcc)``: MFCC means then standard deviations."""

    plugin = "mfcc"
    default_sample_rate = 22050
    # A second gives ~43 frames: enough for a meaningful standard deviation over time.
    min_seconds = 1.0
    default_batch_size = 16
    plugin_options = {"n_mfcc": 52, "n_fft": 2048, "hop_length": 512, "n_mels": 128}

    def __init__(self, name: str, options: dict[str, Any] | None = None):
        super().__init__(name, options)
        for key in self.plugin_options:
            self.params[key] = self._check_positive_int(key, self.params[key])
        if self.params["n_mfcc"] > self.params["n_mels"]:
            raise self.option_error("n_mfcc", self.params["n_mfcc"], f"at most n_mels = {self.params['n_mels']}")
        from musicrec.jit_warmup import warm_librosa

        warm_librosa()  # librosa's kernels compiled once, not beside another job's first compile

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (2 * self.params["n_mfcc"],)

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 -> ``(B, 2 * n_mfcc)`` float32 (means, then standard deviations)."""
        params = self.params
        power = librosa.feature.melspectrogram(
            y=np.asarray(audio, dtype=np.float32),
            sr=self.sample_rate,
            n_fft=params["n_fft"],
            hop_length=params["hop_length"],
            n_mels=params["n_mels"],
        )  # (B, n_mels, frames)
        decibels = np.stack([librosa.power_to_db(clip) for clip in power])
        coefficients = librosa.feature.mfcc(S=decibels, n_mfcc=params["n_mfcc"])  # (B, n_mfcc, frames)
        features = np.concatenate([coefficients.mean(axis=-1), coefficients.std(axis=-1)], axis=-1)
        return features.astype(np.float32)

    def describe_model(self) -> dict[str, Any]:
        return {
            "weights": None,
            "layer": f"{self.params['n_mfcc']} MFCCs",
            "pooling": "mean and std over time (means first)",
            **{key: self.params[key] for key in self.plugin_options},
            "mfcc": "librosa power mel, power_to_db(top_db=80) per clip, DCT-II ortho, no lifter",
            "librosa_version": librosa.__version__,
        }
