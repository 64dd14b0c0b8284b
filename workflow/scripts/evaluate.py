"""Score one run on one embedding and one split part: on the common item set, mean over seeds.

Rule evaluate. input: recs (one per seed), curves (trained runs, one per seed), truth (the
split part), sidecars (embeddings whose failed tracks leave the item set). params: k,
confidence, interval, personalised (diagnose collapse). output: per_user (parquet), summary (csv), report (json).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console(f"evaluate {snakemake.wildcards.run} on {snakemake.wildcards.embedding} ({snakemake.wildcards.part})")  # noqa: F821

import numpy as np
import pandas as pd

from musicrec.evaluation.metrics import RECS_COLUMNS, TRUTH_COLUMNS
from musicrec.evaluation.scoring import score_run
from musicrec.io import read_sidecar, write_csv, write_json, write_parquet
from musicrec.recommenders.inputs import excluded_rows_from_sidecar

inputs, params, output = snakemake.input, snakemake.params, snakemake.output  # noqa: F821
excluded = np.unique(
    np.concatenate([np.zeros(0, np.int64)] + [excluded_rows_from_sidecar(read_sidecar(p), p) for p in inputs.sidecars])
)
per_user, summary, report = score_run(
    [pd.read_parquet(path, columns=[*RECS_COLUMNS, "score"]) for path in inputs.recs],
    pd.read_parquet(inputs.truth, columns=list(TRUTH_COLUMNS)),
    k=int(params.k),
    confidence=float(params.confidence),
    interval=params.interval,
    excluded_items=excluded,
    curves_by_seed=[pd.read_csv(path) for path in inputs.curves],
    diagnose_collapse=bool(params.personalised),
)
write_parquet(per_user, output.per_user)
write_csv(summary, output.summary)
write_json(report, output.report)
print(summary.to_string(index=False), file=sys.stderr)
if report["collapse"]["collapsed"]:
    print(f"COLLAPSED: {'; '.join(report['collapse']['reasons'])}", file=sys.stderr)
