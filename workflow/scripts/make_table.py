"""Gather one recommender family's test summaries (run x backbone) into its comparison table."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import json

import pandas as pd

from musicrec.evaluation.tables import make_table, stack_runs

runs = [tuple(pair) for pair in snakemake.params.runs]
summary_paths = list(snakemake.input.summaries)
sidecar_paths = list(snakemake.input.sidecars)
if not len(runs) == len(summary_paths) == len(sidecar_paths):
    raise ValueError(
        f"{len(runs)} (run, backbone) pairs, {len(summary_paths)} summaries and "
        f"{len(sidecar_paths)} sidecars: expected one of each per pair, in the same order"
    )

per_run = {}
for (run, backbone), summary_path, sidecar_path in zip(runs, summary_paths, sidecar_paths):
    with open(sidecar_path) as handle:
        sidecar = json.load(handle)
    for key in ("dim", "n_failed"):
        if not isinstance(sidecar.get(key), int):
            raise ValueError(
                f"sidecar {sidecar_path} of backbone {backbone!r}: expected an integer {key!r}, "
                f"got {sidecar.get(key)!r}"
            )
    inputs = per_run.setdefault(run, ({}, {}, {}))
    inputs[0][backbone] = pd.read_csv(summary_path)
    inputs[1][backbone] = sidecar["dim"]
    inputs[2][backbone] = sidecar["n_failed"]

k = int(snakemake.params.k)
table = stack_runs(
    {run: make_table(summaries, dims, failures, k=k) for run, (summaries, dims, failures) in per_run.items()}
)
table.to_csv(snakemake.output.table, index=False)
print(table.to_string(index=False), file=sys.stderr)
