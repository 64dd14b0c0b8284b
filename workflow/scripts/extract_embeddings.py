"""Embed one shard of the catalogue with one backbone: the shard matrix, its failures and its description."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console

report_errors_on_console(f"extract_embeddings {snakemake.params.backbone} shard {snakemake.params.shard}")  # noqa: F821

import json
from pathlib import Path

import numpy as np
import pandas as pd

from musicrec.backbones import load_backbone
from musicrec.extraction import apply_bad_audio_policy, extract, shard_slice
from musicrec.io import write_atomic, write_json

params = snakemake.params
catalogue = pd.read_parquet(snakemake.input.catalogue, columns=["track_id", "audio_path"])
track_ids = catalogue["track_id"].astype(str)
if not (track_ids.is_unique and track_ids.is_monotonic_increasing):
    raise ValueError(
        f"{snakemake.input.catalogue}: track_id must be unique and sorted (row i = track i of trackid_sorted.csv)"
    )

# The block's own seed, if any, wins over the global one.
options = {"seed": int(params.seed), **dict(params.options)}
backbone = load_backbone(params.backbone, options)
rows = shard_slice(len(catalogue), int(params.shards), int(params.shard))
workers = backbone.settings.workers if backbone.settings.workers is not None else int(snakemake.threads)
description = backbone.describe()
print(
    f"backbone {params.backbone}, shard {params.shard} of {params.shards}: rows {rows.start}..{rows.stop - 1}",
    file=sys.stderr,
)
print(json.dumps(description, indent=2), file=sys.stderr)

shard = catalogue.iloc[rows]
embeddings, failures = extract(
    backbone,
    shard["audio_path"].tolist(),
    rows=np.arange(rows.start, rows.stop),
    workers=workers,
    max_bad_fraction=float(params.max_bad_fraction),
)
failures = pd.DataFrame(
    {
        "track_idx": failures["row"],
        "track_id": track_ids.to_numpy()[failures["row"]],
        "reason": failures["reason"],
        "audio_path": failures["audio_path"],
    }
)
if not failures.empty:
    print(f"{len(failures)} track(s) could not be embedded:", file=sys.stderr)
    print(failures.to_string(index=False), file=sys.stderr, flush=True)  # in the log even if the policy raises
apply_bad_audio_policy(failures, params.on_bad_audio, params.backbone)

meta = {
    "describe": description,
    "shard": int(params.shard),
    "shards": int(params.shards),
    "rows": [rows.start, rows.stop],
    "n_failed": len(failures),
    "on_bad_audio": params.on_bad_audio,
    "max_bad_fraction": float(params.max_bad_fraction),
}
write_atomic(snakemake.output.embeddings, lambda path: np.save(path, embeddings))
write_atomic(snakemake.output.failures, lambda path: failures.to_csv(path, sep="\t", index=False))
write_json(meta, snakemake.output.meta)
print(f"wrote {embeddings.shape} {embeddings.dtype} to {snakemake.output.embeddings}", file=sys.stderr)
