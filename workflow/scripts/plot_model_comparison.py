"""One figure comparing every recommender run on every embedding (test HitRate and NDCG @k)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("plot_model_comparison")  # noqa: F821

import pandas as pd

from musicrec.evaluation.plots import confidence_label, model_comparison_plot
from musicrec.io import write_figure

params = snakemake.params  # noqa: F821
k = int(params.k)
tables = pd.concat([pd.read_csv(path) for path in snakemake.input.tables], ignore_index=True)  # noqa: F821
figure = model_comparison_plot(
    tables,
    metrics=[f"hitrate@{k}", f"ndcg@{k}"],
    title=f"recommender x embedding, test @{k} with {confidence_label(params.confidence)}",
)
write_figure(figure, snakemake.output.plot)  # noqa: F821
