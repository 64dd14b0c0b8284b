"""Plots of the comparison tables: one panel per metric, one bar per embedding.

An embedding keeps its colour in every plot (:func:`embedding_colours`), a collapsed run
is hatched and labelled, and interval labels come from the configured confidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_WIDTH_INCHES = 2.8
PANEL_HEIGHT_INCHES = 3.6
# Colours of the embeddings every demo has; any other name gets a fixed colour from its hash.
PINNED_COLOURS = {
    "musicnn": "#1f77b4",
    "mfcc": "#2ca02c",
    "random": "#7f7f7f",
    "none": "#d62728",
    "ids": "#9467bd",
    "popularity": "#e6ab02",
    "mfcc-z": "#98df8a",
}
# matplotlib's tab20 less the pinned colours: hashed names collide less often than in 10.
PALETTE = [
    "#ff7f0e", "#ffbb78", "#aec7e8", "#ff9896", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2",
    "#f7b6d2", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5", "#393b79", "#637939",
]


def embedding_colours(names: Iterable[str]) -> dict[str, str]:
    """name -> colour, the same in every plot and every run (a stable hash, not the row order)."""
    colours = {}
    for name in names:
        digest = int(hashlib.blake2b(str(name).encode(), digest_size=4).hexdigest(), 16)
        colours[name] = PINNED_COLOURS.get(str(name), PALETTE[digest % len(PALETTE)])
    return colours


def confidence_label(confidence: float) -> str:
    return f"{confidence * 100:g} % intervals"


def bar_plot(table: pd.DataFrame, metrics: list[str], title: str) -> Figure:
    """Draw each metric's mean per backbone with its interval as error bars.

    One panel per metric, because the metrics live on different scales
    (precision@50 is a few hundredths where hitrate@50 is near one) and a
    shared axis would flatten the small ones. Backbones keep the table's
    order and one colour across panels.

    Args:
        table: one row per bar with a ``label`` and an ``embedding`` column
            (its colour), optionally ``collapsed`` (hatched), and, for each
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
    needed = ["label", "embedding"] + [f"{metric}{suffix}" for metric in metrics for suffix in ("", "_lower", "_upper")]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; it has {list(table.columns)}")

    figure = Figure(figsize=(PANEL_WIDTH_INCHES * len(metrics), PANEL_HEIGHT_INCHES), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    backbones = table["label"].astype(str).tolist()
    positions = np.arange(len(backbones))
    palette = embedding_colours(table["embedding"].astype(str))
    colours = [palette[name] for name in table["embedding"].astype(str)]
    collapsed = table["collapsed"].astype(bool).to_numpy() if "collapsed" in table else np.zeros(len(table), bool)
    for ax, metric in zip(axes, metrics, strict=True):
        mean = table[metric].to_numpy(dtype=np.float64)
        # matplotlib wants non-negative distances below and above each bar.
        below = np.nan_to_num(mean - table[f"{metric}_lower"].to_numpy(dtype=np.float64), nan=0.0)
        above = np.nan_to_num(table[f"{metric}_upper"].to_numpy(dtype=np.float64) - mean, nan=0.0)
        bars = ax.bar(positions, mean, color=colours, yerr=np.vstack([below, above]), capsize=3)
        for bar, flat in zip(bars, collapsed):
            if flat:
                bar.set_hatch("xx")
                bar.set_alpha(0.4)
        ax.bar_label(bars, labels=[f"{m:.2f}" for m in mean], fontsize="x-small", padding=2)
        ax.set_title(metric)
        ax.set_xticks(positions, backbones, rotation=45, ha="right")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    figure.suptitle(title)
    return figure


def run_labels(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a bar ``label``: the embedding, ``embedding (run)`` when it stacks several
    runs, ``popularity`` for the embedding-free baseline, and a COLLAPSED mark."""
    several = table["run"].nunique() > 1
    labels = []
    for row in table.itertuples(index=False):
        label = row.run if row.embedding == "none" else row.embedding
        if several and row.embedding != "none":
            label += f" ({row.run})"
        if getattr(row, "collapsed", False):
            label += " COLLAPSED"
        labels.append(label)
    return table.assign(label=labels)


def model_comparison_plot(tables: pd.DataFrame, metrics: list[str], title: str) -> Figure:
    """Grouped bars: backbones along x, one bar per recommender run, intervals as error bars.

    In: the family tables stacked (columns ``run``, ``embedding``, and ``m``, ``m_lower``,
    ``m_upper`` per metric), the metrics to draw (one panel each) and a title. Out: an Agg
    figure. A backbone missing from a run leaves a gap rather than a misleading zero.
    """
    if not metrics or tables.empty:
        raise ValueError("model_comparison_plot needs at least one metric and one row")
    tables = tables.drop_duplicates(["run", "embedding"])
    runs = list(dict.fromkeys(tables["run"].astype(str)))
    backbones = list(dict.fromkeys(tables["embedding"].astype(str)))
    width = 0.8 / len(runs)
    figure = Figure(figsize=(max(4.0, 1.2 * len(backbones)) * len(metrics), PANEL_HEIGHT_INCHES), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    indexed = tables.assign(run=tables["run"].astype(str), embedding=tables["embedding"].astype(str)).set_index(
        ["run", "embedding"]
    )
    for ax, metric in zip(axes, metrics, strict=True):
        for i, run in enumerate(runs):
            rows = indexed.reindex([(run, backbone) for backbone in backbones])
            mean = rows[metric].to_numpy(dtype=np.float64)
            below = np.nan_to_num(mean - rows[f"{metric}_lower"].to_numpy(dtype=np.float64), nan=0.0)
            above = np.nan_to_num(rows[f"{metric}_upper"].to_numpy(dtype=np.float64) - mean, nan=0.0)
            positions = np.arange(len(backbones)) - 0.4 + width * (i + 0.5)
            ax.bar(
                positions, mean, width=width, yerr=np.vstack([below, above]), capsize=2, label=run, color=f"C{i % 10}"
            )
        ax.set_title(metric)
        ax.set_xticks(np.arange(len(backbones)), backbones, rotation=45, ha="right")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    # Below the panels, where it can cover no bar.
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(runs), fontsize="small")
    figure.suptitle(title)
    return figure


def training_curves_plot(curves: dict[tuple[str, int], pd.DataFrame], title: str) -> Figure:
    """Validation (solid) and training (dashed) loss per epoch, one colour per embedding.

    In: (embedding, seed) -> curves frame with ``epoch``, ``train_loss``, ``val_loss``
    (epoch 0 is the untrained model: NaN train loss, drawn as a gap). An embedding has its
    colour of every other plot; its seeds are lines of that colour. Out: an Agg figure with
    one axis. Losses of different embeddings share the axis; they are comparable within a
    model only.
    """
    if not curves:
        raise ValueError("training_curves_plot needs at least one embedding's curves")
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    colours = embedding_colours(embedding for embedding, _ in curves)
    labelled = set()
    for (embedding, seed), frame in curves.items():
        missing = {"epoch", "train_loss", "val_loss"} - set(frame.columns)
        if missing:
            raise ValueError(f"curves of {embedding!r} (seed {seed}) lack column(s) {sorted(missing)}")
        label = None if embedding in labelled else f"{embedding} val"
        labelled.add(embedding)
        ax.plot(frame["epoch"], frame["val_loss"], color=colours[embedding], label=label)
        ax.plot(frame["epoch"], frame["train_loss"], color=colours[embedding], linestyle="--", alpha=0.6)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("loss (dashed: train; one line per seed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.suptitle(title)
    return figure
