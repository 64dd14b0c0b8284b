"""Audio loading: decode, mono, resample, crop, and every kind of bad audio."""

import librosa
import numpy as np
import pytest
import soundfile

from musicrec import audio as audio_module
from musicrec.audio import SILENCE_PEAK, BadAudio, ClipOffset, load_clip, parse_offset


def tone(seconds: float, rate: int, frequency: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture
def stereo_wav(tmp_path):
    """2 s at 44.1 kHz with different left and right channels."""
    path = tmp_path / "stereo.wav"
    left, right = tone(2.0, 44100, 440.0), tone(2.0, 44100, 660.0, 0.3)
    soundfile.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    return str(path)


def test_stereo_44k_becomes_the_mono_16k_clip_librosa_loads(stereo_wav):
    clip = load_clip(stereo_wav, 16000)
    expected, _ = librosa.load(stereo_wav, sr=16000)
    assert clip.dtype == np.float32 and clip.shape == (32000,)
    np.testing.assert_allclose(clip, expected, atol=1e-6)


def test_same_rate_keeps_the_samples(tmp_path):
    path = tmp_path / "mono.wav"
    samples = tone(1.5, 22050)
    soundfile.write(path, samples, 22050, subtype="FLOAT")
    np.testing.assert_array_equal(load_clip(path, 22050), samples)


def test_crop_keeps_the_first_seconds(stereo_wav):
    full = load_clip(stereo_wav, 16000)
    cropped = load_clip(stereo_wav, 16000, seconds=1.0)
    assert cropped.shape == (16000,)
    # Resampling after the crop changes only the last few milliseconds (the filter's edge).
    np.testing.assert_allclose(cropped[:15800], full[:15800], atol=1e-4)


def test_mp3_is_decoded(tmp_path):
    path = tmp_path / "tone.mp3"
    soundfile.write(path, tone(3.0, 22050), 22050)
    clip = load_clip(path, 16000, seconds=2.0)
    assert clip.shape == (32000,)
    assert 0.4 < np.abs(clip).max() < 0.6  # lossy, but the tone's amplitude survives


def test_files_shorter_than_min_seconds_are_bad_audio(stereo_wav):
    assert load_clip(stereo_wav, 16000, seconds=30.0, min_seconds=2.0).shape == (32000,)
    with pytest.raises(BadAudio, match="too short: 2.00 s"):
        load_clip(stereo_wav, 16000, seconds=30.0, min_seconds=3.0)
    with pytest.raises(ValueError, match="at least min_seconds"):
        load_clip(stereo_wav, 16000, seconds=1.0, min_seconds=3.0)


def write_wav(path, samples, rate=16000):
    soundfile.write(path, np.asarray(samples, dtype=np.float32), rate, subtype="FLOAT")
    return str(path)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: str(d / "absent.wav"), "missing file"),
        (lambda d: str(d), "not a regular file"),
        (lambda d: (d / "text.mp3").write_text("not audio at all " * 50) and str(d / "text.mp3"), "unreadable"),
        (lambda d: write_wav(d / "empty.wav", []), "empty"),
        (lambda d: write_wav(d / "zeros.wav", np.zeros(16000)), "silent"),
        (lambda d: write_wav(d / "hiss.wav", tone(1.0, 16000, amplitude=SILENCE_PEAK / 2)), "silent"),
        (lambda d: write_wav(d / "nan.wav", np.r_[tone(1.0, 16000), np.nan]), "non-finite"),
    ],
    ids=["missing", "directory", "unreadable", "empty", "zeros", "below-threshold", "nan"],
)
def test_bad_audio_says_why(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(BadAudio, match=reason) as error:
        load_clip(path, 16000, seconds=30.0)
    assert error.value.path == path and reason in error.value.reason


def test_quiet_but_audible_audio_is_not_silent(tmp_path):
    path = write_wav(tmp_path / "quiet.wav", tone(1.0, 16000, amplitude=4 * SILENCE_PEAK))
    assert np.abs(load_clip(path, 16000)).max() > SILENCE_PEAK


def test_audioread_fallback_when_libsndfile_cannot_open(tmp_path, monkeypatch):
    path = tmp_path / "pcm16.wav"
    samples = tone(0.5, 16000)
    soundfile.write(path, samples, 16000, subtype="PCM_16")

    def refuse(*args, **kwargs):
        raise soundfile.LibsndfileError(1, "Error opening: ")

    monkeypatch.setattr(audio_module.soundfile, "SoundFile", refuse)
    clip = load_clip(path, 16000)
    np.testing.assert_allclose(clip, samples, atol=1 / 32768)


# ---- reasons that say what is wrong (a 0-byte or random-bytes file is not "missing") ----


@pytest.mark.parametrize("suffix", ["mp3", "wav", "ogg", "flac"])
def test_a_zero_byte_file_is_an_empty_file_not_a_missing_one(tmp_path, suffix):
    path = tmp_path / f"zero.{suffix}"
    path.write_bytes(b"")
    with pytest.raises(BadAudio) as error:
        load_clip(path, 16000, seconds=5.0)
    assert error.value.reason == "empty file (0 bytes)"


@pytest.mark.parametrize("suffix", ["mp3", "wav", "ogg"])
def test_random_bytes_are_unreadable_not_missing(tmp_path, suffix):
    path = tmp_path / f"noise.{suffix}"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(BadAudio) as error:
        load_clip(path, 16000, seconds=5.0)
    reason = error.value.reason
    assert reason.startswith(f"unreadable or unsupported format: .{suffix} file")
    assert "does not exist" not in reason and "not a regular file" not in reason


# ---- one catalogue, several formats: every format libsndfile writes here is read back ----


@pytest.mark.parametrize(
    "suffix, container, subtype",
    [
        ("wav", "WAV", "PCM_16"),
        ("flac", "FLAC", "PCM_16"),
        ("ogg", "OGG", "VORBIS"),
        ("opus", "OGG", "OPUS"),
        ("mp3", "MP3", "MPEG_LAYER_III"),
    ],
)
def test_each_format_decodes_to_the_same_tone(tmp_path, suffix, container, subtype):
    samples = tone(2.0, 48000, 440.0, 0.5)
    path = tmp_path / f"tone.{suffix}"
    soundfile.write(path, samples, 48000, format=container, subtype=subtype)
    clip = load_clip(path, 16000, seconds=1.0, offset=parse_offset(0.5))
    assert clip.shape == (16000,)
    # Lossy codecs shift phase and add noise; the tone's level and frequency (bin 440 of a 1-s clip) survive.
    assert abs(np.abs(clip).max() - 0.5) < 0.1
    assert np.argmax(np.abs(np.fft.rfft(clip))) == 440
    if subtype == "PCM_16":
        expected = load_clip(write_wav(tmp_path / "ref.wav", samples, rate=48000), 16000, seconds=1.0, offset=parse_offset(0.5))
        np.testing.assert_allclose(clip, expected, atol=1e-4)


# ---- the crop window: seconds or a share of the track, moved back to fit ----


def steps(seconds: float, rate: int) -> np.ndarray:
    """A signal whose value tells the time: sample i is 0.1 + 0.8 * i / n (a ramp, never silent)."""
    n = int(seconds * rate)
    return (0.1 + 0.8 * np.arange(n) / n).astype(np.float32)


def test_offset_in_seconds_and_as_a_share_of_the_track(tmp_path):
    ramp = steps(10.0, 8000)
    path = write_wav(tmp_path / "ramp.wav", ramp, rate=8000)
    np.testing.assert_array_equal(load_clip(path, 8000, seconds=2.0, offset=parse_offset(3)), ramp[24000:40000])
    np.testing.assert_array_equal(load_clip(path, 8000, seconds=2.0, offset=parse_offset("40%")), ramp[32000:48000])
    # A window that would run past the end ends with the track; a short track gives all it has.
    np.testing.assert_array_equal(load_clip(path, 8000, seconds=2.0, offset=parse_offset("95%")), ramp[-16000:])
    np.testing.assert_array_equal(load_clip(path, 8000, seconds=30.0, offset=parse_offset("40%")), ramp)
    np.testing.assert_array_equal(load_clip(path, 8000, seconds=2.0), ramp[:16000])


def test_offset_through_the_audioread_fallback(tmp_path, monkeypatch):
    ramp = steps(4.0, 8000)
    path = tmp_path / "ramp16.wav"
    soundfile.write(path, ramp, 8000, subtype="PCM_16")
    expected = load_clip(path, 8000, seconds=1.0, offset=parse_offset("50%"))

    def refuse(*args, **kwargs):
        raise soundfile.LibsndfileError(1, "Error opening: ")

    monkeypatch.setattr(audio_module.soundfile, "SoundFile", refuse)
    np.testing.assert_allclose(load_clip(path, 8000, seconds=1.0, offset=parse_offset("50%")), expected, atol=1 / 32768)


@pytest.mark.parametrize("value", [-1, "40", "100%", "-5%", "abc", True, float("nan"), [1]])
def test_bad_offsets_are_refused_naming_the_key(value):
    with pytest.raises(ValueError, match="offset = .*expected a number of seconds >= 0"):
        parse_offset(value)


def test_offset_values_parse():
    assert parse_offset(None) == ClipOffset() and parse_offset(12.5) == ClipOffset(seconds=12.5)
    assert parse_offset("40%") == ClipOffset(fraction=0.4) and parse_offset(" 2.5 % ").fraction == 0.025
    assert parse_offset("40%").describe() == "40%" and parse_offset(3).describe() == 3.0
