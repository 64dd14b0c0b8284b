"""The probing targets on synthetic signals whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest
import soundfile

from musicrec.layers.targets import (
    MIN_SECONDS,
    TARGET_NAMES,
    TargetError,
    acoustic_targets,
    compute_targets,
    label_targets,
)

SR = 22050


def tone(frequency, seconds=6.0, amplitude=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def click_track(bpm, seconds=8.0):
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    burst = (np.hanning(256) * np.sin(2 * np.pi * 3000 * np.arange(256) / SR)).astype(np.float32)
    for beat in np.arange(0, seconds, 60.0 / bpm):
        start = int(beat * SR)
        y[start : start + 256] = burst[: len(y) - start]
    return y


def test_pure_tone_spectral_shape():
    values = acoustic_targets(tone(1000.0), SR).values
    assert values["spectral_centroid"] == pytest.approx(1000.0, rel=0.01)
    assert values["spectral_rolloff"] == pytest.approx(1000.0, rel=0.03)
    assert values["spectral_bandwidth"] < 50.0  # a line spectrum, smeared only by the window
    assert values["zero_crossing_rate"] == pytest.approx(2 * 1000.0 / SR, rel=0.02)
    assert values["dynamic_range"] < 0.5  # steady loudness
    assert values["number_of_phrases"] == 1.0 and values["phrase_regularity"] == 1.0
    # One pitch class holds almost everything (entropy far below the 3.58 bits of an even spread).
    assert values["harmonic_complexity"] < 1.5


def test_centroid_follows_frequency():
    low, high = (acoustic_targets(tone(f), SR).values["spectral_centroid"] for f in (440.0, 3520.0))
    assert low == pytest.approx(440.0, rel=0.02) and high == pytest.approx(3520.0, rel=0.01)


def test_click_track_tempo_and_onsets():
    values = acoustic_targets(click_track(120.0), SR).values
    assert values["tempo"] == pytest.approx(120.0, rel=0.05)
    assert values["onset_density"] == pytest.approx(2.0, rel=0.1)  # two clicks per second
    assert values["attack_sharpness"] > 3.0  # clicks stand out of an otherwise flat flux


def test_loud_and_quiet_halves():
    y = tone(500.0, seconds=10.0)
    y[len(y) // 2 :] *= 0.1  # -20 dB
    values = acoustic_targets(y, SR).values
    assert values["dynamic_range"] == pytest.approx(20.0, abs=0.5)
    assert values["dynamic_variance"] == pytest.approx(100.0, rel=0.1)  # two equal halves 20 dB apart
    # One 20-dB fall over 10 s: 2 dB/s of diminuendo, no crescendo.
    assert values["diminuendo_strength"] == pytest.approx(2.0, rel=0.1)
    assert values["crescendo_strength"] < 0.2


def test_linear_crescendo():
    y = tone(500.0, seconds=10.0)
    y *= (10.0 ** (np.linspace(-30, 0, len(y)) / 20.0)).astype(np.float32)  # +30 dB over 10 s
    values = acoustic_targets(y, SR).values
    assert values["crescendo_strength"] == pytest.approx(3.0, rel=0.15)
    assert values["diminuendo_strength"] < 0.1


def test_too_short_clip_is_undefined_everywhere():
    result = acoustic_targets(tone(440.0, seconds=MIN_SECONDS / 2), SR)
    assert all(math.isnan(result.values[name]) for name in TARGET_NAMES)
    assert "too short" in result.undefined["tempo"]


@pytest.fixture
def audio_catalogue(tmp_path):
    paths = []
    for name, signal in (("a", click_track(100.0, 6.0)), ("b", np.zeros(SR * 6, np.float32)), ("c", tone(700.0))):
        path = tmp_path / f"{name}.wav"
        soundfile.write(path, signal, SR)
        paths.append(str(path))
    return pd.DataFrame({"track_id": ["a", "b", "c"], "audio_path": paths})


def test_silent_track_fails_naming_it(audio_catalogue):
    with pytest.raises(TargetError, match=r"track 1 \(b, .*b\.wav\).*silent"):
        compute_targets(audio_catalogue, SR, seconds=6.0, on_bad_target="fail")


def test_skip_leaves_nan_cells_and_counts_them(audio_catalogue):
    targets, skipped = compute_targets(audio_catalogue, SR, seconds=6.0, on_bad_target="skip")
    assert list(targets.columns[:2]) == ["track_idx", "track_id"] and len(targets) == 3
    assert targets.loc[1, list(TARGET_NAMES)].isna().all()
    assert targets.loc[0, list(TARGET_NAMES)].notna().all()
    assert set(skipped["track_id"]) >= {"b"} and (skipped["track_id"] == "b").sum() == len(TARGET_NAMES)


def test_offset_moves_the_window(tmp_path):
    y = np.concatenate([tone(400.0, 6.0), tone(3000.0, 6.0)])
    path = tmp_path / "two.wav"
    soundfile.write(path, y, SR)
    catalogue = pd.DataFrame({"track_id": ["t"], "audio_path": [str(path)]})
    start, _ = compute_targets(catalogue, SR, seconds=5.0, offset=0.0, on_bad_target="skip")
    later, _ = compute_targets(catalogue, SR, seconds=5.0, offset=6.5, on_bad_target="skip")
    assert start.loc[0, "spectral_centroid"] == pytest.approx(400.0, rel=0.02)
    assert later.loc[0, "spectral_centroid"] == pytest.approx(3000.0, rel=0.02)


def test_labels_take_the_first_genre():
    catalogue = pd.DataFrame(
        {"track_id": ["x", "y"], "artist": ["A", "B"], "genres": [["rock", "indie"], []]}
    )
    labels = label_targets(catalogue)
    assert labels["genre"].iloc[0] == "rock" and labels["genre"].isna().tolist() == [False, True]
    assert labels["artist"].tolist() == ["A", "B"]
