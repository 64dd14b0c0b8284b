"""The MFCC and random baselines."""

import librosa
import numpy as np
import pytest

from musicrec.backbones import load_backbone
from musicrec.extraction import extract, shard_slice

RATE = 22050


def chirp_with_gap(seconds: float, amplitude: float, seed: int) -> np.ndarray:
    """A rising chirp plus noise, silent in its middle fifth (so its dB floor matters)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    signal = amplitude * np.sin(2 * np.pi * (200 + 300 * t) * t) + 0.05 * amplitude * rng.standard_normal(len(t))
    signal[int(0.4 * len(t)) : int(0.6 * len(t))] = 0.0
    return signal.astype(np.float32)


@pytest.fixture(scope="module")
def mfcc():
    return load_backbone("mfcc", {})


def test_mfcc_is_mean_and_std_of_librosas_52_coefficients(mfcc):
    clips = np.stack([chirp_with_gap(2.0, 0.8, seed=0), chirp_with_gap(2.0, 0.3, seed=1)])
    features = mfcc.embed(clips, np.arange(2))
    assert features.shape == (2, 104) and features.dtype == np.float32
    for clip, row in zip(clips, features):
        coefficients = librosa.feature.mfcc(y=clip, sr=RATE, n_mfcc=52)
        np.testing.assert_allclose(row[:52], coefficients.mean(axis=1), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(row[52:], coefficients.std(axis=1), rtol=1e-4, atol=1e-3)


def test_a_loud_batch_mate_does_not_change_a_quiet_clip(mfcc):
    quiet, loud = chirp_with_gap(2.0, 0.001, seed=2), chirp_with_gap(2.0, 0.9, seed=3)
    together = mfcc.embed(np.stack([quiet, loud]), np.arange(2))
    alone = mfcc.embed(quiet[None], np.arange(1))
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-5, atol=1e-4)
    # librosa on the whole batch takes the 80-dB floor from the loud clip, which is why we do not.
    naive = librosa.feature.mfcc(y=np.stack([quiet, loud]), sr=RATE, n_mfcc=52)[0]
    assert np.abs(naive.mean(axis=1) - alone[0, :52]).max() > 1.0


def test_mfcc_options_set_the_size_and_are_recorded():
    small = load_backbone("mfcc20", {"plugin": "mfcc", "n_mfcc": 20, "hop_length": 256})
    assert small.output_shape == (40,)
    description = small.describe()
    assert description["backbone"] == "mfcc20" and description["plugin"] == "mfcc"
    assert description["n_mfcc"] == 20 and description["hop_length"] == 256 and description["sample_rate"] == RATE


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_mfcc": 200}, "'n_mfcc'"),
        ({"n_fft": 0}, "'n_fft'"),
        ({"dim": 3}, "unknown option"),
        ({"device": "cuda"}, "'device'"),
    ],
)
def test_bad_mfcc_options_are_named(options, message):
    with pytest.raises(ValueError, match=message) as error:
        load_backbone("mfcc", options)
    assert "'mfcc'" in str(error.value)


def test_random_vectors_depend_only_on_seed_and_row():
    backbone = load_backbone("random", {"seed": 7, "dim": 16})
    rows = np.array([5, 0, 3, 99])
    vectors = backbone.embed(None, rows)
    assert vectors.shape == (4, 16) and vectors.dtype == np.float32
    np.testing.assert_array_equal(backbone.embed(None, np.array([3])), vectors[[2]])
    assert not np.allclose(vectors[0], vectors[1])
    other_seed = load_backbone("random", {"seed": 8, "dim": 16}).embed(None, rows)
    assert not np.allclose(vectors, other_seed)


def test_random_matrix_is_the_same_however_it_is_sharded():
    backbone = load_backbone("random", {"seed": 11})
    n_tracks = 23
    paths = [f"track{i}.mp3" for i in range(n_tracks)]  # never opened: random needs no audio
    whole, failures = extract(backbone, paths, batch_size=5, progress=False)
    assert failures.empty and whole.shape == (n_tracks, 200)
    parts = []
    for shard in range(3):
        rows = shard_slice(n_tracks, 3, shard)
        part, _ = extract(backbone, paths[rows], rows=np.arange(rows.start, rows.stop), batch_size=4, progress=False)
        parts.append(part)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert abs(whole.mean()) < 0.1 and 0.9 < whole.std() < 1.1


def test_random_needs_a_seed_and_no_audio():
    with pytest.raises(ValueError, match="'seed'"):
        load_backbone("random", {"dim": 8})
    backbone = load_backbone("random", {"seed": 0, "dim": 8})
    assert backbone.needs_audio is False
    assert backbone.describe()["seed"] == 0 and backbone.describe()["dim"] == 8
