"""Cost per embedding and per recommender run, from every job's benchmark file (rule cost_table)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("cost_table")  # noqa: F821

import os

import pandas as pd

from musicrec.evaluation.costs import cost_table
from musicrec.io import read_sidecar, write_csv

inputs, params = snakemake.input, snakemake.params  # noqa: F821
sidecars = {read_sidecar(path)["embedding"]: read_sidecar(path) for path in inputs.sidecars}
sizes = {name: os.path.getsize(path[: -len(".json")] + ".npy") for name, path in zip(sidecars, inputs.sidecars)}
runs = list(dict.fromkeys(pd.concat([pd.read_csv(path) for path in inputs.tables])["run"]))
table = cost_table(params.benchmarks, sidecars, sizes, runs)
write_csv(table, snakemake.output.costs)  # noqa: F821
print(table.to_string(index=False), file=sys.stderr)
