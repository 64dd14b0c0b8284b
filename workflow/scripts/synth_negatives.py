"""Phase 2 for one shard: a hard negative per positive, candidates from every shard's summaries."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("synth_negatives")

import time

import pandas as pd

from musicrec.io import write_json, write_parquet
from musicrec.synth.client import TeacherSettings, open_teacher
from musicrec.synth.negatives import NegativeSettings, synthesize_negatives

params = snakemake.params  # noqa: F821
pool_positives = pd.concat([pd.read_parquet(p) for p in snakemake.input.pool], ignore_index=True)  # noqa: F821
positives = pd.read_parquet(snakemake.input.positives)  # noqa: F821
settings = NegativeSettings.from_mapping(params.negatives)
encode = None
if settings.strategy == "retrieve":
    from musicrec.synth.embedders import make_scorer

    encode = make_scorer(params.baseline, params.teacher.get("model_cache")).encode

started = time.perf_counter()
with open_teacher(TeacherSettings.from_mapping(params.teacher), params.cache, log=sys.stderr) as teacher:
    triplets, report = synthesize_negatives(teacher, positives, pool_positives, settings, int(params.seed), encode)
    stats = teacher.stats.as_dict()
report.update(stats, seconds=time.perf_counter() - started, model=teacher.model_identity)
write_parquet(triplets, snakemake.output.triplets)  # noqa: F821
write_json(report, snakemake.output.stats)  # noqa: F821
print(report, file=sys.stderr)
