"""Write the embedded demo in Music4All's layout: metadata files, the Onion listening log, audios/<id>.<ext>."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("generate_demo")

import time

from musicrec import paths
from musicrec.data.demo import TIMESTAMP_FORMAT, DemoConfig, generate_demo, write_demo_audio
from musicrec.io import atomic_path

config = DemoConfig.from_mapping(snakemake.params.demo)  # noqa: F821
seed = int(snakemake.params.seed)  # noqa: F821
output = snakemake.output  # noqa: F821
print(f"demo config: {config}, seed {seed}", file=sys.stderr)

started = time.perf_counter()
demo = generate_demo(config, seed)
table_outputs = {
    paths.MUSIC4ALL_INFORMATION: output.information,
    paths.MUSIC4ALL_GENRES: output.genres,
    paths.MUSIC4ALL_TAGS: output.tags,
    paths.MUSIC4ALL_METADATA: output.metadata,
}
for name, frame in demo.tables.items():
    with atomic_path(table_outputs[name]) as temporary:
        frame.to_csv(temporary, sep="\t", index=False)
with atomic_path(output.listening_log) as temporary:
    demo.listening_log.to_csv(temporary, sep="\t", index=False, date_format=TIMESTAMP_FORMAT)
print(
    f"{len(demo.catalogue)} tracks, {demo.listening_log['user_id'].nunique()} users, "
    f"{len(demo.listening_log)} plays in {time.perf_counter() - started:.1f} s",
    file=sys.stderr,
)

started = time.perf_counter()
written = write_demo_audio(demo.catalogue, config, seed, output.audio, workers=snakemake.threads)  # noqa: F821
print(f"{written} {config.audio_format} files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
