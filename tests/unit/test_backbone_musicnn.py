"""MusicNN plug-in: real MSD_musicnn weights, checked against musicnn's own extractor.

The reference is the stock ``musicnn.extractor.extractor`` with two of its
defects neutralised, both by monkeypatching so the stock code itself runs:

- its float16 log-mel: under NumPy 2, ``log10(10000 * float16_mel + 1)``
  overflows; we hand it a mel spectrogram whose cast to float16 returns what
  NumPy 1 computed next (float16-rounded values promoted to float32);
- its feature loop, which copies the first patch's ``penultimate`` into every
  later patch; we raise its batch size so all patches run in its first
  (correct) ``session.run``.
"""

import librosa
import numpy as np
import pytest
import soundfile

from musicrec.audio import load_clip
from musicrec.backbones import load_backbone
from musicrec.extraction import extract

SAMPLE_RATE = 22050

# The stock extractor builds its graph with tf.compat.v1.layers, each of which warns that it is deprecated.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`tf\.(layers|keras)\..*` is deprecated:UserWarning"),
    # TensorFlow is imported only when these tests run, and they run last (tests/conftest.py).
    pytest.mark.tensorflow,
]


@pytest.fixture(scope="module")
def musicnn_plugin():
    import musicrec.backbones.musicnn as plugin

    return plugin


def music_like(seconds: float, seed: int, root_hz: float = 220.0) -> np.ndarray:
    """A few seconds of chords with harmonics, note envelopes and noise hits, peaking at 0.9."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    signal = np.zeros_like(t)
    beat = 0.5
    for start in np.arange(0, seconds, beat):
        chord = root_hz * 2 ** (rng.choice([0, 3, 4, 7, 10, 12], size=3, replace=False) / 12)
        active = (t >= start) & (t < start + beat)
        envelope = np.exp(-(t[active] - start) * 4)
        for frequency in chord:
            for harmonic in range(1, 6):
                signal[active] += envelope * np.sin(2 * np.pi * frequency * harmonic * t[active]) / harmonic**1.5
        hit = (t >= start) & (t < start + 0.05)
        signal[hit] += rng.normal(0, 0.5, hit.sum()) * np.exp(-(t[hit] - start) * 60)
    return (0.9 * signal / np.abs(signal).max()).astype(np.float32)


@pytest.fixture(scope="module")
def backbone():
    with load_backbone("musicnn", {"device": "cpu"}) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("musicnn") / "chords.wav"
    soundfile.write(path, music_like(10.0, seed=1), SAMPLE_RATE)  # 3 patches of 3 s, remainder dropped
    return str(path)


class _CastsFloat16LikeNumPy1(np.ndarray):
    """A mel spectrogram whose ``astype(float16)`` gives float16-rounded values in float32, as NumPy 1 promoted."""

    def astype(self, dtype, *args, **kwargs):
        plain = np.asarray(self)
        if np.dtype(dtype) == np.float16:
            return plain.astype(np.float16).astype(np.float32)
        return plain.astype(dtype, *args, **kwargs)


def stock_features(monkeypatch, path: str, numpy1_log_mel: bool, one_run: bool) -> tuple[np.ndarray, dict]:
    """Taggram and features of the stock musicnn extractor on ``path`` (MSD_musicnn)."""
    from musicnn import configuration, extractor

    with monkeypatch.context() as patch:
        if numpy1_log_mel:
            melspectrogram = librosa.feature.melspectrogram
            patch.setattr(
                librosa.feature, "melspectrogram", lambda **kw: melspectrogram(**kw).view(_CastsFloat16LikeNumPy1)
            )
        if one_run:
            patch.setattr(configuration, "BATCH_SIZE", 10_000)
        with np.errstate(over="ignore"):
            taggram, _, features = extractor.extractor(path, model="MSD_musicnn", extract_features=True)
    return taggram, features


@pytest.fixture(scope="module")
def stock_reference(clip_path):
    """The stock extractor's per-patch outputs with both defects neutralised: ``{layer: (3, d)}``."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        taggram, features = stock_features(monkeypatch, clip_path, numpy1_log_mel=True, one_run=True)
    reference = {"taggram": taggram, **{layer: features[layer] for layer in ("penultimate", "mean_pool", "max_pool")}}
    # frame layers come as (patches, 187 frames, d): their per-patch vector is the mean over the frames
    reference.update({layer: features[layer].mean(axis=1) for layer in ("timbral", "temporal", "cnn1", "cnn2", "cnn3")})
    return reference


def test_embedding_equals_the_stock_pipeline_with_its_defects_neutralised(backbone, clip_path, stock_reference):
    ours = backbone.embed(load_clip(clip_path, 16000)[None], np.array([0]))
    assert stock_reference["penultimate"].shape == (3, 200)
    reference = stock_reference["penultimate"].mean(axis=0)
    assert ours.shape == (1, 200) and ours.dtype == np.float32
    np.testing.assert_allclose(ours[0], reference, rtol=1e-5, atol=1e-5)
    assert np.abs(reference).max() > 0.5  # a real activation pattern, not a degenerate all-zero vector


@pytest.mark.parametrize(
    "layer, pooling, dim",
    [
        ("taggram", "mean", 50),
        ("mean_pool", "mean", 753),
        ("max_pool", "max", 753),
        ("penultimate", "max", 200),
        ("timbral", "mean", 408),
        ("cnn2", "max", 64),
    ],
)
def test_other_layers_and_poolings_equal_the_stock_features(clip_path, stock_reference, layer, pooling, dim):
    options = {"plugin": "musicnn", "layer": layer, "pooling": pooling, "device": "cpu"}
    with load_backbone(f"musicnn_{layer}", options) as variant:
        ours = variant.embed(load_clip(clip_path, 16000)[None], np.array([0]))[0]
        assert variant.describe()["dim"] == dim
    per_patch = stock_reference[layer]
    reference = per_patch.mean(axis=0) if pooling == "mean" else per_patch.max(axis=0)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_stock_path_under_numpy2_overflows_and_gives_other_features(backbone, clip_path, monkeypatch, musicnn_plugin):
    from musicnn import extractor

    with np.errstate(over="ignore"):
        _, spectrogram = extractor.batch_data(clip_path, musicnn_plugin.PATCH_FRAMES, musicnn_plugin.PATCH_FRAMES)
    assert spectrogram.dtype == np.float16
    assert np.isinf(spectrogram).any()
    assert np.isfinite(musicnn_plugin.log_mel_spectrogram(load_clip(clip_path, 16000)[None])).all()

    ours = backbone.embed(load_clip(clip_path, 16000)[None], np.array([0]))[0]
    _, broken = stock_features(monkeypatch, clip_path, numpy1_log_mel=False, one_run=True)
    broken_embedding = broken["penultimate"].mean(axis=0)
    # finite here, but silently wrong
    assert not np.isfinite(broken_embedding).all() or np.abs(broken_embedding - ours).max() > 0.5


def test_stock_feature_loop_repeats_the_first_patch(backbone, clip_path, monkeypatch):
    _, features = stock_features(monkeypatch, clip_path, numpy1_log_mel=True, one_run=False)
    penultimate = features["penultimate"]
    assert len(penultimate) == 3 and (penultimate == penultimate[0]).all()
    ours = backbone.embed(load_clip(clip_path, 16000)[None], np.array([0]))[0]
    assert np.abs(ours - penultimate[0]).max() > 0.05  # we pool all three patches


def test_log_mel_is_float32_of_the_float16_rounded_mel(musicnn_plugin):
    audio = music_like(4.0, seed=2)[None]
    mel = librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=512, hop_length=256, n_mels=96)
    expected = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1).swapaxes(1, 2)
    log_mel = musicnn_plugin.log_mel_spectrogram(audio)
    assert log_mel.dtype == np.float32 and log_mel.shape == (1, 1 + audio.shape[1] // 256, 96)
    np.testing.assert_array_equal(log_mel, expected)


def test_patches_are_3_seconds_non_overlapping(musicnn_plugin):
    assert musicnn_plugin.PATCH_FRAMES == 187
    assert musicnn_plugin.patch_count(3 * 16000) == 1
    assert musicnn_plugin.patch_count(30 * 16000) == 10
    assert musicnn_plugin.patch_count(int(2.9 * 16000)) == 0


def test_batch_mates_and_clip_lengths_do_not_change_an_embedding(backbone, tmp_path):
    lengths = [4.0, 7.5, 7.5, 3.0, 12.0]
    paths = []
    for i, seconds in enumerate(lengths):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], music_like(seconds, seed=10 + i, root_hz=150 + 40 * i), SAMPLE_RATE)
    batched, failures = extract(backbone, paths, batch_size=4, workers=2, progress=False)
    alone = np.concatenate([backbone.embed(load_clip(path, 16000, 30.0)[None], np.array([0])) for path in paths])
    assert failures.empty
    np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-5)
    assert np.abs(batched[1] - batched[0]).max() > 0.05  # different music, different embeddings


def test_clips_under_3_seconds_are_bad_audio(backbone, tmp_path):
    short, long = str(tmp_path / "short.wav"), str(tmp_path / "long.wav")
    soundfile.write(short, music_like(2.5, seed=3), SAMPLE_RATE)
    soundfile.write(long, music_like(3.5, seed=4), SAMPLE_RATE)
    embeddings, failures = extract(backbone, [short, long], workers=0, progress=False)
    assert backbone.min_seconds == 3.0
    assert failures["row"].tolist() == [0] and "too short" in failures.loc[0, "reason"]
    assert np.isnan(embeddings[0]).all() and np.isfinite(embeddings[1]).all()


def test_a_swallowed_restore_is_caught(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.compat.v1.train.Saver, "restore", lambda self, session, path: None)
    with pytest.raises(RuntimeError, match="weights were not loaded"):
        load_backbone("musicnn", {"device": "cpu"})


def test_describe_records_the_weights_and_layer(backbone):
    description = backbone.describe()
    assert description["weights"] == "MSD_musicnn"
    assert description["layer"] == "penultimate" and description["dim"] == 200
    assert description["sample_rate"] == 16000 and description["seconds"] == 30.0
    assert len(description["weights_sha256"]) == 64


@pytest.mark.parametrize(
    "options, message",
    [
        ({"layer": "logits"}, "'layer'"),
        ({"weights": "MSD_vgg"}, "'weights'"),
        ({"sample_rate": 24000}, "16-kHz"),
        ({"pooling": "median"}, "'pooling'"),
        ({"seconds": 2.0}, "at least 3 s"),
        ({"layers": "penultimate"}, "unknown option"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message) as error:
        load_backbone("musicnn", options)
    assert "'musicnn'" in str(error.value)


# Multi-layer extraction (`layer: all`): every layer at once, zero-padded to the widest.

MUSICNN_LAYER_DIMS = {
    "timbral": 408,
    "temporal": 153,
    "cnn1": 64,
    "cnn2": 64,
    "cnn3": 64,
    "mean_pool": 753,
    "max_pool": 753,
    "penultimate": 200,
    "taggram": 50,
}


@pytest.fixture(scope="module")
def all_layers():
    with load_backbone("musicnn_layers", {"plugin": "musicnn", "layer": "all", "device": "cpu"}) as loaded:
        yield loaded


def test_all_layers_describe_names_and_widths(all_layers):
    description = all_layers.describe()
    assert all_layers.output_shape == (9, 753)
    assert description["layer_names"] == list(MUSICNN_LAYER_DIMS) == description["layer"]
    assert description["layer_dims"] == list(MUSICNN_LAYER_DIMS.values())
    assert "frame layers" in description["pooling"]


def test_every_layer_equals_the_stock_graph_and_its_padding_is_zero(all_layers, clip_path, stock_reference):
    stacked = all_layers.embed(load_clip(clip_path, 16000)[None], np.array([0]))[0]
    assert stacked.shape == (9, 753) and stacked.dtype == np.float32
    for index, (layer, dim) in enumerate(MUSICNN_LAYER_DIMS.items()):
        np.testing.assert_allclose(stacked[index, :dim], stock_reference[layer].mean(axis=0), rtol=1e-5, atol=1e-5)
        assert (stacked[index, dim:] == 0).all(), f"padding of {layer} is not zero"
    # the frame layers partition mean_pool, as musicnn concatenates them before its time pooling
    frame_dims = list(MUSICNN_LAYER_DIMS.values())[:5]
    np.testing.assert_array_equal(np.concatenate([stacked[i, :dim] for i, dim in enumerate(frame_dims)]), stacked[5])


def test_a_layer_list_keeps_its_order_and_pooling(clip_path, stock_reference):
    options = {"plugin": "musicnn", "layer": ["taggram", "cnn3"], "pooling": "max", "device": "cpu"}
    with load_backbone("musicnn_two", options) as two:
        stacked = two.embed(load_clip(clip_path, 16000)[None], np.array([0]))[0]
        assert two.describe()["layer_dims"] == [50, 64] and stacked.shape == (2, 64)
    np.testing.assert_allclose(stacked[0, :50], stock_reference["taggram"].max(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stacked[1], stock_reference["cnn3"].max(axis=0), rtol=1e-5, atol=1e-5)
    assert (stacked[0, 50:] == 0).all()


def test_penultimate_of_the_layers_artefact_is_the_musicnn_embedding(all_layers, backbone, tmp_path):
    """Through the extraction loop and the merge's sidecar: layers artefact's penultimate == `musicnn`."""
    from musicrec.embeddings import layer_index, select_layer
    from musicrec.extraction import describe_merged

    paths = []
    for i, seconds in enumerate([6.0, 9.5, 6.0]):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], music_like(seconds, seed=20 + i, root_hz=180 + 30 * i), SAMPLE_RATE)
    layers, failures = extract(all_layers, paths, batch_size=2, workers=0, progress=False)
    embedding, _ = extract(backbone, paths, batch_size=2, workers=0, progress=False)
    assert failures.empty and layers.shape == (3, 9, 753)
    sidecar = describe_merged(all_layers.describe(), layers)
    assert sidecar["layer_names"] == list(MUSICNN_LAYER_DIMS) and sidecar["n_layers"] == 9
    penultimate = select_layer(layers, sidecar["layer_dims"], layer_index("penultimate", sidecar["layer_names"]))
    assert penultimate.shape == (3, 200)
    np.testing.assert_allclose(penultimate, embedding, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [["penultimate", "penultimate"], [], ["cnn4"], "everything", 3])
def test_bad_layer_choices_are_named(layer):
    with pytest.raises(ValueError, match="'layer'.*a list of distinct ones, or 'all'"):
        load_backbone("musicnn", {"layer": layer})
