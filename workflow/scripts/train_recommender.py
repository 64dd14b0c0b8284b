"""Train one recommender of the registry (a Shallow Net variant, BERT4Rec, ...) on one embedding, one seed.

Rule train_recommender. input: embeddings, sidecar, train, val, test. params: recommender
(registry name), variant, options, trainable_items (the id-only baseline), top_n,
candidates, state_dir (resume folder that outlives a killed job). wildcards: seed.
output: checkpoint, user_vectors, item_vectors, recs, curves, tensorboard. A rerun after a
kill resumes from the last finished epoch; a rerun after a finished training only rewrites
the outputs.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console(f"train_recommender {snakemake.wildcards.run} on {snakemake.wildcards.embedding}, seed {snakemake.wildcards.seed}")  # noqa: F821

import json
import logging

import torch

from musicrec.recommenders.fitting import job_folders, write_fit_outputs
from musicrec.recommenders.inputs import read_training_inputs
from musicrec.recommenders.registry import RECOMMENDERS

# Exactly the threads the job was given (recommenders.<name>.resources.threads), on a cluster
# node with more cores too; the intra-op thread count is part of what makes a CPU run repeat.
torch.set_num_threads(int(snakemake.threads))  # noqa: F821
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
params, output = snakemake.params, snakemake.output  # noqa: F821
recommender = RECOMMENDERS[params.recommender]
seed = int(snakemake.wildcards.seed)  # noqa: F821
logging.info(
    "%s (%s), seed %d, trainable items %s, options %s",
    recommender.name,
    params.variant,
    seed,
    params.trainable_items,
    json.dumps(dict(params.options), sort_keys=True),
)
state_dir, tensorboard_log = job_folders(output.checkpoint, params.state_dir)
inputs = read_training_inputs(
    **{name: snakemake.input[name] for name in ("embeddings", "sidecar", "train", "val", "test", "track_ids")}  # noqa: F821
)
variant = {"variant": params.variant} if params.variant else {}
fit = recommender.fit_function()(
    **inputs,
    options=dict(params.options),
    top_n=int(params.top_n),
    seed=seed,
    trainable_items=bool(params.trainable_items),
    candidates=params.candidates,
    state_dir=state_dir,
    tensorboard_dir=tensorboard_log,
    **variant,
)
write_fit_outputs(
    fit,
    **{name: output[name] for name in ("checkpoint", "user_vectors", "item_vectors", "recs", "curves", "tensorboard")},
    tensorboard_log=tensorboard_log,
    metadata={"recommender": recommender.name, "variant": params.variant, "seed": seed},
)
