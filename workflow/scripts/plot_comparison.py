"""Draw one recommender family's comparison table as bar charts with confidence intervals."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("plot_comparison")  # noqa: F821

import pandas as pd

from musicrec.evaluation.metrics import metric_columns
from musicrec.evaluation.plots import bar_plot, confidence_label, run_labels
from musicrec.io import write_figure

params = snakemake.params  # noqa: F821
k = int(params.k)
table = run_labels(pd.read_csv(snakemake.input.table))  # noqa: F821
users = ", ".join(sorted({f"{n} users" for n in table["n_users"]}))
figure = bar_plot(
    table,
    metrics=metric_columns(k),
    title=f"{params.family}: test metrics @{k}, mean over users ({users}) with {confidence_label(params.confidence)}",
)
write_figure(figure, snakemake.output.plot)  # noqa: F821
