"""MusicFM (Won et al., 2024): a 12-layer Conformer over mel spectrograms of 24-kHz audio, 25 frames/s.

The library (github.com/minzwon/musicfm) is neither on PyPI nor a package
pip can install: it is a repository imported as ``musicfm`` from its parent
directory. envs/musicfm.post-deploy.sh clones it at a pinned commit into the
conda env and puts it on the env's path; ``code_dir`` (the directory that
*contains* the ``musicfm`` clone) covers any other checkout. We call what its
README documents: ``MusicFM25Hz(is_flash=..., stat_path=..., model_path=...)``
and ``get_latent(wav, layer_ix=...)``, which returns one layer's
(batch, frames, 1024) hidden states.

Pooling (``pooling``):

* ``mean`` (default): the mean **over time**, a 1024-d description of the
  track, as the MusicFM README intends for sequence-level tasks;
* ``channels``: the mean over the 1024 channels, one value per frame (750 for
  30 s). The paper's extraction did this (the README's snippet
  ``emb.mean(-1)`` is commented "(batch, time, channel) -> (batch, channel)"
  but averages the channels). It is a compatibility switch only: its length
  depends on the clip, so with it every clip must be exactly ``seconds`` long
  (``min_seconds`` is raised to ``seconds``: shorter tracks are reported as
  bad audio), and the output length is measured once at start-up.

Options: ``weights`` (path to the checkpoint, e.g. ``pretrained_msd.pt`` or
``pretrained_fma.pt``; required), ``stats`` (the matching feature statistics
JSON, ``msd_stats.json`` / ``fma_stats.json``; required), ``layer`` (0..12,
hidden-state index of the Conformer; default 7, the README's example),
``pooling``, ``flash`` (the library's flash-attention Conformer), ``code_dir``.
Building the model also reads the Conformer's config
``facebook/wav2vec2-conformer-rope-large-960h-ft`` from the Hugging Face hub
(or its cache, on an offline node).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from musicrec.backbones.torch_common import TorchBackbone, import_torch, to_device, to_numpy
from musicrec.pooling import channel_mean, resolve_layers, time_mean

POOLINGS = ("mean", "channels")
CONFORMER_DEPTH = 12  # MusicFM25Hz's encoder_depth; get_latent indexes hidden states 0..12


def pool_latent(frames: Any, pooling: str) -> Any:
    """(batch, frames, channels) hidden states -> (batch, channels) for ``mean``, (batch, frames) for ``channels``."""
    if pooling == "mean":
        return time_mean(frames)
    if pooling == "channels":
        return channel_mean(frames)
    raise ValueError(f"pooling: expected one of {POOLINGS}, got {pooling!r}")


def import_musicfm_class(code_dir: str | None) -> Any:
    """``MusicFM25Hz`` from ``musicfm.model.musicfm_25hz``, importable from ``code_dir`` or the env's path."""
    if code_dir is not None:
        if not (Path(code_dir) / "musicfm").is_dir():
            raise FileNotFoundError(f"code_dir {code_dir!r} does not contain a 'musicfm' checkout")
        if str(code_dir) not in sys.path:
            sys.path.insert(0, str(code_dir))
    try:
        return importlib.import_module("musicfm.model.musicfm_25hz").MusicFM25Hz
    except ImportError as error:
        raise ImportError(
            "the musicfm plug-in needs the MusicFM repository importable as 'musicfm': create the env of "
            "envs/musicfm.yaml (its post-deploy script clones it), or set code_dir to the directory holding the clone"
        ) from error


class MusicFmBackbone(TorchBackbone):
    """MusicFM: ``(B, n)`` 24-kHz clips -> ``(B, 1024)`` (time mean) or ``(B, frames)`` (channel mean)."""

    plugin = "musicfm"
    default_sample_rate = 24000
    default_batch_size = 8
    plugin_options = {"weights": None, "stats": None, "layer": 7, "pooling": "mean", "flash": False, "code_dir": None}

    def __init__(self, name: str, options: Mapping[str, Any] | None = None):
        super().__init__(name, options)
        params = self.params
        if params["pooling"] not in POOLINGS:
            raise self.option_error("pooling", params["pooling"], f"one of {POOLINGS}")
        if not isinstance(params["layer"], int) or isinstance(params["layer"], bool):
            raise self.option_error("layer", params["layer"], f"one hidden-state index 0..{CONFORMER_DEPTH}")
        self.layer = resolve_layers(params["layer"], CONFORMER_DEPTH + 1, key=f"extraction.backbones.{name}.layer")[0]
        for key in ("weights", "stats"):
            if not params[key] or not Path(params[key]).is_file():
                raise self.option_error(key, params[key], "the path of an existing file (MusicFM checkpoint / statistics JSON)")
        if params["pooling"] == "channels":
            # One value per frame only lines up across tracks when every clip has the same length.
            self.min_seconds = self.settings.seconds
        model_class = import_musicfm_class(params["code_dir"])
        self.model = model_class(
            is_flash=bool(params["flash"]), stat_path=str(params["stats"]), model_path=str(params["weights"])
        )
        self.model.eval().to(self.device)
        self._shape = self._measure_output_shape()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self._shape

    def _latent_pooled(self, clips: np.ndarray) -> Any:
        with self.run_inference():
            frames = self.model.get_latent(to_device(clips, self.device), layer_ix=self.layer)
            return pool_latent(frames.float(), self.params["pooling"])

    def _measure_output_shape(self) -> tuple[int, ...]:
        """Run one silent clip of ``seconds`` to learn the width (1024) or frame count (channels)."""
        silent = np.zeros((1, round(self.settings.seconds * self.sample_rate)), dtype=np.float32)
        return tuple(int(size) for size in self._latent_pooled(silent).shape[1:])

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 -> ``(B, *output_shape)`` float32."""
        return to_numpy(self._latent_pooled(np.asarray(audio, dtype=np.float32)))

    def describe_model(self) -> dict[str, Any]:
        torch = import_torch()
        channels = self.params["pooling"] == "channels"
        return {
            "weights": str(self.params["weights"]),
            "stats": str(self.params["stats"]),
            "layer": self.layer,
            "pooling": "mean over channels (paper compatibility: a time series)" if channels else "mean over time",
            "flash": bool(self.params["flash"]),
            "torch_version": torch.__version__,
            "device": str(self.device),
        }
