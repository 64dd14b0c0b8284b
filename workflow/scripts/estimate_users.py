"""Rule estimate_users: the feedback estimator on the real listeners, as a recommender run, and its cold-start curve.

input: train, val, test, embeddings + sidecar (failures), song_vectors, estimator. params: real
(score mapping, curve N list), coldstart (seeds, bootstrap), top_n, candidates, seed. output:
recs (user_id, rank, track_idx, score), curve (.csv: method, n, metric, mean, lower, upper).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("estimate_users")

import dataclasses

import numpy as np
import pandas as pd
import torch

from musicrec.io import read_embedding, write_csv, write_parquet
from musicrec.recommenders.inputs import check_embeddings, excluded_rows_from_sidecar, prepare_interactions
from musicrec.recommenders.options import options_from_mapping
from musicrec.users.coldstart import CurveOptions, bootstrap_summary
from musicrec.users.estimator import estimator_from_payload
from musicrec.users.real_listeners import ScoreMapping, UserModel, real_coldstart_curve, recommend_with_estimator

torch.set_num_threads(snakemake.threads)  # noqa: F821
params = snakemake.params  # noqa: F821
inputs = snakemake.input  # noqa: F821
seed = int(params.seed)
matrix, sidecar = read_embedding(inputs.embeddings, inputs.sidecar)
excluded = excluded_rows_from_sidecar(sidecar, inputs.sidecar)
_, usable = check_embeddings(matrix, excluded, inputs.embeddings)
sources = {name: str(inputs[name]) for name in ("embeddings", "sidecar", "train", "val", "test")}
frames = {part: pd.read_parquet(inputs[part]) for part in ("train", "val", "test")}
interactions = prepare_interactions(
    frames["train"], frames["val"], frames["test"], usable, sources, candidates=params.candidates
)
estimator, regularisers, best = estimator_from_payload(torch.load(inputs.estimator, weights_only=False))
mapping = options_from_mapping(ScoreMapping, params.real["scores"], "config users.real.scores")
chosen = regularisers[best]
if mapping.confidence_weighted:
    chosen = dataclasses.replace(chosen, confidence_weighted=True)
model = UserModel(np.load(inputs.song_vectors), estimator, chosen, mapping)
recs = recommend_with_estimator(model, interactions, int(params.top_n), seed)
print(f"estimator ({best} regularisers): {recs['user_id'].nunique()} users, {len(recs)} recommendations, "
      f"{recs.attrs['n_prior_only']} estimated from no feedback (the prior)", file=sys.stderr)
write_parquet(recs, snakemake.output.recs)  # noqa: F821
curve_options = options_from_mapping(CurveOptions, params.coldstart, "config users.coldstart")
per_user = real_coldstart_curve(
    model, interactions, frames["test"], list(params.real["n_plays"]), curve_options.seeds, 10, seed
).assign(selection="random")
summary = bootstrap_summary(
    per_user, curve_options.bootstrap, curve_options.confidence, seed, metrics=("ndcg@10", "recall@10"), user="user_id"
)
write_csv(summary, snakemake.output.curve)  # noqa: F821
