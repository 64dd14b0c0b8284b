"""Recommendations of one untrained recommender of the registry (KNN, popularity) on one embedding.

Rule recommend. input: train, val, test, and embeddings + sidecar (or track_ids for an
embedding-free recommender). params: recommender (registry name), options, top_n,
candidates. wildcards: seed. output: recs (user_id, rank, track_idx, score).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console(f"recommend {snakemake.wildcards.run} on {snakemake.wildcards.embedding}, seed {snakemake.wildcards.seed}")  # noqa: F821

import pandas as pd

from musicrec.io import write_parquet
from musicrec.recommenders.inputs import read_training_inputs
from musicrec.recommenders.options import parse_options
from musicrec.recommenders.registry import RECOMMENDERS

params = snakemake.params  # noqa: F821
recommender = RECOMMENDERS[params.recommender]
options = parse_options(recommender.options_type, params.options, f"config recommenders.{recommender.name}")
common = dict(
    top_n=int(params.top_n), candidates=params.candidates, options=options, seed=int(snakemake.wildcards.seed)  # noqa: F821
)
if recommender.needs_embedding:
    inputs = read_training_inputs(
        **{name: snakemake.input[name] for name in ("embeddings", "sidecar", "train", "val", "test", "track_ids")}  # noqa: F821
    )
    recs = recommender.fit_function()(**inputs, **common)
else:
    n_items = len(pd.read_csv(snakemake.input.track_ids))  # noqa: F821
    frames = {f"{part}_frame": pd.read_parquet(snakemake.input[part]) for part in ("train", "val", "test")}  # noqa: F821
    recs = recommender.fit_function()(n_items, **frames, **common)
print(f"{recommender.name}: {recs['user_id'].nunique()} users, {len(recs)} recommendations", file=sys.stderr)
write_parquet(recs, snakemake.output.recs)  # noqa: F821
