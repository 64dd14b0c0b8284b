"""The student as a user embedder: recommendations for val ∪ test users, and user similarity vs ground truth."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("recommend_student")

import numpy as np
import pandas as pd
import musicrec.synth  # noqa: F401 (before sentence_transformers: torch only, offline)
from sentence_transformers import SentenceTransformer

from musicrec.io import read_embedding, write_csv, write_parquet
from musicrec.recommenders.inputs import excluded_rows_from_sidecar
from musicrec.synth.segments import track_texts
from musicrec.synth.student import encode, student_recommendations, taste_similarity_agreement, user_contexts
from musicrec.synth.weights import sentence_model_dir

params = snakemake.params  # noqa: F821
inputs = snakemake.input  # noqa: F821
track_ids = pd.read_csv(inputs.track_ids)["track_id"]
catalogue = pd.read_parquet(inputs.catalogue)
texts, _ = track_texts(catalogue, track_ids)
matrix, sidecar = read_embedding(inputs.embedding, inputs.sidecar, n_tracks=len(track_ids))
train, val, test = (pd.read_parquet(inputs[part]) for part in ("train", "val", "test"))
student = SentenceTransformer(inputs.student, device="cpu")
recs, user_ids, user_vectors = student_recommendations(
    student, texts, matrix, excluded_rows_from_sidecar(sidecar, inputs.sidecar), train, val, test,
    int(params.top_n), params.candidates, int(params.segment_size))
write_parquet(recs, snakemake.output.recs)  # noqa: F821
print(f"student: {recs['user_id'].nunique()} users, {len(recs)} recommendations", file=sys.stderr)

# User similarity against the demo listeners' known tastes (their discovery distributions).
rows = []
if params.demo is not None:
    from musicrec.data.demo import DemoConfig, generate_demo
    from musicrec.data.demo_listeners import discovery_distribution

    demo = generate_demo(DemoConfig.from_mapping(params.demo), int(params.seed))
    truth = discovery_distribution(demo.listeners, demo.catalogue)
    row_of = {str(u): i for i, u in enumerate(demo.listeners.user_id)}
    known = np.array([str(u) in row_of for u in user_ids])
    truth_rows = truth[[row_of[str(u)] for u in np.asarray(user_ids)[known]]]
    base = SentenceTransformer(str(sentence_model_dir("minilm", params.model_cache)), device="cpu")
    contexts = user_contexts(train, texts, np.asarray(user_ids)[known], int(params.segment_size))
    for name, vectors in (("student", user_vectors[known]), ("minilm (not fine-tuned)", encode(base, contexts))):
        rows.append({"user_encoder": name, "users": int(known.sum()),
                     "spearman_vs_true_taste": taste_similarity_agreement(vectors, truth_rows)})
write_csv(pd.DataFrame(rows, columns=["user_encoder", "users", "spearman_vs_true_taste"]),
          snakemake.output.similarity)  # noqa: F821
print(rows, file=sys.stderr)
