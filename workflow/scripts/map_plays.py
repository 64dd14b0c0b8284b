"""Map the listening log's track ids onto embedding rows: plays.parquet plus a report of what was left out."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console

report_errors_on_console("map_plays")

import json

from musicrec.data.logio import map_log_file
from musicrec.io import write_json

report = map_log_file(
    snakemake.input.log,
    snakemake.input.track_ids,
    snakemake.output.plays,
    strict=bool(snakemake.params.strict),
    chunk_rows=int(snakemake.params.chunk_rows),
)
write_json(report, snakemake.output.report)
print(json.dumps(report, indent=2), file=sys.stderr)
