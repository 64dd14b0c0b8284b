"""Track search over a stack's layers, their mean and the fusion (rule search_tracks).

input: stack (+ sidecar, track_ids), the -mean and -fused embeddings, targets (artists), the
fusion's artist roles. params: search (k, recall_at), confidence. output.recall: Recall@k of
same-artist tracks for held-out artists' tracks, one row per embedding x k; output.neighbours:
the fused embedding's top-k per track (track_idx, rank, neighbour_idx, score).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("search_tracks")

import numpy as np
import pandas as pd

from musicrec.io import read_embedding, write_csv, write_parquet
from musicrec.layers.derived import layer_embedding
from musicrec.layers.search import nearest_tracks, same_artist_recall
from musicrec.layers.stack import read_stack

inputs, params = snakemake.input, snakemake.params  # noqa: F821
backbone = snakemake.wildcards.layered  # noqa: F821
search = dict(params.search)
artists = pd.read_parquet(inputs.targets, columns=["artist"])["artist"].astype(str).to_numpy()
roles = pd.read_parquet(inputs.roles)["role"].to_numpy()
queries = roles == "heldout"
stack = read_stack(inputs.stack, inputs.stack_sidecar, n_tracks=len(artists))
candidates = {f"{backbone}@{name}": layer_embedding(stack, i) for i, name in enumerate(stack.names)}
for kind in ("mean", "fused"):
    candidates[f"{backbone}-{kind}"], _ = read_embedding(inputs[kind], inputs[kind].replace(".npy", ".json"), len(artists))
rows = []
for order, (name, matrix) in enumerate(candidates.items()):
    recall = same_artist_recall(matrix, artists, queries, list(search["recall_at"]), float(params.confidence))
    rows.append(recall.assign(embedding=name, order=order))
table = pd.concat(rows)[["embedding", "k", "recall", "lower", "upper", "n_queries", "order"]]
table.insert(0, "backbone", backbone)
write_csv(table.drop(columns="order"), snakemake.output.recall)  # noqa: F821
write_parquet(nearest_tracks(candidates[f"{backbone}-fused"], int(search["k"])), snakemake.output.neighbours)  # noqa: F821
print(table.to_string(index=False), file=sys.stderr)
