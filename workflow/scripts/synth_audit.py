"""Merge the shards into the triplets and the summary pool, and write the teacher audit."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("synth_audit")

import json

import numpy as np
import pandas as pd

from musicrec.io import write_csv, write_parquet
from musicrec.synth.audit import audit_table
from musicrec.synth.embedders import make_scorer
from musicrec.synth.negatives import summary_pool

inputs = snakemake.input  # noqa: F821
positives = pd.concat([pd.read_parquet(p) for p in inputs.positives], ignore_index=True)
triplets = pd.concat([pd.read_parquet(p) for p in inputs.triplets], ignore_index=True)
triplets = triplets.sort_values(["user_id", "positive"], kind="stable").reset_index(drop=True)
stats = {phase: [json.loads(open(p).read()) for p in inputs[f"{phase}_stats"]] for phase in ("positives", "negatives")}
too_short = sum(s["too_short_users"] for s in stats["positives"])

prefers_negative = np.zeros(0, dtype=bool)
if len(triplets):
    scores = make_scorer(snakemake.params.baseline, snakemake.params.model_cache).score(  # noqa: F821
        triplets["context"].tolist(), triplets[["pos_summary", "neg_summary"]].values.tolist())
    prefers_negative = scores[:, 1] > scores[:, 0]
write_parquet(triplets, snakemake.output.triplets)  # noqa: F821
write_parquet(summary_pool(positives), snakemake.output.pool)  # noqa: F821
audit = audit_table(stats, positives, triplets, prefers_negative, too_short)
write_csv(audit, snakemake.output.audit)  # noqa: F821
print(audit.to_string(index=False), file=sys.stderr)
