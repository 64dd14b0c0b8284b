"""Runs the three research branches (layers, LLM teacher, synthetic users) through the real
workflow on configs/tiny.yaml + tests/workflow/branches.yaml, with a real local llama.cpp teacher."""

import json

import numpy as np
import pandas as pd
import pytest

from scratch_repo import REPO, copy_repository, run_snakemake

pytestmark = pytest.mark.workflow

CONFIGS = ["configs/tiny.yaml", "tests/workflow/branches.yaml"]
LAYERED = "musicnn_layers"
LAYER_EMBEDDINGS = [f"{LAYERED}@last", f"{LAYERED}@best", f"{LAYERED}-mean", f"{LAYERED}-fused"]


def snakemake(workdir, *args):
    return run_snakemake(workdir, CONFIGS, *args, timeout=1800)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = copy_repository(tmp_path_factory.mktemp("branches"))
    (work / "tests/workflow").mkdir(parents=True)
    (work / CONFIGS[1]).write_text((REPO / CONFIGS[1]).read_text())
    result = snakemake(work)
    assert result.returncode == 0, result.stderr[-6000:]
    return work


def test_a_second_run_has_nothing_to_do(workdir):
    result = snakemake(workdir, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_layer_probe_fusion_and_search_reach_the_tables(workdir):
    results = workdir / "results"
    probe = pd.read_csv(results / f"tables/layers/{LAYERED}.csv")
    layers = json.loads((results / f"layers/{LAYERED}.json").read_text())["layer_names"]
    assert len(layers) == 9 and set(probe["layer"]) == set(layers)
    targets = set(probe["target"])
    assert {"spectral_centroid", "tempo", "genre", "artist"} <= targets and len(targets) == 17
    assert len(probe) == len(layers) * len(targets)  # every layer x target once
    assert (probe["n_folds"] == 3).all()
    finite = probe.dropna(subset=["mean"])
    assert ((finite["lower"] <= finite["mean"]) & (finite["mean"] <= finite["upper"])).all()
    # The shuffled-target control and the selectivity are reported for every cell.
    assert probe["shuffled_mean"].notna().all()
    np.testing.assert_allclose(probe["selectivity_shuffled"], probe["mean"] - probe["shuffled_mean"], atol=1e-9)
    weights = pd.read_csv(results / f"tables/layers/{LAYERED}.fusion_weights.csv")
    assert list(weights["layer"]) == layers and weights["weight_mean"].sum() == pytest.approx(1.0, abs=1e-5)
    recall = pd.read_csv(results / f"tables/layers/{LAYERED}.recall.csv")
    assert {f"{LAYERED}-fused", f"{LAYERED}-mean"} <= set(recall["embedding"])
    assert recall["recall"].between(0, 1).all()
    knn = pd.read_csv(results / "tables/knn.csv")
    assert set(LAYER_EMBEDDINGS) <= set(knn["embedding"])
    for name in ("probe", "weights"):
        assert (results / f"plots/layers/{LAYERED}.{name}.png").stat().st_size > 1000


def test_llm_teacher_student_and_a_rerun_without_calls(workdir):
    results = workdir / "results"
    audit = pd.read_csv(results / "synth/audit.csv").set_index("quantity")["value"]
    assert audit["users asked"] == 3 and audit["positives: calls"] >= 3
    assert audit["positives: calls"] == audit["positives: tasks"] + audit["positives: repairs"]
    triplets = pd.read_parquet(results / "synth/triplets.parquet")
    assert len(triplets) == audit["triplets"]
    assert {"user_id", "context", "pos_summary", "neg_summary"} <= set(triplets.columns)
    benchmark = pd.read_csv(results / "synth/benchmark.csv")
    assert {"bm25", "minilm", "mpnet"} <= set(benchmark["scorer"])
    assert (results / "synth/student/curves.png").stat().st_size > 1000
    student = pd.read_csv(results / "tables/student.csv")
    assert "student" in set(student["run"])
    assert "student-text" in set(pd.read_csv(results / "tables/knn.csv")["embedding"])

    # Every answer is in the call store: forcing the teacher's jobs again asks the server nothing
    # (this leaves the downstream jobs older than their inputs: the up-to-date check runs first).
    rerun = snakemake(workdir, "--forcerun", "synth_positives", "synth_negatives", "--until", "synth_negatives")
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for phase in ("positives", "triplets"):
        stats = json.loads((results / f"synth/{phase}/shard-0.json").read_text())
        assert stats["calls"] == 0 and stats["cache_hits"] >= 1, stats
    assert pd.read_parquet(results / "synth/triplets.parquet").equals(triplets)


def test_synthetic_users_aligner_coldstart_and_estimator_run(workdir):
    results = workdir / "results"
    aligner = pd.read_csv(results / "tables/users/musicnn.aligner.csv")
    assert {"ceiling", "aligner", "random"} <= set(aligner["model"])
    assert set(aligner["users"]) == {"train", "test"} and aligner["auc"].between(0, 1).all()
    coldstart = pd.read_csv(results / "tables/users/musicnn.coldstart.csv")
    assert sorted(coldstart["n"].unique()) == [0, 1, 4, 16]
    assert set(coldstart["method"]) == {f"estimator/{cell}" for cell in ("none", "consistency", "prior", "both")} | {
        "prior", "mean_liked", "ridge", "blr"}
    assert set(coldstart["selection"]) == {"random", "active"}
    assert ((coldstart["lower"] <= coldstart["mean"]) & (coldstart["mean"] <= coldstart["upper"])).all()
    assert len(pd.read_csv(results / "tables/users/musicnn.ablation_tests.csv")) > 0
    estimator = pd.read_csv(results / "tables/estimator.csv")
    assert "estimator" in set(estimator["run"])
    assert (results / "plots/users/musicnn.coldstart.png").stat().st_size > 1000
