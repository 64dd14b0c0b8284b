"""Gather one recommender family's test summaries (run x embedding) into its comparison table.

Rule make_table. params.cells: (run, embedding) pairs in the order of input.summaries and
input.reports; input.sidecars: the embeddings' sidecars (size, failed tracks); track_ids:
the catalogue (for the narrow-catalogue warning). output: table (csv, full precision) and
display (rounded, intervals and seed spread in one cell: the report's).
"""

import json
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import console_line, report_errors_on_console  # noqa: E402

report_errors_on_console("make_table")  # noqa: F821

import pandas as pd

from musicrec.evaluation.tables import Cell, display_table, make_table, narrow_catalogue_warnings
from musicrec.io import read_sidecar, write_csv
from musicrec.recommenders.registry import NO_EMBEDDING

inputs, params = snakemake.input, snakemake.params  # noqa: F821
sidecars = {read_sidecar(path)["embedding"]: read_sidecar(path) for path in inputs.sidecars}
cells = []
for (run, embedding), summary, report in zip(params.cells, inputs.summaries, inputs.reports, strict=True):
    sidecar = sidecars.get(embedding, {}) if embedding != NO_EMBEDDING else {}
    cells.append(
        Cell(
            run,
            embedding,
            pd.read_csv(summary),
            json.loads(open(report).read()),
            dim=int(sidecar.get("dim", 0)),
            n_failed=int(sidecar.get("n_failed", 0)),
        )
    )
table = make_table(cells, k=int(params.k))
n_tracks = len(pd.read_csv(inputs.track_ids))
narrow = narrow_catalogue_warnings(
    n_tracks, {name: s["dim"] for name, s in sidecars.items() if not s.get("trainable")}, params.trained
)
for warning in narrow.values():
    print(f"WARNING: {warning}", file=sys.stderr)
    console_line(f"make_table {snakemake.wildcards.family}: WARNING: {warning}")  # noqa: F821
write_csv(table, snakemake.output.table)  # noqa: F821
write_csv(display_table(table, k=int(params.k), narrow=narrow), snakemake.output.display)  # noqa: F821
print(table.to_string(index=False), file=sys.stderr)
