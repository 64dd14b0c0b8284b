"""Train BERT4Rec on one backbone's item embeddings (rule train_bert4rec).

input: embeddings, sidecar, train, val, test. params: options (config recommenders.bert4rec),
seed, top_n, variant (optional, a name recorded in the checkpoint), state_dir (optional:
resume folder that outlives a killed job). output: checkpoint, user_vectors, item_vectors,
recs, curves, tensorboard. A rerun after a kill resumes from the last finished epoch; a
rerun after a finished training only rewrites the outputs.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")

import json
import logging

from musicrec.recommenders.inputs import read_training_inputs
from musicrec.recommenders.sequences import fit_bert4rec
from musicrec.recommenders.training import job_folders, write_fit_outputs

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
options, seed = dict(snakemake.params.options), int(snakemake.params.seed)
variant = snakemake.params.get("variant", "bert4rec")
logging.info("BERT4Rec %s, seed %d, options %s", variant, seed, json.dumps(options, sort_keys=True))
state_dir, tensorboard_log = job_folders(snakemake.output.checkpoint, snakemake.params.get("state_dir"))
inputs = read_training_inputs(
    **{name: snakemake.input[name] for name in ("embeddings", "sidecar", "train", "val", "test")}
)
fit = fit_bert4rec(
    **inputs,
    options=options,
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
    metadata={"model": "bert4rec", "variant": variant, "seed": seed},
)
