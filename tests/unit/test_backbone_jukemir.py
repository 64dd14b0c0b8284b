"""JukeMIR: the input preparation and layer choice we add around jukemirlib, and the plug-in where it can run.

jukemirlib is not on PyPI and needs a CUDA GPU with the 5B Jukebox weights, so
the model test is skipped here; cropping, normalisation and layer checks are
pure functions.
"""

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the JukeMIR plug-in needs torch")

from musicrec.backbones.jukemir import (  # noqa: E402
    JUKEBOX_SAMPLE_RATE,
    JukemirBackbone,
    check_jukebox_layers,
    jukebox_input,
    peak_normalise,
)

CAN_RUN_JUKEMIR = importlib.util.find_spec("jukemirlib") is not None and torch.cuda.is_available()


def test_input_is_the_first_24_s_at_44_1_khz_peak_normalised():
    rng = np.random.default_rng(0)
    clip = (0.25 * rng.uniform(-1, 1, 30 * JUKEBOX_SAMPLE_RATE)).astype(np.float32)
    clip[-1] = 0.5  # the peak lies after the crop: normalisation uses the whole clip, as jukemirlib.load_audio does
    prepared = jukebox_input(clip, JUKEBOX_SAMPLE_RATE, 24.0)
    assert prepared.shape == (24 * JUKEBOX_SAMPLE_RATE,) and prepared.dtype == np.float32
    np.testing.assert_allclose(prepared, clip[: 24 * JUKEBOX_SAMPLE_RATE] / 0.5)


def test_a_clip_shorter_than_the_context_is_kept_whole():
    clip = np.linspace(-0.2, 0.1, 5 * JUKEBOX_SAMPLE_RATE, dtype=np.float32)
    prepared = jukebox_input(clip, JUKEBOX_SAMPLE_RATE, 24.0)
    assert len(prepared) == len(clip) and np.abs(prepared).max() == pytest.approx(1.0)


def test_silence_stays_silent():
    assert not peak_normalise(np.zeros(10, dtype=np.float32)).any()


def test_layers_are_jukebox_layer_numbers():
    assert check_jukebox_layers(36) == [36]
    assert check_jukebox_layers([1, 72]) == [1, 72]
    for bad in (0, 73, "all", [], [36, 36], True):
        with pytest.raises(ValueError):
            check_jukebox_layers(bad)


def test_cpu_is_refused():
    with pytest.raises(ValueError, match="'device'"):
        JukemirBackbone("jukemir", {"device": "cpu"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_auto_device_without_a_gpu_fails_up_front():
    with pytest.raises(RuntimeError, match="CUDA only"):
        JukemirBackbone("jukemir", {})


@pytest.mark.skipif(not CAN_RUN_JUKEMIR, reason="jukemirlib (not on PyPI, envs/jukemir.yaml) and a CUDA GPU are needed")
def test_layer_36_gives_4800_dims_on_the_gpu():
    backbone = JukemirBackbone("jukemir", {"seconds": 5.0})
    clips = (0.1 * np.random.default_rng(1).normal(size=(1, 5 * JUKEBOX_SAMPLE_RATE))).astype(np.float32)
    embedded = backbone.embed(clips, np.arange(1))
    assert backbone.output_shape == (4800,) and embedded.shape == (1, 4800) and np.isfinite(embedded).all()
