"""Decoding one audio file into the clip a backbone hears.

:func:`load_clip` turns a path into a float32 mono waveform at the backbone's
sample rate, cropped to a window of ``seconds`` that starts at ``offset``
(:class:`ClipOffset`: the start by default, a number of seconds, or a share of
the track's length), or raises :class:`BadAudio` saying why the file cannot be
embedded. The steps, in order:

1. decode with soundfile (libsndfile >= 1.1 reads MP3 as well as WAV, FLAC,
   OGG); only when libsndfile cannot open the file do we try audioread
   (which needs an ffmpeg/GStreamer backend on the machine, e.g. for an old
   libsndfile without MP3 support);
   only the window is decoded: the decoder seeks to its start and reads
   ``seconds`` from there;
2. mix any number of channels down to mono by their mean;
3. resample with soxr in its high-quality mode (``"HQ"``, the same filter
   ``librosa.load`` uses by default, so a clip equals what librosa would give);
4. crop to ``seconds``. The window starts at the beginning by default because
   Music4All ships 30-s previews: with ``seconds: 30`` the whole preview is
   used. Full-length tracks usually open with an intro that says little about
   the rest, so ``offset`` can move the window, e.g. ``"40%"`` into the track.
   A window that would run past the end is moved back to end with the track
   (never before its start), so a short file still gives all it has;
5. reject clips that are empty, non-finite, shorter than the backbone's
   ``min_seconds`` or silent (peak below :data:`SILENCE_PEAK`).

Resampling happens after the crop, so the last few milliseconds of a cropped
clip differ slightly from resampling the whole file and then cropping; a clip
shorter than ``seconds`` is exactly what ``librosa.load(path, sr=...)`` gives.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ClipOffset:
    """Where the clip's window starts: ``seconds`` into the track, or ``fraction`` of its length.

    ``fraction`` (0 <= f < 1), when set, places the window at that share of the
    track's length and ``seconds`` is unused; ``ClipOffset()`` (0 s) is the
    start. Build it from a config value with :func:`parse_offset`.
    """

    seconds: float = 0.0
    fraction: float | None = None

    def start_frame(self, n_frames: int, rate: int, window_frames: int | None) -> int:
        """First frame of the window in a track of ``n_frames`` at ``rate`` Hz.

        ``window_frames`` is the window's length (None: to the end). The start is
        moved back so the window ends at the track's end if it would run past it,
        and never before frame 0.
        """
        wanted = round(self.fraction * n_frames) if self.fraction is not None else round(self.seconds * rate)
        latest = n_frames - window_frames if window_frames is not None else n_frames
        return max(0, min(wanted, latest))

    def describe(self) -> str | float:
        """The offset as its config value: ``"40%"``, or the number of seconds."""
        return f"{self.fraction * 100:g}%" if self.fraction is not None else self.seconds


def parse_offset(value: object, key: str = "offset") -> ClipOffset:
    """A config value -> :class:`ClipOffset`.

    Accepts a non-negative number of seconds (``12.5``) or a percentage of the
    track's length as a string (``"40%"``, from 0 % up to, not including,
    100 %); ``None`` is the start. Raises ValueError naming ``key`` otherwise.
    """
    if value is None:
        return ClipOffset()
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if math.isfinite(value) and value >= 0:
            return ClipOffset(seconds=float(value))
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*", value)
        if match and float(match.group(1)) < 100:
            return ClipOffset(fraction=float(match.group(1)) / 100)
    raise ValueError(
        f"{key} = {value!r}; expected a number of seconds >= 0 (e.g. 12.5) or a share of the "
        'track as a percentage string below 100 % (e.g. "40%")'
    )


def load_clip(
    path: str | os.PathLike,
    sample_rate: int,
    seconds: float | None = None,
    min_seconds: float = 0.0,
    offset: ClipOffset = ClipOffset(),
) -> np.ndarray:
    """Decode ``path`` into the clip a backbone embeds.

    Args:
        path: an audio file in any format libsndfile reads (MP3, WAV, FLAC, OGG, Opus, ...).
        sample_rate: the rate (Hz) the backbone expects; the clip is resampled to it.
        seconds: keep only ``seconds`` of the file from ``offset`` on; ``None`` keeps all.
        min_seconds: a file shorter than this is bad audio (at most ``seconds``).
        offset: where the window starts (see :class:`ClipOffset`); the start by default.

    Returns:
        float32 array of shape ``(n_samples,)``, mono, at ``sample_rate``, with
        ``n_samples <= round(seconds * sample_rate)``.

    Raises:
        BadAudio: missing, empty (0 bytes) or unreadable file (not audio, or a
            format no decoder here reads), no samples, non-finite samples,
            shorter than ``min_seconds``, or silent.
    """
    if seconds is not None and not seconds >= max(min_seconds, 1e-9):
        raise ValueError(
            f"seconds must be positive and at least min_seconds = {min_seconds:g}, or None; got {seconds!r}"
        )
    if not os.path.isfile(path):
        raise BadAudio(path, "missing file" if not os.path.exists(path) else "not a regular file")
    if os.path.getsize(path) == 0:
        raise BadAudio(path, "empty file (0 bytes)")
    frames, native_rate = _decode(path, seconds, offset)
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


def _decode(path: str | os.PathLike, seconds: float | None, offset: ClipOffset) -> tuple[np.ndarray, int]:
    """``(frames (n, channels) float32, native sample rate)`` of the window of ``path``."""
    try:
        with soundfile.SoundFile(path) as sound:
            window = None if seconds is None else math.ceil(seconds * sound.samplerate)
            start = offset.start_frame(sound.frames, sound.samplerate, window)
            if start:
                sound.seek(start)
            return sound.read(frames=-1 if window is None else window, dtype="float32", always_2d=True), sound.samplerate
    except soundfile.LibsndfileError as error:
        # libsndfile words an unknown format in several ways (an undecodable
        # .mp3 reads "not a regular file"), so every open error gets the fallback.
        return _decode_with_audioread(path, seconds, offset, error)
    except RuntimeError as error:  # libsndfile reports some corrupt streams as plain RuntimeErrors
        raise BadAudio(path, f"unreadable: {error}") from error


def _unreadable_reason(path: str | os.PathLike, soundfile_error: Exception, fallback: str) -> str:
    """Why neither decoder opened ``path``, in words that are true for a file that exists.

    libsndfile says "File does not exist or is not a regular file" for any .mp3
    it cannot parse, which misleads: the file exists (checked before decoding),
    it is just not audio in a format we read.
    """
    detail = str(getattr(soundfile_error, "error_string", "") or soundfile_error)
    if "does not exist" in detail or "not a regular file" in detail:
        detail = "not a recognised audio stream"
    suffix = os.path.splitext(os.fspath(path))[1] or "(no extension)"
    return f"unreadable or unsupported format: {suffix} file, libsndfile: {detail}; {fallback}"


def _decode_with_audioread(
    path: str | os.PathLike, seconds: float | None, offset: ClipOffset, soundfile_error: Exception
) -> tuple[np.ndarray, int]:
    """The fallback for formats libsndfile does not know; audioread yields 16-bit PCM buffers."""
    try:
        import audioread
    except ImportError:
        reason = _unreadable_reason(path, soundfile_error, "audioread (the fallback decoder) is not installed")
        raise BadAudio(path, reason) from soundfile_error
    try:
        with audioread.audio_open(os.fspath(path)) as sound:
            rate, channels = sound.samplerate, sound.channels
            window = None if seconds is None else math.ceil(seconds * rate)
            # audioread cannot seek; the duration it reports places the window, the samples before it are skipped.
            skip = offset.start_frame(round(sound.duration * rate), rate, window) * channels
            wanted = None if window is None else skip + window * channels
            chunks, total = [], 0
            for buffer in sound:
                chunks.append(np.frombuffer(buffer, dtype="<i2"))
                total += len(chunks[-1])
                if wanted is not None and total >= wanted:
                    break
    except Exception as error:  # audioread raises backend-specific errors for every unreadable file
        if type(error).__name__ == "NoBackendError":
            fallback = "audioread: no ffmpeg/GStreamer backend decodes it"
        else:
            fallback = f"audioread: {type(error).__name__}: {error}"
        raise BadAudio(path, _unreadable_reason(path, soundfile_error, fallback)) from error
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % channels]
    samples = samples[skip:] if wanted is None else samples[skip:wanted]
    return (samples.astype(np.float32) / 32768.0).reshape(-1, channels), rate
