"""Paired per-user tests between every pair of what one run compares (its embeddings, popularity).

Rule compare_embeddings. params.cells: (run, embedding) pairs in the order of
input.per_user / input.reports (test part); confidence; seed. output: tests (one row per
metric x pair, Holm-corrected) and means (each compared thing's mean on the tested users,
with its collapse flag). A collapsed cell is tested like the others and flagged in means.
"""

import json
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("compare_embeddings")  # noqa: F821

import pandas as pd

from musicrec.evaluation.significance import paired_tests, shared_means
from musicrec.io import write_csv
from musicrec.recommenders.registry import NO_EMBEDDING

inputs, params, output = snakemake.input, snakemake.params, snakemake.output  # noqa: F821
run = snakemake.wildcards.run  # noqa: F821
per_user, collapsed = {}, {}
for (cell_run, embedding), path, report in zip(params.cells, inputs.per_user, inputs.reports, strict=True):
    label = cell_run if embedding == NO_EMBEDDING else embedding
    per_user[label] = pd.read_parquet(path)
    collapsed[label] = json.loads(open(report).read())["collapse"]["collapsed"]
tests = paired_tests(per_user, run=run, confidence=float(params.confidence), seed=int(params.seed))
means = shared_means(per_user, run=run)
means["collapsed"] = means["embedding"].map(collapsed)
write_csv(tests, output.tests)
write_csv(means, output.means)
print(tests.to_string(index=False), file=sys.stderr)
