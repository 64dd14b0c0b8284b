"""EnCodec-MAE: the chunking and pooling we add around the library, and the plug-in itself where it is installed.

encodecmae is not on PyPI (envs/encodecmae.yaml installs it from git), so the
model test is skipped here; the chunk layout and the frame concatenation are
pure functions tested on their own with a transparent frame extractor.
"""

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the EnCodec-MAE plug-in needs torch")

from musicrec.backbones.encodecmae import ENCODEC_HOP, EncodecMaeBackbone, chunk_layout, chunked_time_mean  # noqa: E402

HAS_ENCODECMAE = importlib.util.find_spec("encodecmae") is not None
RATE = 24000


def test_30_s_clips_make_seven_4_s_chunks_and_a_2_s_tail():
    assert chunk_layout(30 * RATE, 4 * RATE, ENCODEC_HOP) == (7, 2 * RATE)


def test_a_clip_that_is_a_multiple_of_the_chunk_has_no_tail():
    assert chunk_layout(8 * RATE, 4 * RATE, ENCODEC_HOP) == (2, 0)


def test_a_tail_shorter_than_one_frame_is_dropped():
    assert chunk_layout(4 * RATE + ENCODEC_HOP - 1, 4 * RATE, ENCODEC_HOP) == (1, 0)
    assert chunk_layout(4 * RATE + ENCODEC_HOP, 4 * RATE, ENCODEC_HOP) == (1, ENCODEC_HOP)


def test_a_short_clip_is_one_tail_and_a_too_short_one_an_error():
    assert chunk_layout(2 * RATE, 4 * RATE, ENCODEC_HOP) == (0, 2 * RATE)
    with pytest.raises(ValueError, match="shorter than one frame"):
        chunk_layout(100, 4 * RATE, ENCODEC_HOP)


def frame_statistics(wav):
    """A transparent stand-in for the model's frames: per 320-sample frame, its mean and its peak."""
    frames = wav.reshape(wav.shape[0], -1, ENCODEC_HOP)
    return torch.stack([frames.mean(-1), frames.abs().amax(-1)], dim=-1)


def test_chunk_frames_are_concatenated_then_averaged_over_time():
    rng = np.random.default_rng(0)
    hop, chunk = ENCODEC_HOP, 4 * ENCODEC_HOP
    clips = rng.normal(size=(3, 2 * chunk + 2 * hop)).astype(np.float32)  # two chunks and a 2-frame tail
    pooled = chunked_time_mean(frame_statistics, torch.from_numpy(clips), chunk, hop).numpy()
    whole = frame_statistics(torch.from_numpy(clips)).numpy()  # all 10 frames of each clip
    np.testing.assert_allclose(pooled, whole.mean(1), rtol=1e-6)


def test_chunked_mean_of_a_clip_does_not_depend_on_its_batch_mates():
    rng = np.random.default_rng(1)
    clips = torch.from_numpy(rng.normal(size=(4, 5 * ENCODEC_HOP)).astype(np.float32))
    together = chunked_time_mean(frame_statistics, clips, 2 * ENCODEC_HOP, ENCODEC_HOP)
    alone = chunked_time_mean(frame_statistics, clips[1:2], 2 * ENCODEC_HOP, ENCODEC_HOP)
    np.testing.assert_allclose(together[1:2].numpy(), alone.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "options, key",
    [({"weights": "huge"}, "'weights'"), ({"chunk_seconds": 0}, "'chunk_seconds'"), ({"pooling": "max"}, "'pooling'")],
)
def test_bad_options_are_refused_before_loading(options, key):
    with pytest.raises(ValueError, match=key):
        EncodecMaeBackbone("encodecmae", {"device": "cpu", **options})


@pytest.mark.skipif(HAS_ENCODECMAE, reason="encodecmae is installed here")
def test_missing_library_names_the_env_file():
    with pytest.raises(ImportError, match="envs/encodecmae.yaml"):
        EncodecMaeBackbone("encodecmae", {"device": "cpu"})


@pytest.mark.skipif(not HAS_ENCODECMAE, reason="encodecmae is not on PyPI; it is installed by envs/encodecmae.yaml")
def test_base_model_embeds_24khz_clips_into_768_dims():
    backbone = EncodecMaeBackbone("encodecmae", {"device": "cpu", "seconds": 5.0})
    clips = (0.1 * np.random.default_rng(2).normal(size=(2, 5 * RATE))).astype(np.float32)
    embedded = backbone.embed(clips, np.arange(2))
    assert backbone.sample_rate == RATE and backbone.output_shape == (768,)
    assert embedded.shape == (2, 768) and embedded.dtype == np.float32 and np.isfinite(embedded).all()
