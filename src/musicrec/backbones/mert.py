"""MERT-v1 (Li et al., 2023): layer-wise track embeddings at 24 kHz.

Two sizes are published, ``m-a-p/MERT-v1-330M`` (default; 24 transformer
layers of 1024) and ``m-a-p/MERT-v1-95M`` (12 layers of 768), both 75 frames
per second of 24-kHz audio. transformers has no native MERT:

* MERT-v1-95M has exactly HuBERT's architecture and parameter names
  (``do_stable_layer_norm: false``, group-norm feature encoder), so
  :class:`transformers.HubertModel` loads its weights (``loader: hubert``).
* MERT-v1-330M ships its own modelling code (``MERTModel``, ``trust_remote_code``;
  ``loader: remote``). That code assembles transformers' HuBERT modules and
  relies on the encoder returning per-layer hidden states, which under
  transformers 5.x it no longer does: envs/mert.yaml pins transformers 4.x, and
  :func:`musicrec.backbones.wav2vec2_family.checked_hidden_states` fails loudly
  should hidden states come back empty.

``loader: auto`` (default) picks ``hubert`` for weights whose name contains
"95M" and ``remote`` otherwise.

Options (beyond the common ones): ``weights`` (hub id or local directory),
``revision``, ``layer`` (int, list or ``"all"``; default ``-1``, the last
layer = ``last_hidden_state``; index 0 is the transformer input), ``pooling``
(``mean`` over time), ``window_seconds`` (``null``: the whole clip at once, as
the paper fed 30 s; ``5``: the 5-s context MERT was pre-trained on, windows
averaged), ``normalize`` (zero mean, unit variance per input, as MERT's
``Wav2Vec2FeatureExtractor`` with ``do_normalize: true`` does), ``random_init`` and
``model_config`` (see :mod:`musicrec.backbones.wav2vec2_family`).

Random initialisation builds a :class:`transformers.HubertModel` with the
shape of the chosen size, read from the MERT repository's Hugging Face configs
(``scripts/hf_config/mert_large.json`` and ``mert_base.json``). For the 95M
model this is its architecture. For the 330M model it is an honest stand-in:
MERT's remote ``MERTModel`` is a HubertModel subclass whose extra switches
(a CQT branch, DeepNorm residuals, attention "relaxation") change the
computation only when enabled; with the 330M's stable-layer-norm encoder the
attention relaxation is not used, and the relaxation itself only subtracts a
per-row constant before the softmax. The stand-in has the same layer count,
widths, feature encoder and frame rate, hence the same cost.
"""

from __future__ import annotations

from typing import Any

from musicrec.backbones.torch_common import import_transformers
from musicrec.backbones.wav2vec2_family import COMMON_ENCODER_OPTIONS, Wav2Vec2FamilyBackbone

# The feature encoder both sizes share: 7 convolutions, 320 samples per frame (75 Hz at 24 kHz).
_MERT_FEATURE_ENCODER = {
    "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False,
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "feat_proj_layer_norm": True,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}

# Transformer shapes from the MERT repository's scripts/hf_config/mert_{large,base}.json.
MERT_V1_330M_SHAPE = {
    **_MERT_FEATURE_ENCODER,
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "do_stable_layer_norm": True,
}
MERT_V1_95M_SHAPE = {
    **_MERT_FEATURE_ENCODER,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "do_stable_layer_norm": False,
}

LOADERS = ("auto", "hubert", "remote")


def is_95m(weights: str | None) -> bool:
    """Whether ``weights`` (hub id or path) names the 95M model."""
    return weights is not None and "95m" in str(weights).lower()


def choose_loader(loader: str, weights: str | None) -> str:
    """``hubert`` or ``remote`` for the config value ``loader`` and ``weights`` (see the module docstring)."""
    if loader == "auto":
        return "hubert" if is_95m(weights) else "remote"
    return loader


class MertBackbone(Wav2Vec2FamilyBackbone):
    """MERT-v1 (330M or 95M): ``(B, n)`` 24-kHz clips -> ``(B, d)`` or ``(B, n_layers, d)``."""

    plugin = "mert"
    default_sample_rate = 24000
    default_batch_size = 8
    plugin_options = {**COMMON_ENCODER_OPTIONS, "weights": "m-a-p/MERT-v1-330M", "loader": "auto"}

    def check_model_options(self) -> None:
        if self.params["loader"] not in LOADERS:
            raise self.option_error("loader", self.params["loader"], f"one of {LOADERS}")

    def reference_config(self) -> dict[str, Any]:
        return dict(MERT_V1_95M_SHAPE if is_95m(self.params["weights"]) else MERT_V1_330M_SHAPE)

    def build_random_model(self, config: dict[str, Any]) -> Any:
        transformers = import_transformers()
        return transformers.HubertModel(transformers.HubertConfig(**config))

    def load_pretrained_model(self, weights: str, revision: str | None) -> Any:
        transformers = import_transformers()
        if choose_loader(self.params["loader"], weights) == "hubert":
            return transformers.HubertModel.from_pretrained(weights, revision=revision)
        return transformers.AutoModel.from_pretrained(weights, revision=revision, trust_remote_code=True)

    def describe_model(self) -> dict[str, Any]:
        if self.params["random_init"]:
            loader = "random init (HubertModel)"
        else:
            loader = choose_loader(self.params["loader"], self.params["weights"])
        return {**super().describe_model(), "loader": loader}
