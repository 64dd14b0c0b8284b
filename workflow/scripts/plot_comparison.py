"""Draw one recommender family's comparison table as bar charts with confidence intervals."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import pandas as pd

from musicrec.evaluation.metrics import metric_columns
from musicrec.evaluation.plots import bar_plot, run_labels

k = int(snakemake.params.k)
table = run_labels(pd.read_csv(snakemake.input.table))
figure = bar_plot(
    table,
    metrics=metric_columns(k),
    title=f"{snakemake.params.model}: test metrics @{k}, mean over users with confidence interval",
)
figure.savefig(snakemake.output.plot, dpi=150)
