"""Backbone plug-ins: the registry mapping plug-in names to their classes.

Classes are named as ``"module:Class"`` strings and imported only when a
plug-in is loaded, so listing or validating backbones never imports TensorFlow
or torch. The interface every plug-in implements, and how to write one, is in
:mod:`musicrec.backbones.base`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musicrec.backbones.base import Backbone

_PLUGINS = {
    "musicnn": "musicrec.backbones.musicnn:MusicnnBackbone",
    "mfcc": "musicrec.backbones.mfcc:MfccBackbone",
    "random": "musicrec.backbones.random_baseline:RandomBackbone",
    "mert": "musicrec.backbones.mert:MertBackbone",
    "music2vec": "musicrec.backbones.music2vec:Music2VecBackbone",
    "encodecmae": "musicrec.backbones.encodecmae:EncodecMaeBackbone",
    "jukemir": "musicrec.backbones.jukemir:JukemirBackbone",
    "musicfm": "musicrec.backbones.musicfm:MusicFmBackbone",
    "whisper": "musicrec.backbones.whisper:WhisperBackbone",
}

# Each plug-in's own option names (its class's ``plugin_options``), written out so the
# workflow can check a config's backbone blocks at start-up without importing torch or
# TensorFlow. tests/unit/test_config_checks.py asserts this equals every class's real options.
PLUGIN_OPTION_NAMES = {
    "musicnn": ("weights", "layer", "pooling", "patch_batch"),
    "mfcc": ("n_mfcc", "n_fft", "hop_length", "n_mels"),
    "random": ("dim",),
    "mert": (
        "weights", "revision", "random_init", "model_config", "layer", "pooling", "window_seconds", "normalize",
        "loader",
    ),
    "music2vec": (
        "weights", "revision", "random_init", "model_config", "layer", "pooling", "window_seconds", "normalize",
    ),
    "encodecmae": ("weights", "chunk_seconds", "pooling"),
    "jukemir": ("weights", "layer", "pooling", "context_seconds"),
    "musicfm": ("weights", "stats", "layer", "pooling", "flash", "code_dir"),
    "whisper": ("weights", "sha256", "random_init", "layer", "pooling", "crop"),
}


def available_backbones() -> list[str]:
    """The registered plug-in names, sorted."""
    return sorted(_PLUGINS)


def backbone_class(plugin: str) -> type[Backbone]:
    """Import and return the class of plug-in ``plugin``; ValueError if none is registered under that name."""
    if plugin not in _PLUGINS:
        raise ValueError(f"unknown backbone plug-in {plugin!r}; expected one of {available_backbones()}")
    module_name, class_name = _PLUGINS[plugin].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_backbone(name: str, options: Mapping[str, Any] | None = None) -> Backbone:
    """Build backbone ``name`` from its config block ``options``, loading its model once.

    The plug-in is ``options["plugin"]``, defaulting to ``name``. Options are
    validated by the plug-in (unknown keys are an error naming the key and the
    backbone); see :data:`musicrec.backbones.base.COMMON_OPTIONS`.
    """
    options = dict(options or {})
    return backbone_class(options.get("plugin", name))(name, options)
