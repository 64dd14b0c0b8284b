"""JukeMIR (Castellon et al., 2021): Jukebox's 5B language model as a feature extractor, 4800-d.

``jukemirlib`` (not on PyPI; envs/jukemir.yaml installs it and its Jukebox
fork from git) encodes 44.1-kHz audio with Jukebox's VQ-VAE into top-level
tokens and runs the 72-layer, 4800-wide prior over at most 8192 tokens, i.e.
the first 1048576 samples (23.8 s) of the clip. JukeMIR's probing found
layer 36, the middle of the network, best, and the paper used it: the
default here. Per clip we call, as the library documents,
``jukemirlib.extract(audio=clip, layers=[36], meanpool=True, fp16=...)``,
which averages the layer's activations over the tokens.

What we do before the library (pure functions, tested without it):

* the clip is peak-normalised, as ``jukemirlib.load_audio`` does to a file it
  reads, then cropped to its first ``context_seconds`` (24 s: the library
  would encode 25 s and keep 23.8 s of tokens; we spare it the extra second);
* clips are embedded one at a time: ``jukemirlib.extract`` takes one clip,
  and its state (the prior's key/value cache) is global. The extraction
  loop's ``batch_size`` therefore only sets how many decoded clips wait.

Requirements: a CUDA GPU with at least 13 GB (the library allocates CUDA
tensors directly, so CPU extraction is refused up front); ``precision: auto``
is fp16 on the GPU, as in the paper (``fp32`` is allowed). ``weights`` is the
directory caching Jukebox's checkpoints (``vqvae.pth.tar``,
``prior_level_2.pth.tar``); ``None`` is the library's default
``~/.cache/jukemirlib``, and the library downloads missing files there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from musicrec.backbones.torch_common import TorchBackbone, import_torch
from musicrec.pooling import is_single_layer

JUKEBOX_SAMPLE_RATE = 44100
JUKEBOX_LAYERS = 72  # transformer layers of the 5B top-level prior, numbered 1..72 by jukemirlib
DEFAULT_LAYER = 36


def peak_normalise(clip: np.ndarray) -> np.ndarray:
    """``clip`` (n,) divided by its absolute peak, as ``jukemirlib.load_audio`` does; silence stays zero."""
    peak = float(np.abs(clip).max()) if clip.size else 0.0
    clip = np.asarray(clip, dtype=np.float32)
    return clip / peak if peak > 0 else clip.copy()


def jukebox_input(clip: np.ndarray, sample_rate: int, context_seconds: float) -> np.ndarray:
    """The (n,) float32 waveform handed to jukemirlib: peak-normalised, then the first ``context_seconds``.

    ``clip`` is mono at ``sample_rate`` (44100 for Jukebox); the result holds
    ``min(len(clip), round(context_seconds * sample_rate))`` samples.
    """
    return peak_normalise(clip)[: round(context_seconds * sample_rate)]


def check_jukebox_layers(spec: Any) -> list[int]:
    """jukemirlib layer numbers (1..72) from an int or a list of ints; ValueError otherwise."""
    layers = [spec] if is_single_layer(spec) else spec
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"expected a layer number 1..{JUKEBOX_LAYERS} or a list of them, got {spec!r}")
    for layer in layers:
        if not is_single_layer(layer) or not 1 <= layer <= JUKEBOX_LAYERS:
            raise ValueError(f"layer {layer!r} is not a layer number 1..{JUKEBOX_LAYERS} of Jukebox's prior")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers {layers} list a layer twice")
    return [int(layer) for layer in layers]


class JukemirBackbone(TorchBackbone):
    """JukeMIR: ``(B, n)`` 44.1-kHz clips -> ``(B, 4800)`` (layer 36, mean over tokens)."""

    plugin = "jukemir"
    default_sample_rate = JUKEBOX_SAMPLE_RATE
    default_batch_size = 4
    devices = ("auto", "cuda")
    precisions = ("fp16", "fp32")
    gpu_auto_precision = "fp16"
    plugin_options = {"weights": None, "layer": DEFAULT_LAYER, "pooling": "mean", "context_seconds": 24.0}

    def __init__(self, name: str, options: Mapping[str, Any] | None = None):
        super().__init__(name, options)
        if self.device.type != "cuda":
            raise RuntimeError(f"backbone {name!r} (plug-in 'jukemir'): jukemirlib runs on CUDA only, and torch sees no GPU")
        params = self.params
        try:
            self.layers = check_jukebox_layers(params["layer"])
        except ValueError as error:
            raise self.option_error("layer", params["layer"], str(error)) from error
        self.single_layer = is_single_layer(params["layer"])
        if params["pooling"] != "mean":
            raise self.option_error("pooling", params["pooling"], "'mean' (over tokens)")
        context = params["context_seconds"]
        if isinstance(context, bool) or not isinstance(context, (int, float)) or not self.min_seconds <= context <= 24.0:
            raise self.option_error("context_seconds", context, "seconds between 1 and 24 (Jukebox's 8192-token context)")
        try:
            import jukemirlib
        except ImportError as error:
            raise ImportError(
                "the jukemir plug-in needs jukemirlib (not on PyPI): create the env of envs/jukemir.yaml"
            ) from error
        self.jukemirlib = jukemirlib
        setup = {"device": str(self.device)}
        if params["weights"]:
            setup["cache_dir"] = str(params["weights"])
        _, top_prior = jukemirlib.setup_models(**setup)
        self.dim = int(top_prior.prior.width)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.dim,) if self.single_layer else (len(self.layers), self.dim)

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 -> ``(B, 4800)`` (or ``(B, n_layers, 4800)``) float32, one clip at a time."""
        fp16 = self.precision == "fp16"
        vectors = []
        for clip in np.asarray(audio, dtype=np.float32):
            waveform = jukebox_input(clip, self.sample_rate, self.params["context_seconds"])
            activations = self.jukemirlib.extract(audio=waveform, layers=self.layers, meanpool=True, fp16=fp16, fp16_out=False)
            vectors.append(np.stack([activations[layer] for layer in self.layers]))
        stacked = np.stack(vectors).astype(np.float32, copy=False)  # (B, n_layers, dim)
        return stacked.reshape(len(stacked), *self.output_shape)

    def describe_model(self) -> dict[str, Any]:
        torch = import_torch()
        return {
            "weights": self.params["weights"] or "jukemirlib's default cache ~/.cache/jukemirlib (Jukebox 5B)",
            "layer": self.layers[0] if self.single_layer else self.layers,
            "pooling": "mean over tokens (jukemirlib meanpool)",
            "input": f"peak-normalised, first {self.params['context_seconds']:g} s (at most 8192 tokens = 23.8 s)",
            "torch_version": torch.__version__,
            "device": str(self.device),
        }
