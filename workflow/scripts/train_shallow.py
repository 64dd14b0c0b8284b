"""Train one Shallow Net variant on one backbone's item embeddings (rule train_shallow).

input: embeddings, sidecar, train, val, test. params: options (config recommenders.shallow),
seed, top_n, variant (embedding | interaction), state_dir (optional: resume folder that
outlives a killed job). output: checkpoint, user_vectors, item_vectors, recs, curves,
tensorboard. A rerun after a kill resumes from the last finished epoch; a rerun after a
finished training only rewrites the outputs.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")

import json
import logging

from musicrec.recommenders.inputs import read_training_inputs
from musicrec.recommenders.shallow_data import fit_shallow
from musicrec.recommenders.training import job_folders, write_fit_outputs

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
options, variant, seed = dict(snakemake.params.options), snakemake.params.variant, int(snakemake.params.seed)
logging.info("Shallow Net %s, seed %d, options %s", variant, seed, json.dumps(options, sort_keys=True))
state_dir, tensorboard_log = job_folders(snakemake.output.checkpoint, snakemake.params.get("state_dir"))
inputs = read_training_inputs(
    **{name: snakemake.input[name] for name in ("embeddings", "sidecar", "train", "val", "test")}
)
fit = fit_shallow(
    **inputs,
    options=options,
    variant=variant,
    seed=seed,
    top_n=int(snakemake.params.top_n),
    state_dir=state_dir,
    tensorboard_dir=tensorboard_log,
)
write_fit_outputs(
    fit,
    **{
        name: snakemake.output[name]
        for name in ("checkpoint", "user_vectors", "item_vectors", "recs", "curves", "tensorboard")
    },
    tensorboard_log=tensorboard_log,
    metadata={"model": "shallow", "variant": variant, "seed": seed},
)
