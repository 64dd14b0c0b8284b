"""The verdict that opens the report: per run, which embeddings are best, tied, or not better than random.

Rule verdict. input: tests and means of every compared run (paired tests, Holm-corrected),
the family tables. params: metric (the one the sentences speak of), runs. output: verdict
(csv: one row per run x embedding for that metric, with a one-sentence summary per run).
Collapsed cells are left out of the verdict (their rows in the tables are flagged).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("verdict")  # noqa: F821

import pandas as pd

from musicrec.evaluation.significance import verdict
from musicrec.io import write_csv

inputs, params = snakemake.input, snakemake.params  # noqa: F821
rows = []
for run, tests_path, means_path in zip(params.runs, inputs.tests, inputs.means, strict=True):
    tests, means = pd.read_csv(tests_path), pd.read_csv(means_path)
    dropped = sorted(means.loc[means["collapsed"], "embedding"].unique())
    tests = tests[~tests["a"].isin(dropped) & ~tests["b"].isin(dropped)]
    means = means[~means["collapsed"]].drop(columns="collapsed")
    tests, means = tests[tests["metric"] == params.metric], means[means["metric"] == params.metric]
    if means["embedding"].nunique() < 2:
        continue
    result = verdict(tests, means, baseline="random", summary_metric=params.metric)
    table = result.table.assign(summary=result.summaries[run], left_out_collapsed=", ".join(dropped))
    rows.append(table)
    print(result.summaries[run], file=sys.stderr)
verdicts = pd.concat(rows, ignore_index=True).round(4) if rows else pd.DataFrame()
write_csv(verdicts, snakemake.output.verdict)  # noqa: F821
