"""Merge a backbone's shards into one embedding matrix, its failure table and its JSON sidecar."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console

report_errors_on_console(f"merge_shards {snakemake.params.backbone}")  # noqa: F821

import json
from pathlib import Path

import numpy as np
import pandas as pd

from musicrec.extraction import describe_merged, merge_shard_metadata, merge_shards
from musicrec.io import write_atomic, write_json

backbone = snakemake.params.backbone
shard_paths = list(snakemake.input.shards)
failure_paths = list(snakemake.input.failures)
meta_paths = list(snakemake.input.metas)
if not len(shard_paths) == len(failure_paths) == len(meta_paths):
    raise ValueError(
        f"backbone {backbone!r}: {len(shard_paths)} shards, {len(failure_paths)} failure tables and "
        f"{len(meta_paths)} metadata files; expected one of each per shard, in shard order"
    )

n_tracks = len(pd.read_parquet(snakemake.input.catalogue, columns=["track_id"]))
metas = [json.loads(Path(path).read_text()) for path in meta_paths]
description = merge_shard_metadata(metas, n_tracks)
embeddings = merge_shards([np.load(path) for path in shard_paths], n_tracks)
failures = pd.concat(
    [pd.read_csv(path, sep="\t", dtype={"track_id": str, "audio_path": str}) for path in failure_paths],
    ignore_index=True,
)

failed_rows = np.flatnonzero(np.isnan(embeddings).any(axis=tuple(range(1, embeddings.ndim))))
if not np.array_equal(failed_rows, np.sort(failures["track_idx"].to_numpy())):
    raise ValueError(
        f"backbone {backbone!r}: the NaN rows of the merged matrix {failed_rows.tolist()[:20]} are not the rows "
        f"listed in the failure tables {sorted(failures['track_idx'].tolist())[:20]}"
    )

sidecar = {
    # a multi-layer extraction (merge_layers) also gets layer_names, layer_dims and n_layers
    **describe_merged(description, embeddings),
    "embedding": backbone,
    "kind": "extracted",
    "n_tracks": n_tracks,
    "n_failed": len(failures),
    # Listed in full (bad audio is rare) so one file tells a reader and the trainers which
    # rows are NaN and why; the .failed.tsv beside it holds the same table.
    "failures": [
        {"track_idx": int(row.track_idx), "track_id": str(row.track_id), "reason": str(row.reason)}
        for row in failures.itertuples(index=False)
    ],
    "failures_table": str(snakemake.output.failures),
    "on_bad_audio": metas[0]["on_bad_audio"],
    "shards": len(metas),
}
write_atomic(snakemake.output.embeddings, lambda path: np.save(path, embeddings))
write_atomic(snakemake.output.failures, lambda path: failures.to_csv(path, sep="\t", index=False))
write_json(sidecar, snakemake.output.sidecar)
print(f"backbone {backbone}: {embeddings.shape} from {len(metas)} shard(s), {len(failures)} failed", file=sys.stderr)
