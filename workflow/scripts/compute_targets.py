"""The probing targets of every catalogue track (rule compute_targets): 15 acoustic + genre/artist/album.

input.catalogue; params.targets (sample_rate, seconds, offset), params.on_bad_target (fail | skip).
output.targets: parquet, one row per track (track_idx, track_id, the 15 targets, genre, artist,
album); output.skipped: CSV of the NaN cells (track_idx, track_id, target, reason).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("compute_targets")

import time

import pandas as pd

from musicrec.io import write_csv, write_parquet
from musicrec.layers.targets import compute_targets, label_targets

params = snakemake.params  # noqa: F821
catalogue = pd.read_parquet(snakemake.input.catalogue)  # noqa: F821
crop = dict(params.targets)
print(f"{len(catalogue)} tracks, crop {crop}, on_bad_target {params.on_bad_target}", file=sys.stderr)
started = time.perf_counter()
targets, skipped = compute_targets(
    catalogue, int(crop["sample_rate"]), crop["seconds"], crop.get("offset"), params.on_bad_target
)
labels = label_targets(catalogue)
targets["genre"] = labels["genre"].to_numpy()
targets["artist"] = labels["artist"].to_numpy()
targets["album"] = catalogue["album"].astype(str).to_numpy()
write_parquet(targets, snakemake.output.targets)  # noqa: F821
write_csv(skipped, snakemake.output.skipped)  # noqa: F821
print(
    f"targets of {len(targets)} tracks in {time.perf_counter() - started:.1f} s; "
    f"{len(skipped)} cell(s) skipped on {skipped['track_idx'].nunique() if len(skipped) else 0} track(s)",
    file=sys.stderr,
)
if len(skipped):
    print(skipped.to_string(index=False), file=sys.stderr)
