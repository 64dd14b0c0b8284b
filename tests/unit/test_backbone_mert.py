"""MERT on tiny randomly initialised HuBERT models: the same code path as real weights.

These tests also cover what MERT shares with Music2Vec (wav2vec2_family):
normalisation, layer selection, windowing, the hidden-state check, loading a
local model directory, and running through the common extraction loop.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the MERT plug-in needs torch")
pytest.importorskip("transformers", reason="the MERT plug-in needs transformers")

from musicrec.backbones.mert import MERT_V1_330M_SHAPE, MertBackbone, choose_loader  # noqa: E402
from musicrec.backbones.wav2vec2_family import TINY_HUBERT_CONFIG, zero_mean_unit_variance  # noqa: E402

SAMPLE_RATE = 24000
TINY = TINY_HUBERT_CONFIG


def tiny_mert(**options):
    # The CPU, so that the reference computations below run where the model runs, on any machine.
    return MertBackbone("mert", {"random_init": True, "model_config": TINY, "seed": 3, "device": "cpu", **options})


def clips(n_clips=3, seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tones = np.sin(2 * np.pi * rng.uniform(100, 1000, size=(n_clips, 1)) * t)
    return (0.3 * tones + 0.05 * rng.normal(size=tones.shape)).astype(np.float32)


def reference_hidden_states(backbone, audio):
    """What the model itself returns for the normalised clips: the expected pooling source.

    The last layer is ``last_hidden_state`` (transformers 5 records a pre-LN
    encoder's last hidden state before its final norm; the plug-in does not).
    """
    with torch.inference_mode():
        inputs = torch.from_numpy(zero_mean_unit_variance(audio))
        outputs = backbone.model(inputs, output_hidden_states=True)
    return (*outputs.hidden_states[:-1], outputs.last_hidden_state)


def test_default_is_mert_330m_at_24khz_with_1024_dims():
    backbone = MertBackbone("mert", {"random_init": True, "model_config": {"num_hidden_layers": 1}, "device": "cpu"})
    assert backbone.sample_rate == SAMPLE_RATE
    assert backbone.output_shape == (MERT_V1_330M_SHAPE["hidden_size"],) == (1024,)
    assert backbone.describe()["weights"].startswith("random-init HubertModel shaped as m-a-p/MERT-v1-330M")


def test_95m_reference_shape_is_768_wide():
    options = {"weights": "m-a-p/MERT-v1-95M", "random_init": True, "model_config": {"num_hidden_layers": 1}, "device": "cpu"}
    backbone = MertBackbone("mert", options)
    assert backbone.output_shape == (768,)
    assert backbone.model.config.do_stable_layer_norm is False


def test_last_layer_is_the_time_mean_of_last_hidden_state():
    backbone = tiny_mert()
    audio = clips()
    embedded = backbone.embed(audio, np.arange(3))
    assert embedded.shape == (3, 32) and embedded.dtype == np.float32
    expected = reference_hidden_states(backbone, audio)[-1].mean(1).numpy()
    np.testing.assert_allclose(embedded, expected, rtol=1e-5, atol=1e-6)


def test_all_layers_stack_every_hidden_state_in_order():
    backbone = tiny_mert(layer="all")
    audio = clips()
    embedded = backbone.embed(audio, np.arange(3))
    assert backbone.output_shape == (3, 32) and embedded.shape == (3, 3, 32)
    hidden = reference_hidden_states(backbone, audio)
    for index in range(3):
        np.testing.assert_allclose(embedded[:, index], hidden[index].mean(1).numpy(), rtol=1e-5, atol=1e-6)
    assert backbone.describe()["layer"] == [0, 1, 2]


def test_layer_list_keeps_the_requested_order():
    both = tiny_mert(layer=[2, 0]).embed(clips(), np.arange(3))
    everything = tiny_mert(layer="all").embed(clips(), np.arange(3))
    np.testing.assert_allclose(both, everything[:, [2, 0]], rtol=1e-5, atol=1e-6)


def test_windows_average_the_embeddings_of_each_window():
    audio = clips(n_clips=2, seconds=2.0)
    windowed = tiny_mert(window_seconds=1.0).embed(audio, np.arange(2))
    whole = tiny_mert()
    halves = [whole.embed(audio[:, part * SAMPLE_RATE : (part + 1) * SAMPLE_RATE], np.arange(2)) for part in (0, 1)]
    np.testing.assert_allclose(windowed, (halves[0] + halves[1]) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(windowed, whole.embed(audio, np.arange(2)), atol=1e-4)


def test_a_clip_embeds_the_same_alone_and_in_a_batch():
    backbone = tiny_mert(layer="all")
    audio = clips(n_clips=4)
    batch = backbone.embed(audio, np.arange(4))
    alone = backbone.embed(audio[2:3], np.array([2]))
    np.testing.assert_allclose(batch[2:3], alone, rtol=1e-4, atol=1e-5)


def test_normalisation_matches_the_wav2vec2_feature_extractor():
    transformers = pytest.importorskip("transformers")
    audio = clips() * 3.0 + 0.2
    extractor = transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    expected = extractor(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="np")["input_values"]
    np.testing.assert_allclose(zero_mean_unit_variance(audio), expected, rtol=1e-5, atol=1e-5)


def test_normalize_false_feeds_the_raw_waveform():
    backbone = tiny_mert(normalize=False)
    audio = clips() * 3.0 + 0.2
    with torch.inference_mode():
        expected = backbone.model(torch.from_numpy(audio), output_hidden_states=True).last_hidden_state.mean(1)
    np.testing.assert_allclose(backbone.embed(audio, np.arange(3)), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert backbone.describe()["normalize"] is None


class _DropsHiddenStates(torch.nn.Module):
    """Behaves like MERT-v1-330M's remote code under transformers 5: no per-layer outputs."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.config = model, model.config

    def forward(self, **kwargs):
        outputs = self.inner(**kwargs)
        outputs.hidden_states = None
        return outputs


class _RecordsLastLayerBeforeNorm(torch.nn.Module):
    """Like transformers 5.x on a pre-layer-norm encoder: hidden_states[-1] is not last_hidden_state."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.config = model, model.config

    def forward(self, **kwargs):
        outputs = self.inner(**kwargs)
        outputs.hidden_states = (*outputs.hidden_states[:-1], outputs.hidden_states[-1] + 100.0)
        return outputs


def test_last_layer_means_last_hidden_state_whatever_hidden_states_hold():
    backbone = tiny_mert(layer="all")
    expected = backbone.embed(clips(), np.arange(3))
    backbone.model = _RecordsLastLayerBeforeNorm(backbone.model)
    np.testing.assert_allclose(backbone.embed(clips(), np.arange(3)), expected, rtol=1e-6, atol=1e-6)


def test_missing_hidden_states_fail_loudly():
    backbone = tiny_mert()
    backbone.model = _DropsHiddenStates(backbone.model)
    with pytest.raises(RuntimeError, match="returned no hidden states.*transformers 4.x"):
        backbone.embed(clips(), np.arange(3))


def _save_like_mert_95m(tmp_path, source):
    """A local model directory laid out like the hub's MERT-v1-95M (model_type mert_model, auto_map)."""
    directory = tmp_path / "MERT-v1-95M"
    source.model.save_pretrained(directory)
    config = json.loads((directory / "config.json").read_text())
    config.update(
        model_type="mert_model",
        architectures=["MERTModel"],
        auto_map={"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
    )
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_95m_weights_load_from_a_local_directory_as_hubert(tmp_path):
    source = tiny_mert(layer="all")
    directory = _save_like_mert_95m(tmp_path, source)
    loaded = MertBackbone("mert", {"weights": str(directory), "layer": "all", "device": "cpu"})
    assert loaded.describe()["loader"] == "hubert" and loaded.describe()["weights"] == str(directory)
    audio = clips()
    np.testing.assert_allclose(loaded.embed(audio, np.arange(3)), source.embed(audio, np.arange(3)), rtol=1e-5, atol=1e-6)


def test_remote_loader_goes_through_automodel(tmp_path):
    source = tiny_mert()
    directory = tmp_path / "plain-hubert"
    source.model.save_pretrained(directory)  # model_type hubert: AutoModel resolves it without remote code
    loaded = MertBackbone("mert", {"weights": str(directory), "loader": "remote", "device": "cpu"})
    np.testing.assert_allclose(loaded.embed(clips(), np.arange(3)), source.embed(clips(), np.arange(3)), rtol=1e-5, atol=1e-6)


def test_loader_choice_follows_the_weights_name():
    assert choose_loader("auto", "m-a-p/MERT-v1-95M") == "hubert"
    assert choose_loader("auto", "/models/mert-v1-95m") == "hubert"
    assert choose_loader("auto", "m-a-p/MERT-v1-330M") == "remote"
    assert choose_loader("hubert", "m-a-p/MERT-v1-330M") == "hubert"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"loader": "magic"}, "'loader'"),
        ({"pooling": "max"}, "'pooling'"),
        ({"layer": 3}, "mert.layer: layer 3 does not exist"),
        ({"window_seconds": -1}, "'window_seconds'"),
        ({"random_init": False, "weights": None, "model_config": {}}, "'weights'"),
        ({"colour": "blue"}, "unknown option"),
    ],
)
def test_bad_options_name_the_key(options, message):
    with pytest.raises(ValueError, match=message):
        MertBackbone("mert", {"random_init": True, "model_config": TINY, "device": "cpu", **options})


def test_model_config_needs_random_init():
    with pytest.raises(ValueError, match="'model_config'"):
        MertBackbone("mert", {"model_config": TINY, "device": "cpu"})


def test_describe_records_what_reproduces_the_embedding():
    description = tiny_mert(layer=[1, 2], window_seconds=5).describe()
    assert description["sample_rate"] == SAMPLE_RATE and description["dim"] == 32
    assert description["layer"] == [1, 2] and description["output_shape"] == [2, 32]
    assert "5-s windows" in description["pooling"] and description["precision"] == "fp32"
    json.dumps(description)  # the sidecar must be JSON-serialisable


def test_extraction_loop_resamples_files_and_embeds_them(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    from musicrec.audio import load_clip
    from musicrec.extraction import extract

    rate = 22050
    rng = np.random.default_rng(5)
    paths = []
    for i, seconds in enumerate([2.0, 2.0, 1.5]):
        path = tmp_path / f"track{i}.wav"
        soundfile.write(path, 0.3 * rng.uniform(-1, 1, int(seconds * rate)).astype(np.float32), rate)
        paths.append(str(path))
    backbone = tiny_mert(seconds=2.0, batch_size=2)
    embeddings, failures = extract(backbone, paths, workers=0, progress=False)
    assert failures.empty and embeddings.shape == (3, 32) and np.isfinite(embeddings).all()
    clip = load_clip(paths[2], SAMPLE_RATE, 2.0)
    assert len(clip) == int(1.5 * SAMPLE_RATE)
    np.testing.assert_allclose(embeddings[2], backbone.embed(clip[None], np.array([2]))[0], rtol=1e-5, atol=1e-6)


def test_registry_builds_mert_by_name():
    from musicrec.backbones import available_backbones, load_backbone

    if "mert" not in available_backbones():
        pytest.skip("'mert' is not registered in musicrec.backbones yet")
    backbone = load_backbone("mert", {"random_init": True, "model_config": TINY, "device": "cpu"})
    assert isinstance(backbone, MertBackbone)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_mixed_precision_agrees_with_the_cpu(precision):
    audio = clips(n_clips=2)
    on_cpu = tiny_mert(layer="all").embed(audio, np.arange(2))
    on_gpu = tiny_mert(layer="all", device="cuda", precision=precision)
    embedded = on_gpu.embed(audio, np.arange(2))
    assert on_gpu.precision == precision and embedded.dtype == np.float32
    cosine = (on_cpu * embedded).sum(-1) / np.linalg.norm(on_cpu, axis=-1) / np.linalg.norm(embedded, axis=-1)
    assert cosine.min() > 0.999
