"""Score one run on one embedding, on the validation and the test part: common item set, mean over seeds.

Rule evaluate. input: recs (one per seed), curves (trained runs, one per seed), val and test
(the split parts), sidecars (embeddings whose failed tracks leave the item set). params: parts,
k, confidence, interval, personalised (diagnose collapse). output: per part, per_user
(parquet), summary (csv), report (json): ``{part}_per_user``, ``{part}_summary``, ``{part}_report``.
One job scores both parts: the recommendations and curves are read once.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console(f"evaluate {snakemake.wildcards.run} on {snakemake.wildcards.embedding}")  # noqa: F821

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
recs = [pd.read_parquet(path, columns=[*RECS_COLUMNS, "score"]) for path in inputs.recs]
curves = [pd.read_csv(path) for path in inputs.curves]
for part in params.parts:
    per_user, summary, report = score_run(
        recs,
        pd.read_parquet(inputs[part], columns=list(TRUTH_COLUMNS)),
        k=int(params.k),
        confidence=float(params.confidence),
        interval=params.interval,
        excluded_items=excluded,
        curves_by_seed=curves,
        diagnose_collapse=bool(params.personalised),
    )
    write_parquet(per_user, output[f"{part}_per_user"])
    write_csv(summary, output[f"{part}_summary"])
    write_json(report, output[f"{part}_report"])
    print(f"{part}:", summary.to_string(index=False), sep="\n", file=sys.stderr)
    if report["collapse"]["collapsed"]:
        print(f"COLLAPSED ({part}): {'; '.join(report['collapse']['reasons'])}", file=sys.stderr)
