"""KNN recommendations for every val and test user (thin adapter)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

import numpy as np
import pandas as pd

from musicrec.recommenders.knn import recommend_knn

item_vectors = np.load(snakemake.input.embeddings)
train = pd.read_parquet(snakemake.input.train, columns=["user_id", "track_idx"])
users = np.union1d(
    pd.read_parquet(snakemake.input.val, columns=["user_id"])["user_id"].unique(),
    pd.read_parquet(snakemake.input.test, columns=["user_id"])["user_id"].unique(),
)
recs = recommend_knn(item_vectors, train, users, snakemake.params.top_n)
print(f"{len(users)} users, {len(recs)} recommendations, {item_vectors.shape} items", file=sys.stderr)
recs.to_parquet(snakemake.output.recs, index=False)
