"""The probing targets: 15 acoustic proxies per track, computed from its audio, and its labels.

Every target is one number per track, computed from the clip the backbones hear
(:func:`musicrec.audio.load_clip`: mono, resampled to ``sample_rate``, the window of
``seconds`` from ``offset``, as extraction crops it). Frame analysis uses an
``N_FFT``-sample Hann STFT with hop ``HOP`` (2048 / 512: 93 ms / 23 ms at 22.05 kHz).

*Active frames* are those whose RMS is within ``ACTIVE_DB`` (60 dB) of the loudest frame,
so that leading or trailing silence does not drag the spectral means towards 0 Hz.
*Loudness* ``L(t)`` is the frame RMS in dB re full scale, ``20 log10(rms + 1e-10)``,
floored at ``max(L) - 80`` dB. *Onsets* are :func:`librosa.onset.onset_detect` on the
spectral-flux onset envelope ``o(t)`` (:func:`librosa.onset.onset_strength`).

The targets (:data:`TARGET_NAMES`):

==========================  ==============================================================
``spectral_centroid``       mean over active frames of the magnitude-weighted mean frequency (Hz)
``spectral_rolloff``        mean over active frames of the frequency below which 85 % of the
                            magnitude lies (Hz)
``spectral_bandwidth``      mean over active frames of the magnitude-weighted standard deviation
                            of frequency around the centroid (Hz)
``zero_crossing_rate``      mean over active frames of the fraction of adjacent samples that
                            change sign (a pure tone of f Hz gives 2 f / sample_rate)
``tempo``                   :func:`librosa.feature.tempo` of ``o(t)``: the autocorrelation
                            tempo under librosa's log-normal prior around 120 BPM (BPM)
``onset_density``           number of onsets per second of clip (1/s)
``dynamic_range``           95th minus 5th percentile of ``L(t)`` (dB)
``dynamic_variance``        variance of ``L(t)`` over frames (dB²)
``crescendo_strength``      total rise of the 1-s moving average of ``L(t)`` per second of clip:
                            the sum of its positive frame-to-frame increments / duration (dB/s)
``diminuendo_strength``     the same for its falls (magnitudes of negative increments, dB/s)
``harmonic_complexity``     Shannon entropy (bits, 0 to log2 12) of the pitch-class distribution:
                            the chroma (:func:`librosa.feature.chroma_stft`) averaged over
                            active frames and normalised to sum 1 (A440 tuning assumed)
``attack_slopes``           mean over onsets of the loudness rise from the quietest of the 3
                            frames before the onset to the loudest of the 4 frames after it,
                            divided by the time between the two (dB/s)
``attack_sharpness``        mean of ``o(t)`` at the onsets divided by its mean over all frames
                            (dimensionless; large when attacks stand out from the flux)
``phrase_regularity``       ``1 / (1 + CV)`` of the phrase lengths (CV = std / mean; 1 for one
                            phrase or equal phrases, towards 0 as they vary)
``number_of_phrases``       number of phrases: phrase boundaries are peaks, at least
                            ``MIN_PHRASE_S`` apart and higher than mean + 1 std, of a timbre
                            novelty curve (distance between the mean 20-band MFCC of the
                            ``NOVELTY_WINDOW_S`` before and after each frame)
==========================  ==============================================================

A target is *undefined* for a track when its definition has no value: ``attack_*`` with no
onset detected; any target of a clip shorter than ``MIN_SECONDS`` or silent (the loader's
:class:`~musicrec.audio.BadAudio`). :func:`compute_targets` then fails naming the track and
target, or, with ``on_bad_target="skip"``, leaves that cell NaN and counts it.

Label targets (:func:`label_targets`): ``genre`` (the first of the catalogue's genre
labels) and ``artist``, for the classification probe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicrec.audio import BadAudio, load_clip, parse_offset
from musicrec.data.catalogue import split_labels

TARGET_NAMES = (
    "spectral_centroid",
    "spectral_rolloff",
    "spectral_bandwidth",
    "zero_crossing_rate",
    "tempo",
    "onset_density",
    "dynamic_range",
    "dynamic_variance",
    "crescendo_strength",
    "diminuendo_strength",
    "harmonic_complexity",
    "attack_slopes",
    "attack_sharpness",
    "phrase_regularity",
    "number_of_phrases",
)
LABEL_NAMES = ("genre", "artist")
ON_BAD_TARGET = ("fail", "skip")
SKIP_COLUMNS = ["track_idx", "track_id", "target", "reason"]

N_FFT = 2048
HOP = 512
ACTIVE_DB = 60.0
FLOOR_DB = 80.0
SMOOTHING_S = 1.0
ROLL_PERCENT = 0.85
ATTACK_BEFORE, ATTACK_AFTER = 3, 4  # frames searched before / after an onset for the attack's foot / peak
NOVELTY_WINDOW_S = 1.0
MIN_PHRASE_S = 2.0
N_MFCC = 20
# Below this the novelty curve and the tempo autocorrelation have too few frames to mean anything.
MIN_SECONDS = 4.0


class TargetError(ValueError):
    """A target cannot be computed for a track (and the policy is ``fail``)."""


@dataclass(frozen=True)
class TrackTargets:
    """One track's targets: ``values[name]`` (NaN when undefined) and ``undefined[name]`` = why."""

    values: dict[str, float]
    undefined: dict[str, str]


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(x, size=max(int(width), 1), mode="nearest")


def acoustic_targets(y: np.ndarray, sample_rate: int) -> TrackTargets:
    """The 15 targets of one mono clip ``y`` (n_samples,) at ``sample_rate`` (see the module docstring).

    Returns every target; those whose definition has no value for this clip are NaN, with
    the reason in ``undefined``. A clip shorter than :data:`MIN_SECONDS` has every target
    undefined.
    """
    import librosa
    from scipy.signal import find_peaks

    y = np.asarray(y, dtype=np.float32)
    duration = len(y) / sample_rate
    if duration < MIN_SECONDS:
        reason = f"too short: {duration:.2f} s, the targets need at least {MIN_SECONDS:g} s"
        return TrackTargets({name: math.nan for name in TARGET_NAMES}, {name: reason for name in TARGET_NAMES})
    values: dict[str, float] = {}
    undefined: dict[str, str] = {}
    frames_per_s = sample_rate / HOP

    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
    n_frames = min(magnitude.shape[1], len(rms))
    magnitude, rms = magnitude[:, :n_frames], rms[:n_frames]
    loudness = 20.0 * np.log10(rms.astype(np.float64) + 1e-10)
    loudness = np.maximum(loudness, loudness.max() - FLOOR_DB)
    active = loudness >= loudness.max() - ACTIVE_DB

    # The spectral shape statistics, on the active frames, straight from their definitions.
    frequencies = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT)
    spectra = magnitude[:, active].astype(np.float64)
    weights = spectra / np.maximum(spectra.sum(axis=0, keepdims=True), 1e-12)
    centroid = frequencies @ weights
    values["spectral_centroid"] = float(centroid.mean())
    spread = np.sqrt(((frequencies[:, None] - centroid[None, :]) ** 2 * weights).sum(axis=0))
    values["spectral_bandwidth"] = float(spread.mean())
    below = np.argmax(np.cumsum(weights, axis=0) >= ROLL_PERCENT, axis=0)
    values["spectral_rolloff"] = float(frequencies[below].mean())
    crossings = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0][:n_frames]
    values["zero_crossing_rate"] = float(crossings[active].mean())

    mel_power = librosa.feature.melspectrogram(S=magnitude**2, sr=sample_rate)
    flux = librosa.onset.onset_strength(S=librosa.power_to_db(mel_power), sr=sample_rate)
    values["tempo"] = float(librosa.feature.tempo(onset_envelope=flux, sr=sample_rate, hop_length=HOP)[0])
    onsets = librosa.onset.onset_detect(onset_envelope=flux, sr=sample_rate, hop_length=HOP, units="frames")
    onsets = onsets[onsets < n_frames]
    values["onset_density"] = len(onsets) / duration

    values["dynamic_range"] = float(np.percentile(loudness, 95) - np.percentile(loudness, 5))
    values["dynamic_variance"] = float(np.var(loudness))
    steps = np.diff(_moving_average(loudness, round(SMOOTHING_S * frames_per_s)))
    values["crescendo_strength"] = float(np.clip(steps, 0, None).sum() / duration)
    values["diminuendo_strength"] = float(np.clip(-steps, 0, None).sum() / duration)

    # tuning=0: pitch classes on the A440 grid (estimating the tuning per track costs more than the rest).
    chroma = librosa.feature.chroma_stft(S=magnitude**2, sr=sample_rate, tuning=0.0)
    profile = chroma[:, active].mean(axis=1).astype(np.float64)
    profile = profile / profile.sum()
    nonzero = profile[profile > 0]
    values["harmonic_complexity"] = float(-(nonzero * np.log2(nonzero)).sum())

    if len(onsets) == 0:
        for name in ("attack_slopes", "attack_sharpness"):
            values[name], undefined[name] = math.nan, "no onset detected"
    else:
        slopes = []
        for onset in onsets:
            before = np.arange(max(onset - ATTACK_BEFORE, 0), onset + 1)
            after = np.arange(onset, min(onset + ATTACK_AFTER, n_frames - 1) + 1)
            foot, peak = before[np.argmin(loudness[before])], after[np.argmax(loudness[after])]
            rise_s = max(peak - foot, 1) / frames_per_s
            slopes.append((loudness[peak] - loudness[foot]) / rise_s)
        values["attack_slopes"] = float(np.mean(slopes))
        values["attack_sharpness"] = float(flux[onsets].mean() / max(flux.mean(), 1e-12))

    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel_power), n_mfcc=N_MFCC)[:, :n_frames].astype(np.float64)
    half = max(round(NOVELTY_WINDOW_S * frames_per_s), 1)
    running = np.concatenate([np.zeros((N_MFCC, 1)), np.cumsum(mfcc, axis=1)], axis=1)
    centres = np.arange(half, n_frames - half + 1)
    before_mean = (running[:, centres] - running[:, centres - half]) / half
    after_mean = (running[:, centres + half] - running[:, centres]) / half
    novelty = np.linalg.norm(after_mean - before_mean, axis=0)
    peaks, _ = find_peaks(
        novelty, height=novelty.mean() + novelty.std(), distance=max(round(MIN_PHRASE_S * frames_per_s), 1)
    )
    boundaries = np.concatenate([[0], centres[peaks], [n_frames]])
    lengths = np.diff(boundaries).astype(np.float64)
    values["number_of_phrases"] = float(len(lengths))
    values["phrase_regularity"] = float(1.0 / (1.0 + lengths.std() / lengths.mean()))

    for name in TARGET_NAMES:
        if name not in undefined and not math.isfinite(values[name]):
            values[name], undefined[name] = math.nan, f"not finite ({values[name]})"
    return TrackTargets({name: values[name] for name in TARGET_NAMES}, undefined)


def load_target_clip(path: str, sample_rate: int, seconds: float | None, offset: object = None) -> np.ndarray:
    """The crop the targets are computed on, exactly as extraction crops it.

    ``seconds`` from ``offset`` (a config value: seconds, ``"40%"`` or None, see
    :func:`musicrec.audio.parse_offset`), mono at ``sample_rate``. Raises
    :class:`~musicrec.audio.BadAudio` (unreadable, silent, ...).
    """
    return load_clip(path, sample_rate, seconds, offset=parse_offset(offset, key="layers.targets.offset"))


def compute_targets(
    catalogue: pd.DataFrame,
    sample_rate: int,
    seconds: float | None,
    offset: object = None,
    on_bad_target: str = "fail",
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The acoustic targets of every catalogue track.

    In: ``catalogue`` with ``track_id`` and ``audio_path`` (row i = track i), the crop
    (``sample_rate`` Hz, ``seconds`` from ``offset``) and the policy for undefined targets.
    Out: ``(targets, skipped)``: ``targets`` has ``track_idx, track_id`` and one float64
    column per :data:`TARGET_NAMES` entry, one row per track; ``skipped`` lists every NaN
    cell as ``track_idx, track_id, target, reason``.

    Raises :class:`TargetError` naming the track, its audio and the target when a target is
    undefined and ``on_bad_target`` is ``fail``.
    """
    from musicrec.jit_warmup import warm_librosa

    if on_bad_target not in ON_BAD_TARGET:
        raise ValueError(f"layers.on_bad_target = {on_bad_target!r}; expected one of {ON_BAD_TARGET}")
    warm_librosa()  # compile librosa's kernels before the loop, never beside another first compile
    for column in ("track_id", "audio_path"):
        if column not in catalogue.columns:
            raise ValueError(f"catalogue: missing column {column!r}; found {list(catalogue.columns)}")
    rows = np.full((len(catalogue), len(TARGET_NAMES)), np.nan)
    skipped = []
    records = catalogue[["track_id", "audio_path"]].itertuples(index=False)
    if progress:
        from tqdm.auto import tqdm

        records = tqdm(records, total=len(catalogue), desc="targets", mininterval=30.0)
    for index, (track_id, audio_path) in enumerate(records):
        try:
            clip = load_target_clip(str(audio_path), sample_rate, seconds, offset)
        except BadAudio as error:
            track = TrackTargets({n: math.nan for n in TARGET_NAMES}, {n: error.reason for n in TARGET_NAMES})
        else:
            track = acoustic_targets(clip, sample_rate)
        rows[index] = [track.values[name] for name in TARGET_NAMES]
        for name, reason in track.undefined.items():
            if on_bad_target == "fail":
                raise TargetError(
                    f"track {index} ({track_id}, {audio_path}): target {name!r} cannot be computed: {reason}; "
                    "set layers.on_bad_target: skip to leave it NaN and count it"
                )
            skipped.append((index, str(track_id), name, reason))
    targets = pd.DataFrame(rows, columns=list(TARGET_NAMES))
    targets.insert(0, "track_id", catalogue["track_id"].astype(str).to_numpy())
    targets.insert(0, "track_idx", np.arange(len(catalogue)))
    return targets, pd.DataFrame(skipped, columns=SKIP_COLUMNS)


def label_targets(catalogue: pd.DataFrame) -> pd.DataFrame:
    """``track_idx, track_id, genre, artist`` per track: ``genre`` is the first genre label (None if none)."""
    for column in ("track_id", "artist", "genres"):
        if column not in catalogue.columns:
            raise ValueError(f"catalogue: missing column {column!r}; found {list(catalogue.columns)}")

    def first(cell: object) -> str | None:
        # A cell is a comma-separated string in Music4All's files, a list once in the catalogue.
        labels = split_labels(cell) if isinstance(cell, str) else [] if cell is None else list(cell)
        return str(labels[0]) if len(labels) else None

    return pd.DataFrame(
        {
            "track_idx": np.arange(len(catalogue)),
            "track_id": catalogue["track_id"].astype(str).to_numpy(),
            "genre": pd.Series([first(cell) for cell in catalogue["genres"]], dtype=object),
            "artist": catalogue["artist"].astype(str).to_numpy(),
        }
    )

