"""The cold-start curve as a figure: one line per method, its bootstrap interval as a band."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def curve_plot(
    summary: pd.DataFrame, metrics: list[str], title: str, reference: dict | None = None, panel_key: str = "selection"
) -> Figure:
    """Panels (rows: ``panel_key`` values, columns: metrics) of mean vs N with [lower, upper] bands.

    In: a :func:`musicrec.users.coldstart.bootstrap_summary` frame (``method, n, metric, mean,
    lower, upper`` and ``panel_key`` when present), the metrics to draw, a title, and optional
    reference values per metric (a dashed line: the aligner's own vectors). N is on a symlog axis
    so that N = 0 (the prior) is shown.
    """
    panels = list(dict.fromkeys(summary[panel_key])) if panel_key in summary else [None]
    figure, axes = plt.subplots(len(panels), len(metrics), figsize=(4.2 * len(metrics), 3.4 * len(panels)), squeeze=False)
    for row, panel in enumerate(panels):
        part = summary if panel is None else summary[summary[panel_key] == panel]
        for column, metric in enumerate(metrics):
            ax = axes[row][column]
            for method, frame in part[part["metric"] == metric].groupby("method", sort=False):
                frame = frame.sort_values("n")
                (line,) = ax.plot(frame["n"], frame["mean"], marker="o", markersize=3, label=method)
                ax.fill_between(frame["n"], frame["lower"], frame["upper"], color=line.get_color(), alpha=0.18)
            if reference and metric in reference:
                ax.axhline(reference[metric], color="black", linestyle="--", linewidth=1, label="reference")
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlabel("N scored songs" if panel_key == "selection" else "N train plays revealed")
            ax.set_ylabel(metric)
            ax.set_title(metric if panel is None else f"{metric} ({panel} selection)")
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.08 + 0.02 * (len(labels) > 5), 1, 0.95))
    return figure
