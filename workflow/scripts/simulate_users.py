"""Rule simulate_users: draw the synthetic world over one embedding.

input: embeddings (.npy), sidecar (.json; its failures are never scored). params: simulation
(config users.simulation), seed. output: world (.npz, musicrec.users.simulation.world_arrays),
sidecar (.json: options, seed, n_tracks, embedding, the generator's ceiling).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("simulate_users")

import dataclasses

import numpy as np
import torch

from musicrec.io import read_embedding, write_atomic, write_json
from musicrec.recommenders.inputs import excluded_rows_from_sidecar
from musicrec.recommenders.options import options_from_mapping
from musicrec.users.heldout import mean_quality
from musicrec.users.simulation import SimulationOptions, ceiling, simulate, world_arrays

torch.set_num_threads(snakemake.threads)  # noqa: F821
params = snakemake.params  # noqa: F821
options = options_from_mapping(SimulationOptions, params.simulation, "config users.simulation")
matrix, sidecar = read_embedding(snakemake.input.embeddings, snakemake.input.sidecar)  # noqa: F821
excluded = excluded_rows_from_sidecar(sidecar, snakemake.input.sidecar)  # noqa: F821
world = simulate(matrix, options, int(params.seed), excluded, snakemake.input.embeddings)  # noqa: F821
write_atomic(snakemake.output.world, lambda path: np.savez(path, **world_arrays(world)))  # noqa: F821
quality = mean_quality(ceiling(world, world.users("test")))
write_json(
    {
        "embedding": sidecar.get("embedding"),
        "options": dataclasses.asdict(options),
        "seed": int(params.seed),
        "n_tracks": int(matrix.shape[0]),
        "n_songs": int(len(world.song_rows)),
        "n_excluded": int(len(excluded)),
        "ceiling_test": quality,
        "score_shares": (np.bincount(world.scores.ravel(), minlength=6) / world.scores.size).tolist(),
    },
    snakemake.output.sidecar,  # noqa: F821
)
print(f"{options.n_users} users over {len(world.song_rows)} songs; ceiling on test users {quality}", file=sys.stderr)
