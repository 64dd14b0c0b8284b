"""The student's item tower as an embedding of the registry: student(track text) per track."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("embed_items_student")

import time

import numpy as np
import pandas as pd
import musicrec.synth  # noqa: F401 (before sentence_transformers: torch only, offline)
from sentence_transformers import SentenceTransformer

from musicrec.io import write_embedding
from musicrec.synth.segments import track_texts
from musicrec.synth.student import encode

started = time.perf_counter()
track_ids = pd.read_csv(snakemake.input.track_ids)["track_id"]  # noqa: F821
texts, has_metadata = track_texts(pd.read_parquet(snakemake.input.catalogue), track_ids)  # noqa: F821
model = SentenceTransformer(snakemake.input.student, device="cpu")  # noqa: F821
matrix = encode(model, texts)
# A track without artist and title has no text to embed: a NaN row, listed as a failure.
failures = [{"track_idx": int(i), "track_id": str(track_ids.iloc[i]), "reason": "no artist or title"}
            for i in np.flatnonzero(~has_metadata)]
matrix[~has_metadata] = np.nan
write_embedding(matrix, {
    "embedding": snakemake.params.name, "kind": "derived",  # noqa: F821
    "source": "synth student: all-MiniLM-L6-v2 fine-tuned on the LLM teacher's triplets, on track text",
    "failures": failures, "seconds": time.perf_counter() - started, "pooling": "mean (sentence-transformers)",
}, snakemake.output.embedding, snakemake.output.sidecar)  # noqa: F821
print(f"{matrix.shape} in {time.perf_counter() - started:.1f} s, {len(failures)} tracks without text",
      file=sys.stderr)
