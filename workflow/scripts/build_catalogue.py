"""Merge Music4All's metadata files into catalogue.parquet, trackid_sorted.csv (the embedding row order) and a report."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console

report_errors_on_console("build_catalogue")

import json
import os
from pathlib import Path

from musicrec.data.catalogue import TABLE_FILES, build_catalogue, read_music4all_table, track_id_table
from musicrec.io import write_csv, write_json, write_parquet

sources = {table: str(snakemake.input[table]) for table in TABLE_FILES}  # noqa: F821
audio_dir = Path(snakemake.params.audio_dir)  # noqa: F821
audio_files = os.listdir(audio_dir) if audio_dir.is_dir() else []
if not audio_dir.is_dir():
    print(f"warning: audio folder {audio_dir} does not exist; every track's audio counts as missing", file=sys.stderr)

catalogue, report = build_catalogue(
    **{table: read_music4all_table(path) for table, path in sources.items()},
    audio_dir=audio_dir,
    audio_files=audio_files,
    audio_ext=snakemake.params.audio_ext,  # noqa: F821 (None: no preferred format)
    sources=sources,
)
write_parquet(catalogue, snakemake.output.catalogue)  # noqa: F821
write_csv(track_id_table(catalogue), snakemake.output.track_ids)  # noqa: F821
write_json(report, snakemake.output.report)  # noqa: F821
print(json.dumps(report, indent=2), file=sys.stderr)
