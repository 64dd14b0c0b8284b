"""Rule train_estimator: meta-train the feedback estimator, choose each ablation cell's λ on validation users.

input: world, sidecar, song_vectors, user_vectors. params: estimator, coldstart (λ grid, forms),
seed, state_dir. output: estimator (.pt: weights, chosen regularisers per cell, best cell),
curves (.csv), validation (.csv: every λ candidate's validation distance).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("train_estimator")

import logging
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(snakemake.scriptdir)))  # noqa: F821

from users_common import read_world  # noqa: E402

from musicrec.io import write_atomic, write_csv  # noqa: E402
from musicrec.recommenders.options import options_from_mapping  # noqa: E402
from musicrec.users.coldstart import CurveOptions  # noqa: E402
from musicrec.users.estimator import EstimatorOptions, best_cell, estimator_payload, train_estimator  # noqa: E402
from musicrec.users.real_listeners import select_on_validation  # noqa: E402

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
torch.set_num_threads(snakemake.threads)  # noqa: F821
params = snakemake.params  # noqa: F821
world, _ = read_world(snakemake.input.world, snakemake.input.sidecar)  # noqa: F821
song_vectors = np.load(snakemake.input.song_vectors)[world.song_rows]  # noqa: F821
references = np.load(snakemake.input.user_vectors)  # noqa: F821
options = options_from_mapping(EstimatorOptions, params.estimator, "config users.estimator")
curve = options_from_mapping(CurveOptions, params.coldstart, "config users.coldstart")
fit = train_estimator(
    song_vectors, world.observed, world.scores, references, world.users("train"), world.users("val"),
    options, int(params.seed), state_dir=params.state_dir,
)
chosen, validation = select_on_validation(world, song_vectors, references, fit.model, curve, int(params.seed))
best = best_cell(validation)
write_atomic(snakemake.output.estimator, lambda path: torch.save(estimator_payload(fit.model, chosen, best), path))  # noqa: F821
write_csv(fit.training.history, snakemake.output.curves)  # noqa: F821
write_csv(validation, snakemake.output.validation)  # noqa: F821
print(validation.to_string(), f"\nbest cell on validation users: {best}", file=sys.stderr)
