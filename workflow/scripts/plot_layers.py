"""The layer study's figures (rule plot_layers): probe heat map; fusion weights beside the probe per layer."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("plot_layers")

import pandas as pd

from musicrec.io import atomic_path
from musicrec.layers.plots import fusion_weights_plot, probe_heatmap

table = pd.read_csv(snakemake.input.table)  # noqa: F821
weights = pd.read_csv(snakemake.input.weights)  # noqa: F821
backbone = snakemake.wildcards.layered  # noqa: F821
for figure, path in (
    (probe_heatmap(table, backbone), snakemake.output.heatmap),  # noqa: F821
    (fusion_weights_plot(weights, table, backbone), snakemake.output.weights),  # noqa: F821
):
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=130, format="png")
