"""Fine-tune MiniLM on the train users' triplets; the learning curve scores the held-out users' triplets."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("train_student")

import json
import shutil
from pathlib import Path

import pandas as pd

from musicrec.io import write_csv, write_figure, write_json
from musicrec.synth.embedder_benchmark import benchmark, holdout_users
from musicrec.synth.embedders import DenseScorer
from musicrec.synth.learning_curve import learning_curve_plot
from musicrec.synth.student import StudentSettings, train_student
from musicrec.synth.weights import sentence_model_dir

params = snakemake.params  # noqa: F821
output = snakemake.output  # noqa: F821
triplets = pd.read_parquet(snakemake.input.triplets)  # noqa: F821
pool = pd.read_parquet(snakemake.input.pool)  # noqa: F821
held_out = holdout_users(triplets["user_id"], float(params.holdout_fraction), int(params.seed))
train, test = triplets[~triplets["user_id"].isin(held_out)], triplets[triplets["user_id"].isin(held_out)]
settings = StudentSettings.from_mapping({**params.student, "seed": int(params.seed)})
print(f"{len(train)} train triplets, {len(test)} held-out ({len(held_out)} users); {settings}", file=sys.stderr)


chance = {}  # the held-out benchmark's chance levels, for the plot


def held_out_scores(model):
    if len(test) == 0:
        return {}
    scorer = DenseScorer.from_model("student", model)
    table, _ = benchmark({"student": scorer}, test, pool, int(params.distractors), int(params.seed), n_boot=200)
    chance.update(held_out_r_at_1=float(table["chance_r_at_1"].iloc[0]), held_out_mrr=float(table["chance_mrr"].iloc[0]))
    return {"held_out_r_at_1": float(table["r_at_1"].iloc[0]), "held_out_mrr": float(table["mrr"].iloc[0])}


model, curve, stats = train_student(str(sentence_model_dir("minilm", params.model_cache)), train, settings,
                                    evaluate=held_out_scores)
target = Path(output.model)
partial = target.with_name(target.name + ".partial")
shutil.rmtree(partial, ignore_errors=True)
model.save(str(partial))
shutil.rmtree(target, ignore_errors=True)
partial.rename(target)
write_csv(curve, output.curves)
title = f"student: {len(train)} train triplets, {len(test)} held-out ({len(held_out)} users)"
write_figure(learning_curve_plot(curve, title, chance), output.plot)
write_json({**stats, "held_out_users": sorted(held_out), "base": "all-MiniLM-L6-v2"}, output.stats)
print(curve.to_string(index=False), json.dumps(stats), file=sys.stderr)
