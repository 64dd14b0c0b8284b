"""EnCodec-MAE (Pepino et al., 2023): 768-d embeddings of 24-kHz audio, mean over time.

The model (``encodecmae``, not on PyPI; envs/encodecmae.yaml installs it from
git at a pinned commit) encodes the waveform with EnCodec's frozen encoder
(75 frames/s), projects it and runs a transformer (the "visible encoder")
over it. Its own extractor, ``EncodecMAE.extract_features_from_array``, cuts
the audio into back-to-back 4-s chunks (the last one shorter), runs each
chunk as a separate input and concatenates the chunks' frames; the paper then
averaged those frames over time. We do the same with whole batches: every
full chunk of every clip goes through the model in one call, the tails (all
clips of a batch have the same length, so the same tail) in a second, and the
frames of each clip are concatenated and averaged. The calls into the library
are the three steps its extractor makes per chunk: ``encode_wav``, ``mask``
with ``ignore_mask=True`` and ``encode_visible``, whose
``visible_embeddings`` (batch, frames, 768) are the features. A tail shorter
than one EnCodec frame (320 samples) is dropped: the library would mask all of
its frames and return NaN.

Options: ``weights`` is a model name of ``encodecmae.load_model`` (``base``,
default as in the paper; ``small``, ``large``, ``base-st``, ``large-st``),
downloaded from the Hugging Face hub repository ``lpepino/encodecmae-<name>``;
building the model also fetches EnCodec's 24-kHz weights through
``torch.hub``. On an offline node both caches (``HF_HOME``, ``TORCH_HOME``)
must be filled beforehand. ``chunk_seconds`` (4, the library's default) and
``pooling`` (``mean`` over time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from musicrec.backbones.torch_common import TorchBackbone, import_torch, to_device, to_numpy
from musicrec.pooling import time_mean

MODEL_NAMES = ("base", "small", "large", "base-st", "large-st")
ENCODEC_HOP = 320  # samples per EnCodec frame at 24 kHz (strides 2 x 4 x 5 x 8)


def chunk_layout(n_samples: int, chunk_samples: int, min_tail_samples: int) -> tuple[int, int]:
    """``(n_full_chunks, tail_samples)`` of back-to-back chunks over a clip of ``n_samples``.

    The tail is what remains after the full chunks; it is 0 when the clip is a
    multiple of the chunk or when the remainder is shorter than
    ``min_tail_samples`` (then dropped). A clip shorter than one chunk is a
    single tail.
    """
    if chunk_samples <= 0:
        raise ValueError(f"chunk length must be positive, got {chunk_samples} samples")
    n_full, tail = divmod(n_samples, chunk_samples)
    if tail < min_tail_samples:
        tail = 0
    if n_full == 0 and tail == 0:
        raise ValueError(f"a clip of {n_samples} samples is shorter than one frame ({min_tail_samples} samples)")
    return n_full, tail


def chunked_time_mean(
    frames_of: Callable[[Any], Any], clips: Any, chunk_samples: int, min_tail_samples: int
) -> Any:
    """Mean over all frames of each clip, the clip cut into back-to-back chunks run separately.

    ``frames_of`` maps a (rows, samples) tensor to (rows, frames, dim) features;
    ``clips`` is (B, n_samples). Full chunks of all clips go through
    ``frames_of`` in one call, the tails in another; each clip's chunk frames
    are concatenated in time order and averaged. Returns (B, dim) float32.
    """
    torch = import_torch()
    n_clips, n_samples = clips.shape
    n_full, tail = chunk_layout(n_samples, chunk_samples, min_tail_samples)
    pieces = []
    if n_full:
        full = clips[:, : n_full * chunk_samples].reshape(n_clips * n_full, chunk_samples)
        frames = frames_of(full).float()
        pieces.append(frames.reshape(n_clips, n_full * frames.shape[1], frames.shape[2]))
    if tail:
        pieces.append(frames_of(clips[:, n_full * chunk_samples : n_full * chunk_samples + tail]).float())
    return time_mean(torch.cat(pieces, dim=1))


class EncodecMaeBackbone(TorchBackbone):
    """EnCodec-MAE: ``(B, n)`` 24-kHz clips -> ``(B, 768)`` for the base model."""

    plugin = "encodecmae"
    default_sample_rate = 24000
    default_batch_size = 16
    plugin_options = {"weights": "base", "chunk_seconds": 4.0, "pooling": "mean"}

    def __init__(self, name: str, options: Mapping[str, Any] | None = None):
        super().__init__(name, options)
        params = self.params
        if params["weights"] not in MODEL_NAMES:
            raise self.option_error("weights", params["weights"], f"one of encodecmae's models {MODEL_NAMES}")
        if params["pooling"] != "mean":
            raise self.option_error("pooling", params["pooling"], "'mean' (over time)")
        chunk = params["chunk_seconds"]
        if isinstance(chunk, bool) or not isinstance(chunk, (int, float)) or chunk < self.min_seconds:
            raise self.option_error("chunk_seconds", chunk, f"a number of seconds >= {self.min_seconds:g}")
        self.chunk_samples = round(float(chunk) * self.sample_rate)
        try:
            import encodecmae
        except ImportError as error:
            raise ImportError(
                "the encodecmae plug-in needs the encodecmae library (not on PyPI): "
                "create the env of envs/encodecmae.yaml, which installs it from git"
            ) from error
        self.library_version = getattr(encodecmae, "__version__", "git (see envs/encodecmae.yaml)")
        self.model = encodecmae.load_model(params["weights"], device=str(self.device))
        self.model.eval()
        # The library's own extractor switches torch.compile off for inference.
        if hasattr(self.model.visible_encoder, "compile"):
            self.model.visible_encoder.compile = False
        self.hop = int(getattr(self.model.wav_encoder, "hop_length", ENCODEC_HOP))
        self.dim = int(self.model.visible_encoder.model_dim)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def _visible_embeddings(self, wav: Any) -> Any:
        """(rows, samples) waveforms -> (rows, frames, dim): the library's per-chunk steps."""
        torch = import_torch()
        lengths = torch.full((wav.shape[0],), wav.shape[1], device=wav.device, dtype=torch.long)
        batch = {"wav": wav, "wav_lens": lengths}
        self.model.encode_wav(batch)
        self.model.mask(batch, ignore_mask=True)
        self.model.encode_visible(batch)
        return batch["visible_embeddings"]

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 -> ``(B, dim)`` float32: mean of all chunk frames."""
        clips = to_device(np.asarray(audio, dtype=np.float32), self.device)
        with self.run_inference():
            pooled = chunked_time_mean(self._visible_embeddings, clips, self.chunk_samples, self.hop)
        return to_numpy(pooled)

    def describe_model(self) -> dict[str, Any]:
        torch = import_torch()
        return {
            "weights": f"encodecmae {self.params['weights']} (hub lpepino/encodecmae-{self.params['weights']})",
            "layer": "visible encoder output (visible_embeddings)",
            "pooling": f"mean over time of the frames of back-to-back {self.params['chunk_seconds']:g}-s chunks",
            "chunk_seconds": self.params["chunk_seconds"],
            "encodecmae_version": self.library_version,
            "torch_version": torch.__version__,
            "device": str(self.device),
        }
