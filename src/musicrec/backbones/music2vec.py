"""Music2Vec-v1 (Li et al., 2022): a Data2VecAudio encoder trained on music, 768-d at 16 kHz.

``m-a-p/music2vec-v1`` is a :class:`transformers.Data2VecAudioModel` (12
transformer layers of 768, 50 frames per second of **16-kHz** audio). The
paper's extraction fed it 24-kHz audio without resampling, which plays every
track 1.5 times slower and lower to a model trained at 16 kHz; ``sample_rate:
24000`` in the backbone's config reproduces that as a compatibility switch.

Its model card pairs it with the processor of
``facebook/data2vec-audio-base-960h`` (``Wav2Vec2FeatureExtractor`` with
``do_normalize``); ``normalize: true`` (default) does the same zero-mean,
unit-variance scaling in NumPy. The default layer is the last (``-1``, equal
to ``last_hidden_state``, what the paper averaged over time).

The published ``config.json`` sets ``vocab_size`` to a file path (a leftover
of its training run). transformers 4.57 accepts it; stricter config
validation in later versions is reported to reject it. Loading therefore
replaces a non-integer ``vocab_size`` with the default (it sizes only a CTC
head this model does not have).

Options are those of :mod:`musicrec.backbones.wav2vec2_family`; random
initialisation uses transformers' default ``Data2VecAudioConfig``, which is
the data2vec-audio base architecture Music2Vec-v1 shares.
"""

from __future__ import annotations

from typing import Any

from musicrec.backbones.torch_common import import_transformers
from musicrec.backbones.wav2vec2_family import COMMON_ENCODER_OPTIONS, Wav2Vec2FamilyBackbone

# Data2VecAudioConfig's default; the field only sizes a CTC head.
DEFAULT_VOCAB_SIZE = 32


def repaired_config_dict(config_dict: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Data2VecAudio ``config.json`` dict whose ``vocab_size`` is an integer.

    music2vec-v1's published config holds a file path there; any value that is
    not an integer becomes :data:`DEFAULT_VOCAB_SIZE`.
    """
    repaired = dict(config_dict)
    vocab_size = repaired.get("vocab_size")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        repaired["vocab_size"] = DEFAULT_VOCAB_SIZE
    return repaired


class Music2VecBackbone(Wav2Vec2FamilyBackbone):
    """Music2Vec-v1: ``(B, n)`` 16-kHz clips -> ``(B, 768)`` (or ``(B, n_layers, 768)``)."""

    plugin = "music2vec"
    default_sample_rate = 16000
    default_batch_size = 8
    plugin_options = {**COMMON_ENCODER_OPTIONS, "weights": "m-a-p/music2vec-v1"}

    def reference_config(self) -> dict[str, Any]:
        return {}  # Data2VecAudioConfig's defaults are the data2vec-audio base shape

    def build_random_model(self, config: dict[str, Any]) -> Any:
        transformers = import_transformers()
        return transformers.Data2VecAudioModel(transformers.Data2VecAudioConfig(**config))

    def load_pretrained_model(self, weights: str, revision: str | None) -> Any:
        transformers = import_transformers()
        config_class = transformers.Data2VecAudioConfig
        config_dict, _ = config_class.get_config_dict(weights, revision=revision)
        config = config_class.from_dict(repaired_config_dict(config_dict))
        return transformers.Data2VecAudioModel.from_pretrained(weights, config=config, revision=revision)
