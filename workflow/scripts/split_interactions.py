"""Split the mapped plays into train / val / test by the Music4All-Onion time-based protocol."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console

report_errors_on_console("split_interactions")

import json

from musicrec.data.logio import read_plays
from musicrec.io import write_json, write_parquet
from musicrec.data.split import PARTS, split_interactions

params = snakemake.params
parts, report = split_interactions(
    read_plays(snakemake.input.plays),
    start_date=params.start_date,
    test_date=params.test_date,
    end_date=params.end_date,
    val_fraction=float(params.val_fraction),
    seed=int(params.seed),
)
for part in PARTS:
    write_parquet(parts[part], snakemake.output[part])
write_json(report, snakemake.output.report)
print(json.dumps(report, indent=2), file=sys.stderr)
