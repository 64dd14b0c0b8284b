"""Score one recommender/backbone run on one split part: per-user metrics and their summary."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import pandas as pd

from musicrec.evaluation.intervals import summarise
from musicrec.evaluation.metrics import RECS_COLUMNS, TRUTH_COLUMNS, evaluate

recs = pd.read_parquet(snakemake.input.recs, columns=list(RECS_COLUMNS))
truth = pd.read_parquet(snakemake.input.truth, columns=list(TRUTH_COLUMNS))
per_user = evaluate(recs, truth, k=int(snakemake.params.k))
summary = summarise(per_user, confidence=float(snakemake.params.confidence))

per_user.to_parquet(snakemake.output.per_user, index=False)
summary.to_csv(snakemake.output.summary, index=False)
print(f"{snakemake.input.recs} against {snakemake.input.truth}:", file=sys.stderr)
print(summary.to_string(index=False), file=sys.stderr)
