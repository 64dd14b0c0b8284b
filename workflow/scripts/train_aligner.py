"""Rule train_aligner: AlignerV2 on the synthetic train users (resumable), fold-ins, aligner table.

input: world, sidecar. params: aligner (config users.aligner), seed, state_dir (resume state,
outside the declared outputs). output: checkpoint (.pt), curves (.csv), song_vectors (n_tracks, h)
with zero rows for failed audio, user_vectors (n_users, h), table (aligner vs ceiling vs random).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("train_aligner")

import dataclasses
import logging
from pathlib import Path

import torch

sys.path.insert(0, str(Path(snakemake.scriptdir)))  # noqa: F821

from users_common import read_world  # noqa: E402

from musicrec.io import write_atomic, write_csv, write_npy  # noqa: E402
from musicrec.recommenders.options import options_from_mapping  # noqa: E402
from musicrec.users.aligner_training import AlignerOptions, aligner_table, train_aligner  # noqa: E402
from musicrec.users.real_listeners import catalogue_song_vectors  # noqa: E402

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
torch.set_num_threads(snakemake.threads)  # noqa: F821
params = snakemake.params  # noqa: F821
world, meta = read_world(snakemake.input.world, snakemake.input.sidecar)  # noqa: F821
options = options_from_mapping(AlignerOptions, params.aligner, "config users.aligner")
fit = train_aligner(world, options, int(params.seed), state_dir=params.state_dir)
write_atomic(
    snakemake.output.checkpoint,  # noqa: F821
    lambda path: torch.save({"model": fit.training.best_state, "options": dataclasses.asdict(options)}, path),
)
write_csv(fit.training.history, snakemake.output.curves)  # noqa: F821
write_npy(catalogue_song_vectors(world, fit.song_vectors, meta["n_tracks"]), snakemake.output.song_vectors)  # noqa: F821
write_npy(fit.user_vectors, snakemake.output.user_vectors)  # noqa: F821
table = aligner_table(world, fit, int(params.seed))
write_csv(table, snakemake.output.table)  # noqa: F821
print(table.to_string(), file=sys.stderr)
