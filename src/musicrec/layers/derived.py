"""Embeddings derived from a layer stack: one layer, the mean of layers, and their names.

Each is a ``(n_tracks, d)`` float32 matrix + sidecar (``kind: derived``, ``source``: the
stack), so the embedding registry hands it to every recommender like an extracted one.

Names (literal at workflow-planning time, so the DAG never depends on a probe's outcome):

- ``{backbone}@last``: the last layer, the paper's choice;
- ``{backbone}@best``: the layer the probe ranks first (:func:`best_layer`; the probe uses
  only catalogue audio and labels with grouped cross-validation, never the recommendation
  test split); its sidecar says which layer it is;
- ``{backbone}@{layer}``: a layer named explicitly (a name from the stack or an index);
- ``{backbone}-mean``: the mean of layers (:func:`mean_embedding`);
- ``{backbone}-fused``: the learned fusion (:mod:`musicrec.layers.fusion_training`).

The mean of layers of *different widths* is taken on the common zero-padded width after
standardising each layer's columns over tracks: column j then averages the j-th feature of
the layers that have one, every layer weighs the same whatever its scale, and padded columns
contribute 0. For equal widths (transformer layers) this is the mean of standardised hidden
states; ``standardise: false`` gives the raw mean, which the widest-scaled layers dominate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from musicrec.layers.stack import LayerStack, LayerStackError, resolve_layer

SPECIAL_PICKS = ("best", "last", "mean", "fused")


def embedding_name(backbone: str, pick: object) -> str:
    """The embedding name of a ``layers.recommend`` entry: ``mean``/``fused`` -> ``b-mean``, else ``b@pick``."""
    if pick in ("mean", "fused"):
        return f"{backbone}-{pick}"
    text = str(pick)
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", text):
        raise LayerStackError(f"layers.recommend: {pick!r} cannot name an embedding (letters, digits, _ . - only)")
    return f"{backbone}@{text}"


def stack_failures(stack: LayerStack, track_ids: Sequence[str]) -> list[dict]:
    """The failure records of a derived embedding: the stack's own, plus any other non-finite row."""
    listed = {int(f["track_idx"]): f for f in stack.failures}
    for row in np.flatnonzero(~stack.valid_rows()):
        listed.setdefault(int(row), {"track_idx": int(row), "track_id": str(track_ids[row]),
                                     "reason": "non-finite values in the layer stack"})
    return [listed[row] for row in sorted(listed)]


def layer_embedding(stack: LayerStack, index: int) -> np.ndarray:
    """Layer ``index`` (n, dims[index]) float32, failed rows NaN."""
    if not 0 <= index < stack.n_layers:
        raise LayerStackError(f"{stack.source}: layer index {index} out of range 0..{stack.n_layers - 1}")
    matrix = np.array(stack.layer(index), dtype=np.float32)
    matrix[~stack.valid_rows()] = np.nan
    return matrix


def mean_embedding(stack: LayerStack, standardise: bool = True) -> np.ndarray:
    """The mean over layers (n, d_max) float32 (see the module docstring); failed rows NaN."""
    valid = stack.valid_rows()
    if not valid.any():
        raise LayerStackError(f"{stack.source}: every track failed; nothing to average")
    values = np.asarray(stack.values, dtype=np.float64)
    total = np.zeros((values.shape[0], values.shape[2]))
    for index, width in enumerate(stack.dims):
        layer = values[:, index, :width]
        if standardise:
            mean = layer[valid].mean(axis=0)
            scale = layer[valid].std(axis=0)
            layer = (layer - mean) / np.where(scale > 0, scale, 1.0)
        total[:, :width] += layer
    total /= stack.n_layers
    total[~valid] = np.nan
    return total.astype(np.float32)


def best_layer(table: pd.DataFrame, criterion: str) -> tuple[int, str, float]:
    """The layer ranked first by the probe table (:func:`musicrec.layers.probe.probe_table`).

    ``criterion``: a target name (its R² or accuracy, mean over outer folds) or ``mean_r2``
    (the mean R² over the regression targets). Ties go to the earlier layer.
    Out: ``(layer_index, layer_name, score)``. Raises LayerStackError for an unknown target.
    """
    if criterion == "mean_r2":
        rows = table[table["task"] == "regression"]
    else:
        rows = table[table["target"] == criterion]
    if rows.empty:
        known = sorted(table["target"].unique())
        raise LayerStackError(f"layers.select.by: {criterion!r} is not a probed target; expected mean_r2 or one of {known}")
    scores = rows.groupby(["layer_index", "layer"], sort=True)["mean"].mean().reset_index()
    best = scores.iloc[int(np.argmax(scores["mean"].to_numpy()))]
    return int(best["layer_index"]), str(best["layer"]), float(best["mean"])


def pick_layer(stack: LayerStack, pick: object, table: pd.DataFrame | None, criterion: str) -> tuple[int, dict]:
    """The layer index a ``layers.recommend`` entry means, and sidecar provenance saying why."""
    if pick == "best":
        if table is None:
            raise LayerStackError("layers.recommend: 'best' needs the probe table (rule probe_layers)")
        index, name, score = best_layer(table, criterion)
        return index, {"layer": name, "layer_index": index, "chosen_by": f"probe:{criterion}", "probe_score": score}
    index = resolve_layer(pick, stack.names, key=f"layers.recommend entry {pick!r}")
    return index, {"layer": stack.names[index], "layer_index": index, "chosen_by": f"config:{pick}"}
