"""Heat map of the paired differences between the embeddings of one run (one metric)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("plot_significance")  # noqa: F821

import pandas as pd

from musicrec.evaluation.significance_plots import significance_heatmap
from musicrec.io import write_figure

params = snakemake.params  # noqa: F821
tests = pd.read_csv(snakemake.input.tests)  # noqa: F821
figure = significance_heatmap(tests, metric=params.metric, confidence=float(params.confidence))
write_figure(figure, snakemake.output.plot)  # noqa: F821
