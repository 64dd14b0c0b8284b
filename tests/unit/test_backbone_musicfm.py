"""MusicFM: time pooling versus the paper's channel pooling, and the plug-in where the library is installed.

MusicFM is a repository rather than a package (envs/musicfm.post-deploy.sh
clones it), so the model test is skipped here; the pooling switch is tested on
a (batch, time, channels) tensor of MusicFM's shape.
"""

import importlib.util
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the MusicFM plug-in needs torch")

from musicrec.backbones.musicfm import MusicFmBackbone, import_musicfm_class, pool_latent  # noqa: E402

HAS_MUSICFM = importlib.util.find_spec("musicfm") is not None


def latent(batch=2, frames=750, channels=1024, seed=0):
    """Hidden states shaped like MusicFM's for 30 s (25 frames/s x 1024 channels)."""
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(batch, frames, channels)).astype(np.float32))


def test_default_pooling_is_over_time_giving_1024_dims():
    frames = latent()
    pooled = pool_latent(frames, "mean")
    assert tuple(pooled.shape) == (2, 1024)
    np.testing.assert_allclose(pooled.numpy(), frames.numpy().mean(axis=1), rtol=1e-5, atol=1e-6)


def test_paper_switch_pools_over_channels_giving_750_values_for_30_s():
    frames = latent()
    pooled = pool_latent(frames, "channels")
    assert tuple(pooled.shape) == (2, 750)
    np.testing.assert_allclose(pooled.numpy(), frames.numpy().mean(axis=2), rtol=1e-5, atol=1e-6)


def test_channel_pooling_length_follows_the_clip_not_the_model():
    assert tuple(pool_latent(latent(frames=500, channels=8), "channels").shape) == (2, 500)
    assert tuple(pool_latent(latent(frames=500, channels=8), "mean").shape) == (2, 8)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling"):
        pool_latent(latent(frames=3, channels=2), "max")


def test_missing_checkpoint_names_the_key(tmp_path):
    with pytest.raises(ValueError, match="'weights'"):
        MusicFmBackbone("musicfm", {"device": "cpu", "weights": str(tmp_path / "none.pt"), "stats": str(tmp_path / "none.json")})


def test_bad_layer_and_pooling_are_refused(tmp_path):
    with pytest.raises(ValueError, match="musicfm.layer: layer 13 does not exist"):
        MusicFmBackbone("musicfm", {"device": "cpu", "layer": 13})
    with pytest.raises(ValueError, match="'pooling'"):
        MusicFmBackbone("musicfm", {"device": "cpu", "pooling": "max"})


def test_code_dir_must_hold_a_musicfm_checkout(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not contain a 'musicfm' checkout"):
        import_musicfm_class(str(tmp_path))


@pytest.mark.skipif(HAS_MUSICFM, reason="musicfm is importable here")
def test_missing_library_names_the_env_file():
    with pytest.raises(ImportError, match="envs/musicfm.yaml"):
        import_musicfm_class(None)


@pytest.mark.skipif(not HAS_MUSICFM, reason="MusicFM is not on PyPI; envs/musicfm.post-deploy.sh clones it")
def test_plugin_embeds_with_a_random_checkpoint(tmp_path):
    music_fm = import_musicfm_class(None)
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"melspec_2048_cnt": 1, "melspec_2048_mean": 6.8, "melspec_2048_std": 18.4}))
    model = music_fm(stat_path=str(stats), model_path=None)
    checkpoint = tmp_path / "random.pt"
    torch.save({"state_dict": {f"model.{key}": value for key, value in model.state_dict().items()}}, checkpoint)
    options = {"device": "cpu", "weights": str(checkpoint), "stats": str(stats), "seconds": 2.0}
    clips = (0.1 * np.random.default_rng(3).normal(size=(2, 48000))).astype(np.float32)
    over_time = MusicFmBackbone("musicfm", options)
    assert over_time.output_shape == (1024,) and over_time.embed(clips, np.arange(2)).shape == (2, 1024)
    over_channels = MusicFmBackbone("musicfm", {**options, "pooling": "channels"})
    assert over_channels.output_shape == (50,) and over_channels.min_seconds == 2.0
