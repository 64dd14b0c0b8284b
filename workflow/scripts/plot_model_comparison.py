"""One figure comparing every recommender run on every backbone (test HitRate and NDCG @k)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import pandas as pd

from musicrec.evaluation.plots import model_comparison_plot

k = int(snakemake.params.k)
tables = pd.concat([pd.read_csv(path) for path in snakemake.input.tables], ignore_index=True)
figure = model_comparison_plot(
    tables, metrics=[f"hitrate@{k}", f"ndcg@{k}"], title=f"recommender x backbone, test @{k} with 95 % intervals"
)
figure.savefig(snakemake.output.plot, dpi=150)
