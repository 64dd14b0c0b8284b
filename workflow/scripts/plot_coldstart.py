"""Rule plot_coldstart: the synthetic cold-start curve (random and active selection) and the real-listener curve.

input: curve, convergence, real (summaries). params: embedding. output: plot, real (.png).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("plot_coldstart")

import pandas as pd

from musicrec.io import write_atomic
from musicrec.users.plots import curve_plot

inputs, params = snakemake.input, snakemake.params  # noqa: F821
curve = pd.read_csv(inputs.curve)
reference = {"auc": float(pd.read_csv(inputs.convergence)["reference"].iloc[0])}
figure = curve_plot(curve, ["distance", "auc", "ndcg@10"], f"Cold start on synthetic users ({params.embedding})", reference)
write_atomic(snakemake.output.plot, lambda path: figure.savefig(path, format="png", dpi=110))  # noqa: F821
real = pd.read_csv(inputs.real)
figure = curve_plot(real, ["ndcg@10", "recall@10"], f"Cold start on real listeners ({params.embedding})", panel_key="none")
write_atomic(snakemake.output.real, lambda path: figure.savefig(path, format="png", dpi=110))  # noqa: F821
