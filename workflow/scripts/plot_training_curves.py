"""Training and validation loss per epoch of one trained recommender, all backbones."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import pandas as pd

from musicrec.evaluation.plots import training_curves_plot

curves = {backbone: pd.read_csv(path) for backbone, path in zip(snakemake.params.backbones, snakemake.input.curves)}
figure = training_curves_plot(curves, title=f"{snakemake.params.model}: loss per epoch")
figure.savefig(snakemake.output.plot, dpi=150)
