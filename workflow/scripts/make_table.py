"""Gather one recommender's test summaries, one per backbone, into its comparison table."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import json

import pandas as pd

from musicrec.evaluation.tables import make_table

backbones = list(snakemake.params.backbones)
summary_paths = list(snakemake.input.summaries)
sidecar_paths = list(snakemake.input.sidecars)
if not len(backbones) == len(summary_paths) == len(sidecar_paths):
    raise ValueError(
        f"{len(backbones)} backbones {backbones}, {len(summary_paths)} summaries and "
        f"{len(sidecar_paths)} sidecars: expected one of each per backbone, in the same order"
    )

dims, failures = {}, {}
for backbone, path in zip(backbones, sidecar_paths):
    with open(path) as handle:
        sidecar = json.load(handle)
    for key in ("dim", "n_failed"):
        if not isinstance(sidecar.get(key), int):
            raise ValueError(
                f"sidecar {path} of backbone {backbone!r}: expected an integer {key!r}, got {sidecar.get(key)!r}"
            )
    dims[backbone] = sidecar["dim"]
    failures[backbone] = sidecar["n_failed"]

summaries = {backbone: pd.read_csv(path) for backbone, path in zip(backbones, summary_paths)}
table = make_table(summaries, dims, failures, k=int(snakemake.params.k))
table.to_csv(snakemake.output.table, index=False)
print(table.to_string(index=False), file=sys.stderr)
