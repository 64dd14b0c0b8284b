"""KNN recommendations for every val and test user (thin adapter)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from musicrec.recommenders.inputs import read_training_inputs
from musicrec.recommenders.knn import fit_knn

inputs = read_training_inputs(
    **{name: snakemake.input[name] for name in ("embeddings", "sidecar", "train", "val", "test")}
)
recs = fit_knn(**inputs, top_n=snakemake.params.top_n)
print(f"{recs['user_id'].nunique()} users, {len(recs)} recommendations", file=sys.stderr)
recs.to_parquet(snakemake.output.recs, index=False)
