"""Where every artefact lives, relative to the results root.

This is the one place that names the files flowing between pipeline stages
(see ARCHITECTURE.md, "Data contracts"). Rules, scripts, tests and benchmarks
build paths from these templates; ``{backbone}``, ``{model}``, ``{part}`` and
``{shard}`` are Snakemake wildcards and ``str.format`` fields alike.
"""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = "demo"  # the generated Music4All / Onion look-alike

CATALOGUE = "data/catalogue.parquet"
TRACK_IDS = "data/trackid_sorted.csv"
PLAYS = "data/plays.parquet"
MAPPING_REPORT = "data/mapping_report.json"
SPLIT = "data/{part}.parquet"
SPLIT_REPORT = "data/split_report.json"

SHARD = "embeddings/{backbone}/shard-{shard}.npy"
SHARD_FAILURES = "embeddings/{backbone}/shard-{shard}.failed.tsv"
EMBEDDING = "embeddings/{backbone}.npy"
EMBEDDING_SIDECAR = "embeddings/{backbone}.json"
EMBEDDING_FAILURES = "embeddings/{backbone}.failed.tsv"

RECOMMENDATIONS = "recs/{model}/{backbone}.parquet"
METRICS_PER_USER = "metrics/{model}/{backbone}.{part}.parquet"
METRICS_SUMMARY = "metrics/{model}/{backbone}.{part}.csv"
TABLE = "tables/{model}.csv"
PLOT = "plots/{model}.png"

EVALUATED_PARTS = ("val", "test")


def under(root: str | Path, template: str, **fields: object) -> str:
    """Join ``template`` (optionally formatted with ``fields``) onto ``root``."""
    relative = template.format(**fields) if fields else template
    return str(Path(root) / relative)
