"""Where every artefact lives, relative to the results root.

This is the one place that names the files flowing between pipeline stages
(README.md, "The pipeline", says what each stage makes). Rules, scripts, tests and benchmarks
build paths from these templates; ``{backbone}``, ``{embedding}``, ``{run}``, ``{seed}``,
``{part}`` and ``{shard}`` are Snakemake wildcards and ``str.format`` fields alike.
"""

from __future__ import annotations

import re
from pathlib import Path

DEMO_FILE = "demo/{name}"  # the generated Music4All / Onion look-alike, same file names

CATALOGUE = "data/catalogue.parquet"
TRACK_IDS = "data/trackid_sorted.csv"
PLAYS = "data/plays.parquet"
MAPPING_REPORT = "data/mapping_report.json"
SPLIT = "data/{part}.parquet"
SPLIT_REPORT = "data/split_report.json"

# Extraction works per backbone; everything after it per embedding (an extracted backbone
# or a derived embedding: a layer, a mean, a fusion, a standardisation, ...).
SHARD = "embeddings/{backbone}/shard-{shard}.npy"
SHARD_FAILURES = "embeddings/{backbone}/shard-{shard}.failed.tsv"
SHARD_META = "embeddings/{backbone}/shard-{shard}.json"
EMBEDDING = "embeddings/{embedding}.npy"
EMBEDDING_SIDECAR = "embeddings/{embedding}.json"
EMBEDDING_FAILURES = "embeddings/{embedding}.failed.tsv"
# A multi-layer extraction (layer: all): extract-only, (n_tracks, n_layers, d_max).
LAYERS = "layers/{backbone}.npy"
LAYERS_SIDECAR = "layers/{backbone}.json"
LAYERS_FAILURES = "layers/{backbone}.failed.tsv"

# A recommender run ({run}: knn, popularity, shallow-embedding, shallow-interaction,
# bert4rec, ...) on one embedding, once per training seed.
MODEL_CHECKPOINT = "models/{run}/{embedding}/seed-{seed}/best.pt"
MODEL_USER_VECTORS = "models/{run}/{embedding}/seed-{seed}/users.npy"
MODEL_ITEM_VECTORS = "models/{run}/{embedding}/seed-{seed}/items.npy"
MODEL_CURVES = "models/{run}/{embedding}/seed-{seed}/curves.csv"
MODEL_TENSORBOARD = "models/{run}/{embedding}/seed-{seed}/tensorboard"
# Resume state of a training job: deliberately not a declared output, so it survives
# Snakemake's clean-up of a killed job's outputs and the rerun continues from it.
TRAINING_STATE = "checkpoints/{run}/{embedding}/seed-{seed}"

RECOMMENDATIONS = "recs/{run}/{embedding}/seed-{seed}.parquet"
# Per-user metrics averaged over the run's seeds, on the common item set; their summary
# (mean, interval, users, spread over seeds) and what the evaluation removed or flagged.
METRICS_PER_USER = "metrics/{run}/{embedding}.{part}.parquet"
METRICS_SUMMARY = "metrics/{run}/{embedding}.{part}.csv"
EVALUATION_REPORT = "metrics/{run}/{embedding}.{part}.json"
# {family}: a recommender of the registry (its variants are rows of its table).
TABLE = "tables/{family}.csv"
TABLE_DISPLAY = "tables/{family}.display.csv"  # rounded, intervals in one cell: the report's
SIGNIFICANCE = "tables/significance/{run}.csv"
SIGNIFICANCE_MEANS = "tables/significance/{run}.means.csv"  # the tested users' means
VERDICT = "tables/verdict.csv"
COSTS = "tables/costs.csv"
PLOT = "plots/{family}.png"
SIGNIFICANCE_PLOT = "plots/significance/{run}.png"
CURVES_PLOT = "plots/curves/{run}.png"
COMPARISON_PLOT = "plots/comparison.png"

EVALUATED_PARTS = ("val", "test")


def fill(template: str, **fields: object) -> str:
    """Fill the named fields of ``template``; the others stay ``{wildcards}``."""
    return re.sub(
        r"\{(\w+)\}", lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), template
    )


def under(root: str | Path, template: str, **fields: object) -> str:
    """``template`` with ``fields`` filled in, under the results ``root``."""
    return str(Path(root) / fill(template, **fields))

# The Music4All / Music4All-Onion files, as the data sets ship them; the demo
# generator writes the same names so one code path reads both.
MUSIC4ALL_INFORMATION = "id_information.csv"
MUSIC4ALL_GENRES = "id_genres.csv"
MUSIC4ALL_TAGS = "id_tags.csv"
MUSIC4ALL_METADATA = "id_metadata.csv"
MUSIC4ALL_AUDIO_DIR = "audios"
ONION_LISTENING_LOG = "userid_trackid_timestamp.tsv"

LOG = "logs/{rule}/{name}.log"
BENCHMARK = "benchmarks/{rule}/{name}.tsv"  # Snakemake's per-job time and memory

# Data quality: the catalogue's report (tracks without audio, metadata, genres; audio
# formats) beside the mapping and split reports, and the table that sums all three up.
CATALOGUE_REPORT = "data/catalogue_report.json"
DATA_QUALITY = "tables/data_quality.csv"

# ---- synth: the LLM teacher's triplets, the embedder benchmark, the student ----------
SYNTH_POSITIVES_SHARD = "synth/positives/shard-{shard}.parquet"
SYNTH_POSITIVES_STATS = "synth/positives/shard-{shard}.json"
SYNTH_TRIPLETS_SHARD = "synth/triplets/shard-{shard}.parquet"
SYNTH_TRIPLETS_STATS = "synth/triplets/shard-{shard}.json"
SYNTH_TRIPLETS = "synth/triplets.parquet"
SYNTH_POOL = "synth/summary_pool.parquet"
SYNTH_AUDIT = "synth/audit.csv"
SYNTH_BENCHMARK = "synth/benchmark.csv"
SYNTH_BENCHMARK_RANKS = "synth/benchmark_ranks.parquet"
SYNTH_STUDENT = "synth/student/model"
SYNTH_STUDENT_STATS = "synth/student/model.json"  # training statistics of the student
SYNTH_STUDENT_CURVES = "synth/student/curves.csv"
SYNTH_STUDENT_CURVE_PLOT = "synth/student/curves.png"
SYNTH_USER_SIMILARITY = "synth/student/user_similarity.csv"
# The teacher's call store: not a declared output, so a killed job's rerun resumes from it.
SYNTH_CALL_CACHE = "checkpoints/synth/calls.sqlite"
STUDENT_EMBEDDING = "student-text"  # the student's item tower as an embedding of the registry
STUDENT_RUN = "student"

# ---- layers: which layer knows what (probing targets, probes, fusion, search) ----------
LAYER_TARGETS = "layers/targets.parquet"  # one row per track: 15 acoustic targets + genre, artist, album
LAYER_TARGET_SKIPS = "layers/targets.skipped.csv"  # NaN cells of targets.parquet and why
PROBE_FOLDS = "layers/probe/{backbone}.folds.parquet"  # one row per control x layer x target x outer fold
PROBE_TABLE = "tables/layers/{backbone}.csv"  # layer x target: score with interval, controls, selectivity
FUSION_WEIGHTS = "tables/layers/{backbone}.fusion_weights.csv"
FUSION_ROLES = "layers/fusion/{backbone}.roles.parquet"  # track_idx, role: train | val | heldout (by artist)
FUSION_CHECKPOINT = "models/fusion/{backbone}/best.pt"
FUSION_CURVES = "models/fusion/{backbone}/curves.csv"
# Resume state of a fusion job, outside the declared outputs (see TRAINING_STATE).
FUSION_STATE = "checkpoints/fusion/{backbone}"
TRACK_NEIGHBOURS = "search/{embedding}.parquet"  # track_idx, rank, neighbour_idx, score
SEARCH_RECALL = "tables/layers/{backbone}.recall.csv"  # Recall@k on held-out artists, per layer, mean, fused
PROBE_HEATMAP = "plots/layers/{backbone}.probe.png"
FUSION_PLOT = "plots/layers/{backbone}.weights.png"


# ---- users: synthetic users, the aligner, the feedback estimator (issue 12) ------------
USERS_WORLD = "users/{embedding}/world.npz"  # the synthetic world's arrays (musicrec.users.simulation)
USERS_WORLD_SIDECAR = "users/{embedding}/world.json"  # its options and seed
USERS_ALIGNER = "users/{embedding}/aligner.pt"
USERS_ALIGNER_CURVES = "users/{embedding}/aligner_curves.csv"
USERS_SONG_VECTORS = "users/{embedding}/song_vectors.npy"  # (n_tracks, h): the song tower; failed rows zero
USERS_USER_VECTORS = "users/{embedding}/user_vectors.npy"  # (n_users, h): references (table or fold-in)
USERS_ESTIMATOR = "users/{embedding}/estimator.pt"
USERS_ESTIMATOR_CURVES = "users/{embedding}/estimator_curves.csv"
USERS_VALIDATION = "users/{embedding}/lambda_validation.csv"  # every λ candidate on validation users
USERS_CURVE_PER_USER = "users/{embedding}/coldstart.per_user.parquet"
USERS_ALIGNER_TABLE = "tables/users/{embedding}.aligner.csv"  # aligner vs ceiling vs random
USERS_COLDSTART_TABLE = "tables/users/{embedding}.coldstart.csv"  # the curve with bootstrap intervals
USERS_CONVERGENCE_TABLE = "tables/users/{embedding}.convergence.csv"
USERS_ABLATION_TABLE = "tables/users/{embedding}.ablation.csv"
USERS_ABLATION_TESTS = "tables/users/{embedding}.ablation_tests.csv"
USERS_REAL_COLDSTART_TABLE = "tables/users/{embedding}.real_coldstart.csv"
USERS_COLDSTART_PLOT = "plots/users/{embedding}.coldstart.png"
USERS_REAL_COLDSTART_PLOT = "plots/users/{embedding}.real_coldstart.png"
USERS_STATE = "checkpoints/users/{embedding}/{model}"  # resume state of the aligner / estimator jobs
ESTIMATOR_RUN = "estimator"  # the feedback estimator as a recommender run of the registry
