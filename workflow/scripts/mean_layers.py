"""The mean of a stack's layers as an embedding (rule mean_layers): {backbone}-mean."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("mean_layers")

import pandas as pd

from musicrec.io import write_embedding
from musicrec.layers.derived import mean_embedding, stack_failures
from musicrec.layers.stack import read_stack

inputs = snakemake.input  # noqa: F821
track_ids = pd.read_csv(inputs.track_ids, dtype={"track_id": str})["track_id"].tolist()
stack = read_stack(inputs.stack, inputs.stack_sidecar, n_tracks=len(track_ids))
standardise = bool(snakemake.params.standardise)  # noqa: F821
matrix = mean_embedding(stack, standardise=standardise)
sidecar = {
    "embedding": f"{snakemake.wildcards.layered}-mean",  # noqa: F821
    "kind": "derived",
    "derivation": "layer_mean",
    "source": str(inputs.stack),
    "layers": list(stack.names),
    "layer_dims": list(stack.dims),
    "standardised": standardise,
    "failures": stack_failures(stack, track_ids),
}
write_embedding(matrix, sidecar, snakemake.output.embeddings, snakemake.output.sidecar)  # noqa: F821
print(f"{sidecar['embedding']}: mean of {stack.n_layers} layers -> {matrix.shape}", file=sys.stderr)
