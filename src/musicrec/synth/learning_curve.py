"""The student's learning curve as a figure: training loss and held-out retrieval per epoch."""

from __future__ import annotations

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

HELD_OUT_COLUMNS = {"held_out_r_at_1": "held-out R@1", "held_out_mrr": "held-out MRR"}


def learning_curve_plot(curve: pd.DataFrame, title: str, chance: dict[str, float] | None = None) -> Figure:
    """Two panels over the epochs: the training loss, and R@1 / MRR on the held-out users' triplets.

    In: the student's curves frame (``epoch``, ``loss``; ``held_out_r_at_1``, ``held_out_mrr``
    when there were held-out users; epoch 0 is MiniLM before fine-tuning, its loss NaN), a title,
    and optional chance levels per held-out column (dotted lines). Out: an Agg figure.
    """
    missing = {"epoch", "loss"} - set(curve.columns)
    if missing:
        raise ValueError(f"student curves lack column(s) {sorted(missing)}; expected epoch, loss, held_out_*")
    if curve.empty:
        raise ValueError("student curves are empty: no epoch was recorded")
    figure = Figure(figsize=(8.4, 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    loss_ax, held_ax = figure.subplots(1, 2)
    trained = curve[curve["epoch"] > 0]
    loss_ax.plot(trained["epoch"], trained["loss"], marker="o", color="C0")
    loss_ax.set_title("training loss (MNRL)")
    loss_ax.set_xlabel("epoch")
    held_out = [column for column in HELD_OUT_COLUMNS if column in curve]
    for index, column in enumerate(held_out):
        colour = f"C{index + 1}"
        held_ax.plot(curve["epoch"], curve[column], marker="o", color=colour, label=HELD_OUT_COLUMNS[column])
        if chance and column in chance:
            held_ax.axhline(chance[column], color=colour, linestyle=":", linewidth=1, label=f"chance ({HELD_OUT_COLUMNS[column]})")
    held_ax.set_title("held-out users (epoch 0: MiniLM as shipped)")
    held_ax.set_xlabel("epoch")
    held_ax.set_ylim(0, 1)
    if held_out:
        held_ax.legend(fontsize="small")
    else:
        held_ax.text(0.5, 0.5, "no held-out users", ha="center", va="center", transform=held_ax.transAxes)
    for ax in (loss_ax, held_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    figure.suptitle(title)
    return figure
