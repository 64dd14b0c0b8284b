"""Bar chart of a comparison table: one panel per metric, one bar per backbone."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_WIDTH_INCHES = 2.8
PANEL_HEIGHT_INCHES = 3.6


def bar_plot(table: pd.DataFrame, metrics: list[str], title: str) -> Figure:
    """Draw each metric's mean per backbone with its interval as error bars.

    One panel per metric, because the metrics live on different scales
    (precision@50 is a few hundredths where hitrate@50 is near one) and a
    shared axis would flatten the small ones. Backbones keep the table's
    order and one colour across panels.

    Args:
        table: one row per backbone with a ``backbone`` column and, for each
            metric ``m``, columns ``m``, ``m_lower`` and ``m_upper`` (as
            :func:`musicrec.evaluation.tables.make_table` returns). A NaN
            bound (an interval over one user) draws no error bar.
        metrics: the metric columns to draw, one panel each, in order.
        title: the figure's title.

    Returns:
        A figure on the Agg canvas (no pyplot state, no display needed), of
        ``len(metrics)`` axes; ``figure.savefig(path)`` writes it.

    Raises:
        ValueError: on no metrics, no rows, or a missing column.
    """
    if not metrics:
        raise ValueError("bar_plot needs at least one metric")
    if table.empty:
        raise ValueError("bar_plot needs at least one backbone row")
    needed = ["backbone"] + [f"{metric}{suffix}" for metric in metrics for suffix in ("", "_lower", "_upper")]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; it has {list(table.columns)}")

    figure = Figure(figsize=(PANEL_WIDTH_INCHES * len(metrics), PANEL_HEIGHT_INCHES), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    backbones = table["backbone"].astype(str).tolist()
    positions = np.arange(len(backbones))
    colours = [f"C{i % 10}" for i in range(len(backbones))]
    for ax, metric in zip(axes, metrics, strict=True):
        mean = table[metric].to_numpy(dtype=np.float64)
        # matplotlib wants non-negative distances below and above each bar.
        below = np.nan_to_num(mean - table[f"{metric}_lower"].to_numpy(dtype=np.float64), nan=0.0)
        above = np.nan_to_num(table[f"{metric}_upper"].to_numpy(dtype=np.float64) - mean, nan=0.0)
        ax.bar(positions, mean, color=colours, yerr=np.vstack([below, above]), capsize=3)
        ax.set_title(metric)
        ax.set_xticks(positions, backbones, rotation=45, ha="right")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    figure.suptitle(title)
    return figure
