"""Figures of the layer study: the probe heat map and the fusion weights beside the probe per layer."""

from __future__ import annotations

import numpy as np
import pandas as pd


def probe_heatmap(table: pd.DataFrame, title: str):
    """Layer x target heat map of the probe score (R² or accuracy), annotated with selectivity.

    In: :func:`musicrec.layers.probe.probe_table`'s frame. Out: a matplotlib Figure; cells show
    the mean score and, below it, the selectivity against the random-weights control where
    there is one, else against the shuffled targets (marked ``s``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = table.drop_duplicates("layer_index").sort_values("layer_index")["layer"].tolist()
    targets = list(dict.fromkeys(table["target"]))
    score = table.pivot(index="target", columns="layer_index", values="mean").loc[targets]
    use_random = table["random_mean"].notna().any()
    selectivity = table.pivot(
        index="target", columns="layer_index", values="selectivity_random" if use_random else "selectivity_shuffled"
    ).loc[targets]
    figure, axis = plt.subplots(figsize=(1.1 * len(layers) + 3, 0.42 * len(targets) + 1.5))
    image = axis.imshow(np.clip(score.to_numpy(), -0.5, 1.0), cmap="viridis", vmin=-0.5, vmax=1.0, aspect="auto")
    for (i, j), value in np.ndenumerate(score.to_numpy()):
        mark = "" if use_random else "s"
        colour = "white" if value < 0.4 else "black"
        axis.text(j, i, f"{value:.2f}\n{selectivity.iloc[i, j]:+.2f}{mark}", ha="center", va="center",
                  fontsize=6.5, color=colour)
    axis.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
    axis.set_yticks(range(len(targets)), targets)
    figure.colorbar(image, ax=axis, label="R² (targets) / accuracy (labels), clipped to [-0.5, 1]")
    control = "random-weights control" if use_random else "shuffled-target control"
    axis.set_title(f"{title}: probe score per layer (second line: selectivity vs {control})", fontsize=9)
    figure.tight_layout()
    return figure


def fusion_weights_plot(weights: pd.DataFrame, table: pd.DataFrame, title: str):
    """The fusion's mean layer weights (bars, ± std over tracks) beside the probe per layer (lines).

    Lines: the mean R² over the regression targets and each label target's accuracy.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    x = weights["layer_index"].to_numpy()
    left.bar(x, weights["weight_mean"], yerr=weights["weight_std"], color="tab:blue", capsize=2)
    left.axhline(1.0 / len(x), color="grey", linestyle=":", label="uniform")
    left.set_ylabel("fusion weight")
    left.set_title("learned layer weights (mean over tracks)", fontsize=9)
    left.legend(fontsize=7)
    regression = table[table["task"] == "regression"].groupby("layer_index")["mean"].mean()
    right.plot(regression.index, regression.to_numpy(), marker="o", label="mean R² (15 targets)")
    for label, rows in table[table["task"] == "classification"].groupby("target"):
        rows = rows.sort_values("layer_index")
        right.plot(rows["layer_index"], rows["mean"], marker="s", label=f"{label} accuracy")
        right.plot(rows["layer_index"], rows["chance"], linestyle=":", color="grey")
    right.set_title("probe per layer (dotted: chance)", fontsize=9)
    right.legend(fontsize=7)
    for axis in (left, right):
        axis.set_xticks(x, weights["layer"], rotation=45, ha="right")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
