"""Heat map of the paired differences between the embeddings of one recommender run."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from musicrec.evaluation.plots import embedding_colours
from musicrec.evaluation.significance import TEST_COLUMNS

CELL_INCHES = 0.75
LABEL_TINT = 0.35


def difference_matrix(tests: pd.DataFrame, metric: str, run: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``(E, E)`` matrix of mean differences row - column, and where they are significant.

    In: :func:`musicrec.evaluation.significance.paired_tests` rows; ``run``
    may be omitted when they hold one run. Out: ``(diff, significant)``, two
    frames indexed and labelled by embedding, ordered by mean (highest
    first): ``diff.loc[a, b] = mean_a - mean_b`` (antisymmetric, NaN on the
    diagonal) and ``significant.loc[a, b]`` the pair's Holm-corrected
    randomisation call (symmetric, False on the diagonal).

    Raises:
        ValueError: on a missing column, several runs without ``run``, or no
            row for that run and metric.
    """
    missing = [column for column in TEST_COLUMNS if column not in tests.columns]
    if missing:
        raise ValueError(f"paired tests lack column(s) {missing}; they have {list(tests.columns)}")
    runs = list(dict.fromkeys(tests["run"]))
    if run is None:
        if len(runs) != 1:
            raise ValueError(f"paired tests hold runs {runs}; say which one to draw")
        run = runs[0]
    rows = tests[(tests["run"] == run) & (tests["metric"] == metric)]
    if rows.empty:
        metrics = sorted(set(tests.loc[tests["run"] == run, "metric"]))
        raise ValueError(f"paired tests have no row for run {run!r} and metric {metric!r} (metrics: {metrics})")
    means = pd.concat(
        [
            rows[["a", "mean_a"]].set_axis(["embedding", "mean"], axis=1),
            rows[["b", "mean_b"]].set_axis(["embedding", "mean"], axis=1),
        ]
    ).drop_duplicates("embedding")
    order = means.sort_values("mean", ascending=False, kind="stable")["embedding"].tolist()
    diff = pd.DataFrame(np.nan, index=order, columns=order)
    significant = pd.DataFrame(False, index=order, columns=order)
    for row in rows.itertuples(index=False):
        diff.loc[row.a, row.b], diff.loc[row.b, row.a] = row.diff, 0.0 - row.diff
        significant.loc[row.a, row.b] = significant.loc[row.b, row.a] = bool(row.significant)
    return diff, significant


def significance_heatmap(tests: pd.DataFrame, metric: str, confidence: float, run: str | None = None) -> Figure:
    """Draw one run's paired differences in ``metric``: cell (a, b) is mean_a - mean_b.

    Colour is the difference on a diverging scale centred at 0 (blue: the
    row's embedding is better); each cell prints the difference and a star
    where the Holm-corrected paired randomisation test is significant at
    ``alpha = 1 - confidence``. Rows and columns are ordered by mean, best
    first, so a good embedding reads as a blue row; the tick labels are
    tinted with each embedding's colour from
    :func:`musicrec.evaluation.plots.embedding_colours`, as in every other plot.

    In: :func:`musicrec.evaluation.significance.paired_tests` rows (see
    :func:`difference_matrix`), the metric, the confidence the tests used, the
    run (optional when the rows hold one). Out: an Agg figure with one heat
    map axis and a colour bar.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    diff, significant = difference_matrix(tests, metric, run)
    run = run if run is not None else tests["run"].iloc[0]
    names = diff.index.tolist()
    n = len(names)
    n_users = int(tests.loc[(tests["run"] == run) & (tests["metric"] == metric), "n_users"].iloc[0])
    values = diff.to_numpy(dtype=np.float64)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    limit = limit if limit > 0 else 1.0

    side = max(4.0, CELL_INCHES * n + 2.5)
    figure = Figure(figsize=(side + 1.0, side), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", norm=TwoSlopeNorm(0.0, -limit, limit))
    ax.set_facecolor("#eeeeee")  # the diagonal: no comparison
    font_size = float(np.clip(90.0 / max(n, 1), 5.0, 10.0))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            star = "*" if significant.iat[i, j] else ""
            strong = abs(values[i, j]) > 0.6 * limit
            ax.text(
                j,
                i,
                f"{values[i, j]:+.3f}{star}",
                ha="center",
                va="center",
                fontsize=font_size,
                color="white" if strong else "black",
            )
    ax.set_xticks(np.arange(n), names, rotation=45, ha="right")
    ax.set_yticks(np.arange(n), names)
    # Black text on a tint of the embedding's colour: readable for light colours too.
    colours = embedding_colours(names)
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_bbox({"facecolor": colours[label.get_text()], "alpha": LABEL_TINT, "edgecolor": "none", "pad": 2})
    ax.set_xlabel("b (column)")
    ax.set_ylabel("a (row)")
    colourbar = figure.colorbar(image, ax=ax, shrink=0.8)
    colourbar.set_label(f"mean {metric}: row - column")
    alpha = 1.0 - confidence
    ax.set_title(
        f"{run}: paired differences in {metric} over {n_users} users\n"
        f"* significant at {confidence * 100:g} % confidence (alpha = {alpha:g}), "
        "paired randomisation test, Holm-corrected",
        fontsize="medium",
    )
    return figure
