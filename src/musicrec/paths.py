"""Where every artefact lives, relative to the results root.

This is the one place that names the files flowing between pipeline stages
(see ARCHITECTURE.md, "Data contracts"). Rules, scripts, tests and benchmarks
build paths from these templates; ``{backbone}``, ``{model}``, ``{part}`` and
``{shard}`` are Snakemake wildcards and ``str.format`` fields alike.
"""

from __future__ import annotations

import re
from pathlib import Path

DEMO_FILE = "demo/{name}"  # the generated Music4All / Onion look-alike, same file names

CATALOGUE = "data/catalogue.parquet"
TRACK_IDS = "data/trackid_sorted.csv"
PLAYS = "data/plays.parquet"
MAPPING_REPORT = "data/mapping_report.json"
SPLIT = "data/{part}.parquet"
SPLIT_REPORT = "data/split_report.json"

SHARD = "embeddings/{backbone}/shard-{shard}.npy"
SHARD_FAILURES = "embeddings/{backbone}/shard-{shard}.failed.tsv"
SHARD_META = "embeddings/{backbone}/shard-{shard}.json"
EMBEDDING = "embeddings/{backbone}.npy"
EMBEDDING_SIDECAR = "embeddings/{backbone}.json"
EMBEDDING_FAILURES = "embeddings/{backbone}.failed.tsv"

# A trained model's artefacts; {model} is a run name: knn, shallow-embedding,
# shallow-interaction, bert4rec.
MODEL_CHECKPOINT = "models/{model}/{backbone}/best.pt"
MODEL_USER_VECTORS = "models/{model}/{backbone}/users.npy"
MODEL_ITEM_VECTORS = "models/{model}/{backbone}/items.npy"
MODEL_CURVES = "models/{model}/{backbone}/curves.csv"
MODEL_TENSORBOARD = "models/{model}/{backbone}/tensorboard"
# Resume state of a training job: deliberately not a declared output, so it survives
# Snakemake's clean-up of a killed job's outputs and the rerun continues from it.
TRAINING_STATE = "checkpoints/{model}/{backbone}"

RECOMMENDATIONS = "recs/{model}/{backbone}.parquet"
METRICS_PER_USER = "metrics/{model}/{backbone}.{part}.parquet"
METRICS_SUMMARY = "metrics/{model}/{backbone}.{part}.csv"
# {family}: knn, shallow (its variants as rows), bert4rec.
TABLE = "tables/{family}.csv"
PLOT = "plots/{family}.png"
CURVES_PLOT = "plots/curves/{model}.png"
COMPARISON_PLOT = "plots/comparison.png"

EVALUATED_PARTS = ("val", "test")


def fill(template: str, **fields: object) -> str:
    """Fill the named fields of ``template``; the others stay ``{wildcards}``."""
    return re.sub(
        r"\{(\w+)\}", lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), template
    )


def under(root: str | Path, template: str, **fields: object) -> str:
    """``template`` with ``fields`` filled in, under the results ``root``."""
    return str(Path(root) / fill(template, **fields))

# The Music4All / Music4All-Onion files, as the data sets ship them; the demo
# generator writes the same names so one code path reads both.
MUSIC4ALL_INFORMATION = "id_information.csv"
MUSIC4ALL_GENRES = "id_genres.csv"
MUSIC4ALL_TAGS = "id_tags.csv"
MUSIC4ALL_METADATA = "id_metadata.csv"
MUSIC4ALL_AUDIO_DIR = "audios"
ONION_LISTENING_LOG = "userid_trackid_timestamp.tsv"

LOG = "logs/{rule}/{name}.log"

# Multi-layer extraction (a backbone block with `layer: all` or a list of layers): every
# layer of one backbone, extract-only; probing and fusion read it. (n_tracks, n_layers, d_max)
# float32, layers narrower than d_max zero-padded on the right; the sidecar adds `layer_names`
# and `layer_dims` (see musicrec.extraction.describe_merged).
LAYERS = "layers/{backbone}.npy"
LAYERS_SIDECAR = "layers/{backbone}.json"
LAYERS_FAILURES = "layers/{backbone}.failed.tsv"
