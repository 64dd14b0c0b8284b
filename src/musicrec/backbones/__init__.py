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
