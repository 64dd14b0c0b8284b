"""R@1 and MRR of the positive among {positive, negative, k distractors} on held-out triplets, per scorer."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("benchmark_embedders")

import pandas as pd

from musicrec.io import write_csv, write_parquet
from musicrec.synth.embedder_benchmark import benchmark, holdout_users
from musicrec.synth.embedders import make_scorer

params = snakemake.params  # noqa: F821
triplets = pd.read_parquet(snakemake.input.triplets)  # noqa: F821
pool = pd.read_parquet(snakemake.input.pool)  # noqa: F821
held_out = holdout_users(triplets["user_id"], float(params.holdout_fraction), int(params.seed))
test = triplets[triplets["user_id"].isin(held_out)].reset_index(drop=True)
scorers = {name: make_scorer(name, params.model_cache) for name in params.scorers}
scorers["student"] = make_scorer("student", model_dir=snakemake.input.student)  # noqa: F821
table, ranks = benchmark(scorers, test, pool, int(params.distractors), int(params.seed),
                         confidence=float(params.confidence), easy_r1=float(params.easy_r1))
write_csv(table, snakemake.output.table)  # noqa: F821
write_parquet(ranks, snakemake.output.ranks)  # noqa: F821
print(table.to_string(index=False), file=sys.stderr)
