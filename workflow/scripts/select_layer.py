"""One layer of a stack as an embedding (rule select_layer): {backbone}@{pick}.

pick: last, best (the probe table's first layer by params.select_by), or a layer name/index.
input: stack + stack_sidecar, and for best the probe table. output: embeddings + sidecar.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("select_layer")

import pandas as pd

from musicrec.io import write_embedding
from musicrec.layers.derived import layer_embedding, pick_layer, stack_failures
from musicrec.layers.stack import read_stack

inputs, wildcards = snakemake.input, snakemake.wildcards  # noqa: F821
track_ids = pd.read_csv(inputs.track_ids, dtype={"track_id": str})["track_id"].tolist()
stack = read_stack(inputs.stack, inputs.stack_sidecar, n_tracks=len(track_ids))
pick = wildcards.pick
table = pd.read_csv(inputs.table) if "table" in inputs.keys() else None
index, provenance = pick_layer(stack, int(pick) if pick.lstrip("-").isdigit() else pick, table, snakemake.params.select_by)  # noqa: F821
matrix = layer_embedding(stack, index)
sidecar = {
    "embedding": f"{wildcards.layered}@{pick}",
    "kind": "derived",
    "derivation": "layer",
    "source": str(inputs.stack),
    "backbone": wildcards.layered,
    "failures": stack_failures(stack, track_ids),
    **provenance,
}
write_embedding(matrix, sidecar, snakemake.output.embeddings, snakemake.output.sidecar)  # noqa: F821
print(f"{sidecar['embedding']}: layer {provenance['layer']} ({index}) -> {matrix.shape}", file=sys.stderr)
