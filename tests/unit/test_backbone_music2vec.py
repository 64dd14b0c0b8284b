"""Music2Vec on tiny randomly initialised Data2VecAudio models.

The extraction path it shares with MERT (normalisation, layer selection,
windowing, hidden-state check) is tested in test_backbone_mert.py; here what is
Music2Vec's own: its architecture, 16 kHz with the paper's 24 kHz switch, and
loading its published config with a non-integer ``vocab_size``.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the Music2Vec plug-in needs torch")
pytest.importorskip("transformers", reason="the Music2Vec plug-in needs transformers")

from musicrec.backbones.music2vec import DEFAULT_VOCAB_SIZE, Music2VecBackbone, repaired_config_dict  # noqa: E402
from musicrec.backbones.wav2vec2_family import TINY_DATA2VEC_CONFIG, zero_mean_unit_variance  # noqa: E402

TINY = TINY_DATA2VEC_CONFIG


def tiny_music2vec(**options):
    return Music2VecBackbone("music2vec", {"random_init": True, "model_config": TINY, "seed": 4, "device": "cpu", **options})


def noise(n_clips, seconds, rate, seed=0):
    return (0.2 * np.random.default_rng(seed).normal(size=(n_clips, int(seconds * rate)))).astype(np.float32)


def test_music2vec_is_data2vec_audio_at_16khz_with_768_dims():
    backbone = Music2VecBackbone("music2vec", {"random_init": True, "model_config": {"num_hidden_layers": 1}, "device": "cpu"})
    assert type(backbone.model).__name__ == "Data2VecAudioModel"
    assert backbone.sample_rate == 16000
    assert backbone.output_shape == (768,)
    assert backbone.params["weights"] == "m-a-p/music2vec-v1"


def test_embedding_is_the_time_mean_of_the_last_hidden_state():
    backbone = tiny_music2vec()
    audio = noise(2, 1.5, 16000)
    embedded = backbone.embed(audio, np.arange(2))
    with torch.inference_mode():
        expected = backbone.model(torch.from_numpy(zero_mean_unit_variance(audio))).last_hidden_state.mean(1)
    assert embedded.shape == (2, 32) and embedded.dtype == np.float32
    np.testing.assert_allclose(embedded, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_paper_switch_feeds_24khz_clips():
    backbone = tiny_music2vec(sample_rate=24000)
    assert backbone.sample_rate == 24000 and backbone.describe()["native_sample_rate"] == 16000
    # 1.5 s at 24 kHz is 36000 samples, which the 50-Hz (at 16 kHz) encoder turns into 112 frames.
    embedded = backbone.embed(noise(2, 1.5, 24000), np.arange(2))
    assert embedded.shape == (2, 32) and np.isfinite(embedded).all()


def test_all_layers_for_layer_analysis():
    backbone = tiny_music2vec(layer="all")
    assert backbone.output_shape == (3, 32)
    assert backbone.embed(noise(2, 1.0, 16000), np.arange(2)).shape == (2, 3, 32)


def test_vocab_size_that_is_a_path_is_repaired():
    repaired = repaired_config_dict({"vocab_size": "/home/someone/dict.ltr.txt", "hidden_size": 768})
    assert repaired == {"vocab_size": DEFAULT_VOCAB_SIZE, "hidden_size": 768}
    assert repaired_config_dict({"vocab_size": 40})["vocab_size"] == 40


def test_local_weights_with_the_published_config_quirk_load(tmp_path):
    source = tiny_music2vec()
    directory = tmp_path / "music2vec-v1"
    source.model.save_pretrained(directory)
    config = json.loads((directory / "config.json").read_text())
    config["vocab_size"] = "/checkpoint/music2vec/dict.km.txt"  # as in the published config.json
    (directory / "config.json").write_text(json.dumps(config))
    loaded = Music2VecBackbone("music2vec", {"weights": str(directory), "device": "cpu"})
    audio = noise(2, 1.0, 16000, seed=1)
    np.testing.assert_allclose(loaded.embed(audio, np.arange(2)), source.embed(audio, np.arange(2)), rtol=1e-5, atol=1e-6)
    assert loaded.describe()["weights"] == str(directory)


def test_registry_builds_music2vec_by_name():
    from musicrec.backbones import available_backbones, load_backbone

    if "music2vec" not in available_backbones():
        pytest.skip("'music2vec' is not registered in musicrec.backbones yet")
    assert isinstance(load_backbone("music2vec", {"random_init": True, "model_config": TINY, "device": "cpu"}), Music2VecBackbone)
