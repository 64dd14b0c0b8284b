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


def run_labels(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``backbone`` relabelled ``backbone (run)`` when it stacks several runs."""
    if "model" not in table.columns or table["model"].nunique() < 2:
        return table
    return table.assign(backbone=table["backbone"].astype(str) + " (" + table["model"].astype(str) + ")")


def model_comparison_plot(tables: pd.DataFrame, metrics: list[str], title: str) -> Figure:
    """Grouped bars: backbones along x, one bar per recommender run, intervals as error bars.

    In: the family tables stacked (columns ``model``, ``backbone``, and ``m``, ``m_lower``,
    ``m_upper`` per metric), the metrics to draw (one panel each) and a title. Out: an Agg
    figure. A backbone missing from a run leaves a gap rather than a misleading zero.
    """
    if not metrics or tables.empty:
        raise ValueError("model_comparison_plot needs at least one metric and one row")
    runs = list(dict.fromkeys(tables["model"].astype(str)))
    backbones = list(dict.fromkeys(tables["backbone"].astype(str)))
    width = 0.8 / len(runs)
    figure = Figure(figsize=(max(4.0, 1.2 * len(backbones)) * len(metrics), PANEL_HEIGHT_INCHES), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    indexed = tables.assign(model=tables["model"].astype(str), backbone=tables["backbone"].astype(str)).set_index(
        ["model", "backbone"]
    )
    for ax, metric in zip(axes, metrics, strict=True):
        for i, run in enumerate(runs):
            rows = indexed.reindex([(run, backbone) for backbone in backbones])
            mean = rows[metric].to_numpy(dtype=np.float64)
            below = np.nan_to_num(mean - rows[f"{metric}_lower"].to_numpy(dtype=np.float64), nan=0.0)
            above = np.nan_to_num(rows[f"{metric}_upper"].to_numpy(dtype=np.float64) - mean, nan=0.0)
            positions = np.arange(len(backbones)) - 0.4 + width * (i + 0.5)
            ax.bar(positions, mean, width=width, yerr=np.vstack([below, above]), capsize=2, label=run, color=f"C{i % 10}")
        ax.set_title(metric)
        ax.set_xticks(np.arange(len(backbones)), backbones, rotation=45, ha="right")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    # Below the panels, where it can cover no bar.
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(runs), fontsize="small")
    figure.suptitle(title)
    return figure


def training_curves_plot(curves: dict[str, pd.DataFrame], title: str) -> Figure:
    """Validation (solid) and training (dashed) loss per epoch, one colour per backbone.

    In: backbone -> curves frame with ``epoch``, ``train_loss``, ``val_loss`` (epoch 0 is
    the untrained model: NaN train loss, drawn as a gap). Out: an Agg figure with one axis.
    Losses of different backbones share the axis; they are comparable within a model only.
    """
    if not curves:
        raise ValueError("training_curves_plot needs at least one backbone's curves")
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for i, (backbone, frame) in enumerate(curves.items()):
        missing = {"epoch", "train_loss", "val_loss"} - set(frame.columns)
        if missing:
            raise ValueError(f"curves of {backbone!r} lack column(s) {sorted(missing)}")
        ax.plot(frame["epoch"], frame["val_loss"], color=f"C{i % 10}", label=f"{backbone} val")
        ax.plot(frame["epoch"], frame["train_loss"], color=f"C{i % 10}", linestyle="--", alpha=0.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (dashed: train)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.suptitle(title)
    return figure
