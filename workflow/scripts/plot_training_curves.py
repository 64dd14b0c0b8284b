"""Training and validation loss per epoch of one trained run, every embedding and seed."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("plot_training_curves")  # noqa: F821

import pandas as pd

from musicrec.evaluation.plots import training_curves_plot
from musicrec.io import write_figure

params = snakemake.params  # noqa: F821
curves = {
    (embedding, int(seed)): pd.read_csv(path)
    for (embedding, seed), path in zip(params.curve_keys, snakemake.input.curves, strict=True)  # noqa: F821
}
figure = training_curves_plot(curves, title=f"{params.run}: loss per epoch")
write_figure(figure, snakemake.output.plot)  # noqa: F821
