"""What each embedding and each recommender cost: from Snakemake's per-job benchmark files.

Every rule writes a ``benchmark:`` file (``benchmarks/{rule}/{name}.tsv``: wall seconds,
peak RSS, CPU time, ...). The cost table sums a backbone's extraction jobs (all shards) and
a run's recommendation or training jobs (all embeddings, all seeds), and adds what only
the artefacts know: the embedding's width, its size on disk, tracks, and the model size
when the backbone reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

COST_COLUMNS = (
    "kind",
    "name",
    "jobs",
    "seconds",
    "cpu_seconds",
    "peak_rss_mb",
    "seconds_per_track",
    "dim",
    "disk_mb",
    "parameters",
)


def read_benchmarks(folder: str | Path, rule: str) -> pd.DataFrame:
    """All benchmark rows of one rule: columns ``name`` (the file's stem), ``s``, ``max_rss``, ``cpu_time``."""
    rows = []
    for path in sorted(Path(folder, rule).glob("*.tsv")):
        frame = pd.read_csv(path, sep="\t")
        frame["name"] = path.stem
        rows.append(frame)
    if not rows:
        return pd.DataFrame(columns=["name", "s", "max_rss", "cpu_time"])
    frame = pd.concat(rows, ignore_index=True)
    for column in ("s", "max_rss", "cpu_time"):
        frame[column] = pd.to_numeric(frame.get(column), errors="coerce")
    return frame


def _sum(rows: pd.DataFrame) -> dict:
    return {
        "jobs": int(len(rows)),
        "seconds": float(rows["s"].sum()),
        "cpu_seconds": float(rows["cpu_time"].sum()),
        "peak_rss_mb": float(rows["max_rss"].max()) if len(rows) else float("nan"),
    }


def cost_table(
    benchmarks: str | Path,
    sidecars: Mapping[str, Mapping],
    embedding_bytes: Mapping[str, int],
    runs: list[str],
) -> pd.DataFrame:
    """One row per embedding (its extraction or derivation jobs) and per recommender run.

    In: the benchmark folder, embedding name -> sidecar, embedding name -> bytes on disk,
    the run names. Out: ``COST_COLUMNS``; seconds are summed wall times of the jobs (they
    may have run in parallel), seconds per track divides by the sidecar's ``n_tracks``.
    """
    extraction = read_benchmarks(benchmarks, "extract_embeddings")
    derivation = pd.concat(
        [read_benchmarks(benchmarks, rule) for rule in ("derive_embedding", "merge_layers")], ignore_index=True
    )
    rows = []
    for name, sidecar in sidecars.items():
        mine = extraction[extraction["name"].str.startswith(f"{name}.shard-")]
        if mine.empty:
            mine = derivation[derivation["name"] == name]
        cost = _sum(mine)
        n_tracks = int(sidecar.get("n_tracks", 0)) or None
        describe = sidecar.get("describe", sidecar)
        rows.append(
            {
                "kind": "embedding",
                "name": name,
                **cost,
                "seconds_per_track": cost["seconds"] / n_tracks if n_tracks else float("nan"),
                "dim": int(sidecar.get("dim", 0)),
                "disk_mb": embedding_bytes.get(name, 0) / 2**20,
                "parameters": describe.get("parameters") if isinstance(describe, Mapping) else None,
            }
        )
    recommending = pd.concat(
        [read_benchmarks(benchmarks, rule) for rule in ("recommend", "train_recommender")], ignore_index=True
    )
    for run in runs:
        mine = recommending[recommending["name"].str.startswith(f"{run}.")]
        rows.append({"kind": "recommender", "name": run, **_sum(mine)})
    return pd.DataFrame(rows, columns=list(COST_COLUMNS))
