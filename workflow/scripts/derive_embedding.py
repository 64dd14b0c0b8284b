"""Derive one embedding from another or from a multi-layer extraction (rule derive_embedding).

params.block: the embedding's config block ({derive: standardise | layer | layer_mean | ids,
source, layer, dim}); params.seed (ids). input: the source matrix + sidecar (or track_ids
for ids). output: embeddings (n_tracks, d) float32 + sidecar. Failed rows of the source
stay failed (NaN, listed in the sidecar).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console(f"derive_embedding {snakemake.wildcards.embedding}")  # noqa: F821

import numpy as np
import pandas as pd

from musicrec import embeddings as derivations
from musicrec.io import read_sidecar, write_embedding

block, name = dict(snakemake.params.block), snakemake.wildcards.embedding  # noqa: F821
kind = block["derive"]
sidecar = {"embedding": name, "kind": "derived", "derivation": kind, "source": block.get("source") or kind}
if kind == "ids":
    n_tracks = len(pd.read_csv(snakemake.input.track_ids))  # noqa: F821
    matrix = derivations.id_table(n_tracks, block["dim"], int(snakemake.params.seed))  # noqa: F821
    sidecar.update(trainable=True, seed=int(snakemake.params.seed))  # noqa: F821
else:
    source = read_sidecar(snakemake.input.sidecar)  # noqa: F821
    values = np.load(snakemake.input.embeddings)  # noqa: F821
    sidecar.update(failures=source.get("failures", []), source_sidecar=source)
    if kind == "standardise":
        matrix = derivations.standardise(values)
    elif kind == "layer":
        names = source["layer_names"]
        index = derivations.layer_index(block["layer"], names)
        matrix = derivations.select_layer(values, source["layer_dims"], index)
        sidecar.update(layer=names[index], layer_index=index)
    else:
        matrix = derivations.layer_mean(values, source["layer_dims"])
        sidecar.update(layers=source["layer_names"])
write_embedding(matrix, sidecar, snakemake.output.embeddings, snakemake.output.sidecar)  # noqa: F821
print(f"{name}: {kind} of {sidecar['source']} -> {matrix.shape}", file=sys.stderr)
