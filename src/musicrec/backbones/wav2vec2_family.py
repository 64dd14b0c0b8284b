"""The shared extraction path of transformers' wav2vec2-family encoders (MERT, Music2Vec).

MERT-v1 (HuBERT architecture) and Music2Vec-v1 (Data2VecAudio architecture) are
both a strided convolutional feature encoder over the raw waveform followed by
a transformer encoder; transformers returns every layer's output when asked
with ``output_hidden_states=True``. One clip's path through
:meth:`Wav2Vec2FamilyBackbone.embed`:

1. optional windowing (``window_seconds``): the clip is cut into fixed windows
   (see :func:`musicrec.pooling.split_into_windows`) that run as separate rows
   of the batch; ``null`` feeds the whole clip at once;
2. optional normalisation (``normalize``): each model input (clip or window)
   is scaled to zero mean and unit variance, exactly what
   ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does, computed in NumPy so
   no processor has to be downloaded;
3. the forward pass under autocast, requesting all hidden states; a model that
   returns none fails loudly (MERT-v1-330M's remote code does that under
   transformers 5.x, which would otherwise yield garbage or a crash later);
4. the chosen layers are averaged over time (float32), then over windows.

Hidden-state index 0 is the transformer's input (the projected convolutional
features plus the positional convolution); index ``i`` is the output of
transformer layer ``i``; the last index is ``last_hidden_state`` (see
:func:`checked_hidden_states` for why that is enforced).

Loading: ``weights`` is a Hugging Face hub id or a local directory in the hub
layout. ``random_init: true`` instead builds the same architecture from a
config with random weights (the reference shape of the real model, with
``model_config`` overriding any field); tests and benchmarks use this, and it
goes through exactly the same ``embed`` code as real weights.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from musicrec.backbones.torch_common import TorchBackbone, import_torch, import_transformers, to_device, to_numpy
from musicrec.pooling import (
    average_windows,
    is_single_layer,
    resolve_layers,
    split_into_windows,
    time_mean,
)

# Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm adds this to the variance.
NORMALISATION_EPSILON = 1e-7

POOLINGS = ("mean",)


def zero_mean_unit_variance(inputs: np.ndarray) -> np.ndarray:
    """Scale each row of ``inputs`` (B, n_samples) to zero mean and unit variance.

    Identical to ``Wav2Vec2FeatureExtractor(do_normalize=True)`` on unpadded
    inputs: ``(x - mean) / sqrt(var + 1e-7)``, statistics per row, in float32.
    Returns a new float32 array (B, n_samples).
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    mean = inputs.mean(axis=1, keepdims=True)
    variance = inputs.var(axis=1, keepdims=True)
    return ((inputs - mean) / np.sqrt(variance + NORMALISATION_EPSILON)).astype(np.float32, copy=False)


def checked_hidden_states(outputs: Any, expected: int, model_label: str) -> tuple[Any, ...]:
    """The per-layer outputs of a transformers model, the last one being ``last_hidden_state``.

    ``expected`` is ``num_hidden_layers + 1``. Raises RuntimeError when the model
    returned no hidden states although they were requested (the failure mode
    of MERT-v1-330M's remote code under transformers 5.x) or a different number.

    The last entry is replaced by ``outputs.last_hidden_state``. Under
    transformers 4.x they are the same tensor; under 5.x (seen with 5.17) the
    last hidden state of a pre-layer-norm encoder (``do_stable_layer_norm``,
    e.g. MERT-v1-330M) is recorded *before* the encoder's final layer norm, so
    "the last layer" would silently change meaning with the library version.
    """
    hidden = getattr(outputs, "hidden_states", None)
    if hidden is None or len(hidden) == 0:
        transformers = import_transformers()
        raise RuntimeError(
            f"{model_label} returned no hidden states although output_hidden_states=True was requested "
            f"(transformers {transformers.__version__}). MERT-v1-330M's remote code does this under "
            "transformers 5.x: run it in the env of envs/mert.yaml, which pins transformers 4.x."
        )
    if len(hidden) != expected:
        raise RuntimeError(
            f"{model_label} returned {len(hidden)} hidden states; its config promises {expected} "
            "(num_hidden_layers + 1), so layer indices would be wrong"
        )
    return (*hidden[:-1], outputs.last_hidden_state)


class Wav2Vec2FamilyBackbone(TorchBackbone):
    """Base plug-in for HuBERT-like transformers encoders; see the module docstring.

    Subclasses set ``plugin``, ``default_sample_rate``, ``plugin_options``
    (starting from :data:`COMMON_ENCODER_OPTIONS`) and implement
    :meth:`reference_config`, :meth:`build_random_model` and
    :meth:`load_pretrained_model`.
    """

    def __init__(self, name: str, options: Mapping[str, Any] | None = None):
        super().__init__(name, options)
        params = self.params
        if params["pooling"] not in POOLINGS:
            raise self.option_error("pooling", params["pooling"], f"one of {POOLINGS} (mean over time)")
        if not isinstance(params["normalize"], bool):
            raise self.option_error("normalize", params["normalize"], "true or false")
        if not isinstance(params["random_init"], bool):
            raise self.option_error("random_init", params["random_init"], "true or false")
        model_config = params["model_config"] or {}
        if not isinstance(model_config, Mapping):
            raise self.option_error("model_config", model_config, "a mapping of config fields")
        if model_config and not params["random_init"]:
            raise self.option_error("model_config", dict(model_config), "empty unless random_init is true")
        self.window_samples = self._window_samples(params["window_seconds"])
        self.check_model_options()

        if params["random_init"]:
            config = {**self.reference_config(), **model_config}
            self.model = self.build_random_model(config)
            overridden = " with model_config overrides" if model_config else ""
            self.weights_label = f"random-init {type(self.model).__name__} shaped as {params['weights']}{overridden}"
        else:
            if not params["weights"]:
                raise self.option_error("weights", params["weights"], "a hub id or a local model directory")
            self.model = self.load_pretrained_model(params["weights"], params["revision"])
            self.weights_label = str(params["weights"])
        self.model.eval().to(self.device)
        self.n_hidden_states = int(self.model.config.num_hidden_layers) + 1
        self.hidden_size = int(self.model.config.hidden_size)
        key = f"extraction.backbones.{name}.layer"
        self.layers = resolve_layers(params["layer"], self.n_hidden_states, key=key)
        self.single_layer = is_single_layer(params["layer"])

    # -- what each model provides -------------------------------------------------

    def check_model_options(self) -> None:
        """Validate the subclass's own options before the model is loaded (default: none)."""

    @abc.abstractmethod
    def reference_config(self) -> dict[str, Any]:
        """Config fields of the real model's architecture (used for random init)."""

    @abc.abstractmethod
    def build_random_model(self, config: dict[str, Any]) -> Any:
        """A transformers model of this architecture with random weights from ``config`` fields."""

    @abc.abstractmethod
    def load_pretrained_model(self, weights: str, revision: str | None) -> Any:
        """The pretrained model from a hub id or local directory."""

    # -- the Backbone interface -----------------------------------------------------

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.single_layer:
            return (self.hidden_size,)
        return (len(self.layers), self.hidden_size)

    def embed(self, audio: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 clips -> ``(B, d)`` or ``(B, n_layers, d)`` float32."""
        torch = import_torch()
        clips = np.asarray(audio, dtype=np.float32)
        inputs = split_into_windows(clips, self.window_samples)
        n_windows = inputs.shape[0] // clips.shape[0]
        if self.params["normalize"]:
            inputs = zero_mean_unit_variance(inputs)
        with self.run_inference():
            outputs = self.model(
                input_values=to_device(inputs, self.device), output_hidden_states=True, return_dict=True
            )
            hidden = checked_hidden_states(outputs, self.n_hidden_states, self.weights_label)
            # Pool layer by layer in float32: stacking all layers' frames first
            # would hold n_layers x frames x d floats per clip on the device.
            pooled = torch.stack([time_mean(hidden[index].float()) for index in self.layers], dim=1)
            pooled = average_windows(pooled, n_windows)  # (B, n_layers, d)
        if self.single_layer:
            pooled = pooled[:, 0]
        return to_numpy(pooled)

    def describe_model(self) -> dict[str, Any]:
        transformers = import_transformers()
        torch = import_torch()
        window = self.params["window_seconds"]
        return {
            "weights": self.weights_label,
            "revision": self.params["revision"],
            "architecture": type(self.model).__name__,
            "layer": self.layers[0] if self.single_layer else self.layers,
            "layer_index_meaning": "0 = transformer input (projected CNN features), i = output of transformer layer i",
            "n_hidden_states": self.n_hidden_states,
            "pooling": "mean over time" + (f" within {window:g}-s windows, then mean over windows" if window else ""),
            "window_seconds": window,
            "normalize": "zero mean, unit variance per model input" if self.params["normalize"] else None,
            "native_sample_rate": self.default_sample_rate,
            "n_parameters": int(sum(parameter.numel() for parameter in self.model.parameters())),
            "model_config": dict(self.params["model_config"] or {}) if self.params["random_init"] else None,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "device": str(self.device),
        }

    # -- helpers ------------------------------------------------------------------------

    def _window_samples(self, window_seconds: Any) -> int | None:
        if window_seconds is None:
            return None
        if isinstance(window_seconds, bool) or not isinstance(window_seconds, (int, float)) or window_seconds <= 0:
            raise self.option_error("window_seconds", window_seconds, "null (whole clip) or a positive number of seconds")
        window = round(float(window_seconds) * self.sample_rate)
        if window_seconds < self.min_seconds:
            raise self.option_error("window_seconds", window_seconds, f"at least {self.min_seconds:g} s")
        return window


# Plug-in keys shared by every wav2vec2-family backbone; subclasses override defaults.
COMMON_ENCODER_OPTIONS: dict[str, Any] = {
    "weights": None,  # hub id or local directory
    "revision": None,  # hub revision (branch, tag or commit) for reproducible downloads
    "random_init": False,  # build the architecture with random weights instead of loading
    "model_config": {},  # config fields overriding the reference architecture (random_init only)
    "layer": -1,  # int, list of ints, or "all"
    "pooling": "mean",
    "window_seconds": None,  # None: feed the whole clip; else average fixed windows
    "normalize": True,  # zero mean / unit variance per input, as the models' processors do
}


# Tiny shapes of the two real architectures (MERT = HuBERT layout, Music2Vec = Data2VecAudio),
# as `model_config` overrides with `random_init: true`: the same feature encoder depth (320
# samples per frame), positional convolution and transformer as the real models, at toy width,
# for the unit tests and the CPU benchmark.
TINY_HUBERT_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [8] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}
TINY_DATA2VEC_CONFIG: dict[str, Any] = {
    **{key: value for key, value in TINY_HUBERT_CONFIG.items() if key != "num_conv_pos_embedding_groups"},
    "num_conv_pos_embeddings": 2,
    "conv_pos_kernel_size": 5,
}
