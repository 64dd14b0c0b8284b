"""Rule coldstart_curve: the synthetic cold-start curve of every method, its intervals, convergence, ablation.

input: world, sidecar, song_vectors, user_vectors, estimator. params: coldstart, seed. output:
per_user (.parquet), curve (.csv: selection, method, n, metric, mean, lower, upper, ...),
convergence (.csv), ablation (.csv: cell means), tests (.csv: paired tests between cells).
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("coldstart_curve")

from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(snakemake.scriptdir)))  # noqa: F821

from users_common import read_world  # noqa: E402

from musicrec.io import write_csv, write_parquet  # noqa: E402
from musicrec.recommenders.options import options_from_mapping  # noqa: E402
from musicrec.users.coldstart import CurveOptions, ablation, bootstrap_summary, convergence, run_coldstart  # noqa: E402
from musicrec.users.estimator import estimator_from_payload  # noqa: E402

torch.set_num_threads(snakemake.threads)  # noqa: F821
params = snakemake.params  # noqa: F821
seed = int(params.seed)
world, _ = read_world(snakemake.input.world, snakemake.input.sidecar)  # noqa: F821
song_vectors = np.load(snakemake.input.song_vectors)[world.song_rows]  # noqa: F821
references = np.load(snakemake.input.user_vectors)  # noqa: F821
options = options_from_mapping(CurveOptions, params.coldstart, "config users.coldstart")
estimator, _, _ = estimator_from_payload(torch.load(snakemake.input.estimator, weights_only=False))  # noqa: F821
result = run_coldstart(world, song_vectors, references, estimator, options, seed)
summary = bootstrap_summary(result.per_user, options.bootstrap, options.confidence, seed)
converged = convergence(summary, result.reference, options.tolerance)
means, tests = ablation(result, options, seed)
write_parquet(result.per_user, snakemake.output.per_user)  # noqa: F821
write_csv(summary, snakemake.output.curve)  # noqa: F821
write_csv(converged, snakemake.output.convergence)  # noqa: F821
write_csv(means, snakemake.output.ablation)  # noqa: F821
write_csv(tests, snakemake.output.tests)  # noqa: F821
print(converged.to_string(), "\n", means[means["n"] == "all"].to_string(), file=sys.stderr)
