"""Decoding one audio file into the clip a backbone hears.

:func:`load_clip` turns a path into a float32 mono waveform at the backbone's
sample rate, cropped to the first ``seconds``, or raises :class:`BadAudio`
saying why the file cannot be embedded. The steps, in order:

1. decode with soundfile (libsndfile >= 1.1 reads MP3 as well as WAV, FLAC,
   OGG); only when libsndfile cannot open the file do we try audioread
   (which needs an ffmpeg/GStreamer backend on the machine, e.g. for an old
   libsndfile without MP3 support);
   only the first ``seconds`` of the file are decoded;
2. mix any number of channels down to mono by their mean;
3. resample with soxr in its high-quality mode (``"HQ"``, the same filter
   ``librosa.load`` uses by default, so a clip equals what librosa would give);
4. crop to the first ``seconds``. We crop from the start because Music4All
   ships 30-s previews: with ``seconds: 30`` the whole preview is used, and a
   longer file yields a reproducible excerpt without decoding the rest;
5. reject clips that are empty, non-finite, shorter than the backbone's
   ``min_seconds`` or silent (peak below :data:`SILENCE_PEAK`).

Resampling happens after the crop, so the last few milliseconds of a cropped
clip differ slightly from resampling the whole file and then cropping; a clip
shorter than ``seconds`` is exactly what ``librosa.load(path, sr=...)`` gives.
"""

from __future__ import annotations

import math
import os

import numpy as np
import soundfile
import soxr

# A clip whose peak stays below one 16-bit quantisation step (about -90 dBFS)
# carries no music: digital silence, or an MP3 decoder's rounding noise.
SILENCE_PEAK = 2.0**-15

RESAMPLE_QUALITY = "HQ"


class BadAudio(Exception):
    """A file that cannot be embedded; ``reason`` says why in a few words."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def load_clip(
    path: str | os.PathLike,
    sample_rate: int,
    seconds: float | None = None,
    min_seconds: float = 0.0,
) -> np.ndarray:
    """Decode ``path`` into the clip a backbone embeds.

    Args:
        path: an audio file in any format libsndfile reads (MP3, WAV, FLAC, OGG, ...).
        sample_rate: the rate (Hz) the backbone expects; the clip is resampled to it.
        seconds: keep only the first ``seconds`` of the file; ``None`` keeps all.
        min_seconds: a file shorter than this is bad audio (at most ``seconds``).

    Returns:
        float32 array of shape ``(n_samples,)``, mono, at ``sample_rate``, with
        ``n_samples <= round(seconds * sample_rate)``.

    Raises:
        BadAudio: missing or unreadable file, no samples, non-finite samples,
            shorter than ``min_seconds``, or silent.
    """
    if seconds is not None and not seconds >= max(min_seconds, 1e-9):
        raise ValueError(
            f"seconds must be positive and at least min_seconds = {min_seconds:g}, or None; got {seconds!r}"
        )
    if not os.path.isfile(path):
        raise BadAudio(path, "missing file" if not os.path.exists(path) else "not a regular file")
    frames, native_rate = _decode(path, seconds)
    if frames.size == 0:
        raise BadAudio(path, "empty: the file decodes to 0 samples")
    if not np.isfinite(frames).all():
        raise BadAudio(path, "non-finite samples (NaN or inf) in the decoded audio")
    mono = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
    clip = resample(mono, native_rate, sample_rate)
    if seconds is not None:
        clip = clip[: round(seconds * sample_rate)]
    duration = len(clip) / sample_rate
    if duration < min_seconds:
        raise BadAudio(path, f"too short: {duration:.2f} s, the backbone needs at least {min_seconds:g} s")
    peak = float(np.abs(clip).max())
    if peak < SILENCE_PEAK:
        raise BadAudio(path, f"silent: peak {peak:.2e} is below {SILENCE_PEAK:.2e}")
    return np.ascontiguousarray(clip, dtype=np.float32)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a mono float32 ``(n,)`` signal with soxr HQ to ``(ceil(n * to_rate / from_rate),)``.

    The output length is fixed to ``ceil`` like ``librosa.resample`` does, so a
    clip matches librosa's sample for sample.
    """
    if from_rate == to_rate:
        return audio
    n_out = math.ceil(len(audio) * to_rate / from_rate)
    resampled = soxr.resample(audio, from_rate, to_rate, quality=RESAMPLE_QUALITY)
    if len(resampled) < n_out:
        resampled = np.pad(resampled, (0, n_out - len(resampled)))
    return resampled[:n_out].astype(np.float32, copy=False)


def _decode(path: str | os.PathLike, seconds: float | None) -> tuple[np.ndarray, int]:
    """``(frames (n, channels) float32, native sample rate)`` of the first ``seconds`` of ``path``."""
    try:
        with soundfile.SoundFile(path) as sound:
            n_frames = -1 if seconds is None else math.ceil(seconds * sound.samplerate)
            return sound.read(frames=n_frames, dtype="float32", always_2d=True), sound.samplerate
    except soundfile.LibsndfileError as error:
        # libsndfile words an unknown format in several ways (an undecodable
        # .mp3 reads "not a regular file"), so every open error gets the fallback.
        return _decode_with_audioread(path, seconds, error)
    except RuntimeError as error:  # libsndfile reports some corrupt streams as plain RuntimeErrors
        raise BadAudio(path, f"unreadable: {error}") from error


def _decode_with_audioread(
    path: str | os.PathLike, seconds: float | None, soundfile_error: Exception
) -> tuple[np.ndarray, int]:
    """The fallback for formats libsndfile does not know; audioread yields 16-bit PCM buffers."""
    try:
        import audioread
    except ImportError:
        raise BadAudio(path, f"unreadable: {soundfile_error} (audioread is not installed)") from soundfile_error
    try:
        with audioread.audio_open(os.fspath(path)) as sound:
            rate, channels = sound.samplerate, sound.channels
            wanted = None if seconds is None else math.ceil(seconds * rate) * channels
            chunks, total = [], 0
            for buffer in sound:
                chunks.append(np.frombuffer(buffer, dtype="<i2"))
                total += len(chunks[-1])
                if wanted is not None and total >= wanted:
                    break
    except Exception as error:  # audioread raises backend-specific errors for every unreadable file
        raise BadAudio(path, f"unreadable: {soundfile_error}; audioread: {error!r}") from error
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % channels]
    if wanted is not None:
        samples = samples[:wanted]
    return (samples.astype(np.float32) / 32768.0).reshape(-1, channels), rate
