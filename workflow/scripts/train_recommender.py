"""Train one recommender (Shallow Net variant or BERT4Rec) on one backbone's item embeddings.

Rules train_shallow and train_bert4rec. input: embeddings, sidecar, train, val, test.
params: family (shallow | bert4rec), options (its config block), seed, top_n, variant
(Shallow Net: embedding | interaction), state_dir (resume folder that outlives a killed job).
output: checkpoint, user_vectors, item_vectors, recs, curves, tensorboard. A rerun after a
kill resumes from the last finished epoch; a rerun after a finished training only rewrites
the outputs.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")

import json
import logging

from musicrec.recommenders.inputs import read_training_inputs
from musicrec.recommenders.sequences import fit_bert4rec
from musicrec.recommenders.shallow_data import fit_shallow
from musicrec.recommenders.training import job_folders, write_fit_outputs

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
family, seed = snakemake.params.family, int(snakemake.params.seed)
options = dict(snakemake.params.options)
variant = snakemake.params.get("variant") or family
logging.info("%s (%s), seed %d, options %s", family, variant, seed, json.dumps(options, sort_keys=True))

state_dir, tensorboard_log = job_folders(snakemake.output.checkpoint, snakemake.params.get("state_dir"))
inputs = read_training_inputs(
    **{name: snakemake.input[name] for name in ("embeddings", "sidecar", "train", "val", "test")}
)
common = dict(
    options=options, seed=seed, top_n=int(snakemake.params.top_n), state_dir=state_dir, tensorboard_dir=tensorboard_log
)
if family == "shallow":
    fit = fit_shallow(**inputs, **common, variant=variant)
elif family == "bert4rec":
    fit = fit_bert4rec(**inputs, **common)
else:
    raise ValueError(f"params.family: unknown recommender {family!r}; expected 'shallow' or 'bert4rec'")
write_fit_outputs(
    fit,
    **{
        name: snakemake.output[name]
        for name in ("checkpoint", "user_vectors", "item_vectors", "recs", "curves", "tensorboard")
    },
    tensorboard_log=tensorboard_log,
    metadata={"model": family, "variant": variant, "seed": seed},
)
