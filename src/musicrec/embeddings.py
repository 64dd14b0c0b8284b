"""The embedding registry and the derived embeddings.

Every ``(n_tracks, d)`` matrix with a sidecar is an *embedding*, and every embedding gets
the recommenders, the evaluation, the statistics, the tables and the plots. Two kinds:

* extracted: an enabled backbone block of ``extraction.backbones`` that yields one vector
  per track. A block with ``layer: all`` (or a list of layers) is a *multi-layer
  extraction*: it is written to ``layers/{backbone}.npy`` and never fed to a recommender
  itself; embeddings are derived from it.
* derived: a block of the config's ``embeddings`` section, ``{derive: <kind>, source: ...}``,
  made by the rule of its kind from its source:

  - ``standardise``: per-dimension z-scores of an embedding (``mfcc-z``): raw MFCC values in
    the hundreds saturate a trained model's sigmoid;
  - ``layer``: one layer of a multi-layer extraction (``layer``: its name or index);
  - ``layer_mean``: the mean over a multi-layer extraction's layers;
  - ``ids``: no audio at all: seeded random vectors (``dim``) that trained recommenders
    learn as an item table (the id-only baseline; KNN does not use it).

Branch stages add embeddings of their own (``declare_embedding`` in ``rules/common.smk``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

DERIVATIONS = ("standardise", "layer", "layer_mean", "ids")
MULTI_LAYER = "all"


def is_multi_layer(block: Mapping[str, Any]) -> bool:
    """Whether a backbone block extracts several layers (``layer: all`` or a list)."""
    return block.get("layer") == MULTI_LAYER or isinstance(block.get("layer"), list)


def enabled_backbones(backbones: Mapping[str, Mapping], plugins: list[str]) -> dict[str, dict]:
    """name -> block (``plugin`` filled in) of every enabled backbone; errors name the key."""
    blocks = {}
    for name, block in backbones.items():
        block = dict(block)
        if not block.pop("enabled", True):
            continue
        block.setdefault("plugin", name)
        if block["plugin"] not in plugins:
            raise ValueError(
                f"config extraction.backbones.{name}.plugin: unknown plug-in {block['plugin']!r}; expected one of "
                f"{sorted(plugins)}"
            )
        blocks[name] = block
    if not blocks:
        raise ValueError("config extraction.backbones: every backbone is disabled")
    return blocks


def derived_embeddings(blocks: Mapping[str, Mapping], backbones: Mapping[str, Mapping]) -> dict[str, dict]:
    """name -> checked block of every derived embedding of the ``embeddings`` config section.

    A source must be an embedding (extracted 2-D backbone or another derived one, for
    ``standardise``) or a multi-layer backbone (``layer``, ``layer_mean``); errors name the key.
    """
    single = {name for name, block in backbones.items() if not is_multi_layer(block)}
    layered = {name for name, block in backbones.items() if is_multi_layer(block)}
    checked: dict[str, dict] = {}
    for name, block in (blocks or {}).items():
        block = dict(block)
        key = f"config embeddings.{name}"
        if name in backbones:
            raise ValueError(f"{key}: the name is already an extracted backbone; pick another")
        kind = block.get("derive")
        if kind not in DERIVATIONS:
            raise ValueError(f"{key}.derive: {kind!r}; expected one of {DERIVATIONS}")
        source = block.get("source")
        embeddings = sorted(single | set(blocks or {}) - {name})
        if kind == "standardise" and source not in embeddings:
            raise ValueError(f"{key}.source: {source!r} is not an embedding; expected one of {embeddings}")
        if kind in ("layer", "layer_mean") and source not in layered:
            raise ValueError(
                f"{key}.source: {source!r} is not an enabled multi-layer backbone (layer: all); "
                f"multi-layer backbones: {sorted(layered)}"
            )
        if kind == "layer" and "layer" not in block:
            raise ValueError(f"{key}: a layer embedding needs 'layer' (a layer name or index of {source})")
        dim = block.get("dim")  # YAML's true is an int to Python, not a width
        if kind == "ids" and not (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1):
            raise ValueError(f"{key}.dim: {block.get('dim')!r}; the id table needs an integer width >= 1")
        checked[name] = block
    for name in checked:
        chain = [name]
        while checked.get(chain[-1], {}).get("derive") == "standardise" and checked[chain[-1]]["source"] in checked:
            chain.append(checked[chain[-1]]["source"])
            if chain[-1] in chain[:-1]:
                raise ValueError(f"config embeddings.{name}.source: the sources form a cycle ({' -> '.join(chain)})")
    return checked


def standardise(matrix: np.ndarray) -> np.ndarray:
    """Per-dimension z-scores over the finite rows; NaN rows (failed audio) stay NaN.

    A constant dimension becomes 0 (nothing to standardise). (n, d) -> (n, d) float32.
    """
    values = np.asarray(matrix, dtype=np.float64)
    finite = np.isfinite(values).all(axis=1)
    if not finite.any():
        raise ValueError("every row is NaN (all tracks failed): there is nothing to standardise")
    mean = values[finite].mean(axis=0)
    spread = values[finite].std(axis=0)
    out = (values - mean) / np.where(spread > 0, spread, 1.0)
    out[:, spread == 0] = 0.0
    out[~finite] = np.nan
    return out.astype(np.float32)


def layer_index(layer: int | str, layer_names: list[str]) -> int:
    """Position of ``layer`` (a name or an index, negative from the end) among ``layer_names``."""
    if isinstance(layer, str) and not layer.lstrip("-").isdigit():
        if layer not in layer_names:
            raise ValueError(f"layer {layer!r} not among the extracted layers {layer_names}")
        return layer_names.index(layer)
    index = int(layer)
    if not -len(layer_names) <= index < len(layer_names):
        raise ValueError(f"layer {index} out of range: {len(layer_names)} layers extracted ({layer_names})")
    return index % len(layer_names)


def select_layer(layers: np.ndarray, layer_dims: list[int], index: int) -> np.ndarray:
    """One layer of a (n_tracks, n_layers, d_max) extraction, its padding cut: (n_tracks, layer_dims[index])."""
    return np.ascontiguousarray(layers[:, index, : layer_dims[index]], dtype=np.float32)


def layer_mean(layers: np.ndarray, layer_dims: list[int]) -> np.ndarray:
    """Mean over layers: (n_tracks, d). Needs layers of one width (zero-padding would dilute)."""
    if len(set(layer_dims)) != 1:
        raise ValueError(
            f"layers of different widths {layer_dims} have no plain mean; derive single layers, or a learned "
            "fusion with a per-layer projection (layers branch)"
        )
    return layers.mean(axis=1).astype(np.float32)


def id_table(n_tracks: int, dim: int, seed: int) -> np.ndarray:
    """Seeded N(0, 1/dim) vectors: the initial item table of the id-only baseline."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_tracks, dim)) / np.sqrt(dim)).astype(np.float32)
