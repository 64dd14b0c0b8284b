"""Sum up what the data stage left out (log rows, tracks, test pairs) in one table and one console line."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import console_line, report_errors_on_console

report_errors_on_console("data_quality")

import json
from pathlib import Path

from musicrec.data.quality import data_quality_summary, data_quality_table
from musicrec.io import write_csv

reports = {name: json.loads(Path(snakemake.input[name]).read_text()) for name in ("mapping_report", "split_report", "catalogue_report")}  # noqa: F821
table = data_quality_table(**reports)
write_csv(table, snakemake.output.table)  # noqa: F821
summary = data_quality_summary(table)
print(table.to_string(index=False), file=sys.stderr)
print(summary, file=sys.stderr)
console_line(summary)
