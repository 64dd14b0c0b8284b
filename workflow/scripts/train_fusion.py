"""Train the layer fusion of a stack and embed every track with it (rule train_fusion): {backbone}-fused.

input: stack + stack_sidecar + track_ids, targets (artist/album per track), train (only for
co-listening triplets). params: fusion (layers.fusion), state_dir (resume folder outside the
outputs), seed. output: the fused embedding + sidecar (learned layer weights in it), the layer
weight table, the artist roles (train/val/heldout), the best checkpoint, the loss curves.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("train_fusion")

import dataclasses
import logging

import pandas as pd
import torch

from musicrec.io import atomic_path, write_csv, write_embedding, write_parquet
from musicrec.layers.derived import stack_failures
from musicrec.layers.fusion_training import FusionOptions, train_fusion
from musicrec.layers.stack import read_stack

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
inputs, output, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
backbone = snakemake.wildcards.layered  # noqa: F821
torch.set_num_threads(int(snakemake.threads))  # noqa: F821 (small model: more threads only contend)
options = FusionOptions.from_mapping(params.fusion)
print(f"fusion options: {options}", file=sys.stderr)
track_ids = pd.read_csv(inputs.track_ids, dtype={"track_id": str})["track_id"].tolist()
stack = read_stack(inputs.stack, inputs.stack_sidecar, n_tracks=len(track_ids))
meta = pd.read_parquet(inputs.targets, columns=["track_idx", "artist", "album"])
interactions = pd.read_parquet(inputs.train) if "train" in inputs.keys() else None
result = train_fusion(
    stack,
    meta["artist"].astype(str).to_numpy(),
    meta["album"].astype(str).to_numpy(),
    options,
    seed=int(params.seed),
    state_dir=params.state_dir,
    interactions=interactions,
)
weights = result.weight_table(stack.names)
weights.insert(0, "backbone", backbone)
sidecar = {
    "embedding": f"{backbone}-fused",
    "kind": "derived",
    "derivation": "layer_fusion",
    "source": str(inputs.stack),
    "fusion": dataclasses.asdict(options),
    "layers": list(stack.names),
    "layer_weights": dict(zip(stack.names, weights["weight_mean"].round(6).tolist())),
    "best_epoch": result.outcome.best_epoch,
    "best_val_loss": result.outcome.best_val_loss,
    "train_anchors": result.train_anchors,
    "train_seconds": round(result.seconds, 2),
    "failures": stack_failures(stack, track_ids),
}
write_embedding(result.embedding, sidecar, output.embeddings, output.sidecar)
write_csv(weights, output.weights)
write_parquet(pd.DataFrame({"track_idx": range(len(track_ids)), "role": result.roles.astype(str)}), output.roles)
with atomic_path(output.checkpoint) as temporary:
    torch.save({"model": result.outcome.best_state, "options": dataclasses.asdict(options), "layers": list(stack.names)}, temporary)
write_csv(result.outcome.history, output.curves)
epochs = len(result.outcome.history) - 1
print(
    f"{backbone}-fused: {epochs} epoch(s) ({result.outcome.trained_epochs} this run), best {result.outcome.best_epoch}, "
    f"{result.train_anchors * max(result.outcome.trained_epochs, 1) / max(result.seconds, 1e-9):.0f} anchors/s\n"
    f"{weights.to_string(index=False)}",
    file=sys.stderr,
)
