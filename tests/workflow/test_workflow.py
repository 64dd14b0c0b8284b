"""Runs the real workflow on configs/tiny.yaml in a scratch copy of the repository."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from scratch_repo import REPO, copy_repository, run_snakemake

pytestmark = pytest.mark.workflow


def snakemake(workdir, *args, timeout=900):
    return run_snakemake(workdir, ["configs/tiny.yaml"], *args, timeout=timeout)


def planned_jobs(workdir, *targets):
    """(rule, wildcards) of every job a dry run (of ``targets``, default: all) would execute."""
    result = snakemake(workdir, "--dry-run", *targets)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs, rule = [], None
    for line in (result.stdout + result.stderr).splitlines():
        if m := re.match(r"^rule (\w+):", line.strip()):
            rule = m.group(1)
            jobs.append((rule, ""))
        elif rule and line.strip().startswith("wildcards:"):
            jobs[-1] = (rule, line.strip()[len("wildcards:") :].strip())
    return jobs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = copy_repository(tmp_path_factory.mktemp("workflow"))
    result = snakemake(work)
    assert result.returncode == 0, result.stderr[-5000:]
    return work


EMBEDDINGS = ["mfcc", "mfcc-z", "musicnn", "random"]  # the id table is for trained models only


def test_outputs_complete(workdir):
    results = workdir / "results"
    table = pd.read_csv(results / "tables/knn.csv")
    assert sorted(table.loc[table.run == "knn", "embedding"]) == EMBEDDINGS
    assert list(table.loc[table.run == "popularity", "embedding"]) == ["none"]  # the baseline in every table
    assert {"dim", "n_users", "n_seeds", "hitrate@10", "hitrate@10_lower", "hitrate@10_upper", "collapsed"} <= set(
        table.columns
    )
    knn = table[table.run == "knn"]
    assert dict(zip(knn.embedding, knn.dim)) == {"musicnn": 200, "mfcc": 104, "mfcc-z": 104, "random": 16}
    assert ((table["hitrate@10_lower"] >= 0) & (table["hitrate@10_upper"] <= 1)).all()

    track_ids = pd.read_csv(results / "data/trackid_sorted.csv")
    for name, dim in [("musicnn", 200), ("mfcc", 104), ("random", 16), ("mfcc-z", 104), ("ids", 8)]:
        matrix = np.load(results / f"embeddings/{name}.npy")
        assert matrix.shape == (len(track_ids), dim) and matrix.dtype == np.float32
        assert np.isfinite(matrix).all()
        sidecar = json.loads((results / f"embeddings/{name}.json").read_text())
        assert sidecar["dim"] == dim and sidecar["n_failed"] == 0 and sidecar["embedding"] == name
    standardised = np.load(results / "embeddings/mfcc-z.npy")
    np.testing.assert_allclose(standardised.mean(axis=0), 0, atol=1e-4)

    val_users = set(pd.read_parquet(results / "data/val.parquet")["user_id"])
    test_users = set(pd.read_parquet(results / "data/test.parquet")["user_id"])
    assert val_users and test_users and not (val_users & test_users)
    train = pd.read_parquet(results / "data/train.parquet")
    for run in ("knn", "popularity"):
        embedding = "musicnn" if run == "knn" else "none"
        recs = pd.read_parquet(results / f"recs/{run}/{embedding}/seed-7.parquet")
        assert set(recs["user_id"]) == val_users | test_users
        # Candidates are the tracks played in train (the protocol's), every user gets top_n
        # (20) of them unless fewer unheard ones are left in the tiny catalogue.
        assert set(recs["track_idx"]) <= set(train["track_idx"])
        heard = train.groupby("user_id", observed=True).size()
        per_user_recs = recs.groupby("user_id").size()
        expected = np.minimum(20, train["track_idx"].nunique() - heard.reindex(per_user_recs.index))
        assert (per_user_recs == expected).all()
    per_user = pd.read_parquet(results / "metrics/knn/musicnn.test.parquet")
    assert set(per_user["user_id"]) == test_users
    assert (results / "plots/knn.png").stat().st_size > 1000


def test_trained_recommenders_complete(workdir):
    results = workdir / "results"
    shallow = pd.read_csv(results / "tables/shallow.csv")
    assert list(dict.fromkeys(shallow["run"])) == ["shallow-embedding", "shallow-interaction", "popularity"]
    trained = shallow[shallow.run != "popularity"]
    assert len(trained) == 10 and set(trained["embedding"]) == {*EMBEDDINGS, "ids"}
    assert (trained["n_seeds"] == 2).all()
    bert = pd.read_csv(results / "tables/bert4rec.csv")
    assert list(dict.fromkeys(bert["run"])) == ["bert4rec", "popularity"] and len(bert) == 6
    val_users = set(pd.read_parquet(results / "data/val.parquet")["user_id"])
    test_users = set(pd.read_parquet(results / "data/test.parquet")["user_id"])
    for run in ["shallow-embedding", "shallow-interaction", "bert4rec"]:
        for seed in (1, 2):
            recs = pd.read_parquet(results / f"recs/{run}/musicnn/seed-{seed}.parquet")
            assert set(recs["user_id"]) == val_users | test_users
            curves = pd.read_csv(results / f"models/{run}/musicnn/seed-{seed}/curves.csv")
            assert {"epoch", "train_loss", "val_loss"} <= set(curves.columns) and len(curves) >= 2
            assert (results / f"models/{run}/musicnn/seed-{seed}/best.pt").exists()
        assert (results / f"plots/curves/{run}.png").stat().st_size > 1000
    assert (results / "plots/comparison.png").stat().st_size > 1000


def test_statistics_verdict_and_costs(workdir):
    results = workdir / "results"
    tests = pd.read_csv(results / "tables/significance/knn.csv")
    compared = {*EMBEDDINGS, "popularity"}
    assert set(tests["a"]) | set(tests["b"]) == compared
    assert len(tests) == 5 * len(compared) * (len(compared) - 1) // 2  # every metric x pair
    assert ((tests["p_randomisation_holm"] >= tests["p_randomisation"]) & (tests["p_randomisation_holm"] <= 1)).all()
    assert (results / "plots/significance/knn.png").stat().st_size > 1000
    verdict = pd.read_csv(results / "tables/verdict.csv")
    assert {"run", "embedding", "verdict", "summary"} <= set(verdict.columns)
    assert {"knn", "bert4rec", "shallow-embedding"} <= set(verdict["run"])
    costs = pd.read_csv(results / "tables/costs.csv")
    extracted = costs[(costs.kind == "embedding") & (costs.name == "musicnn")].iloc[0]
    assert extracted.jobs == 2 and extracted.seconds > 0 and extracted.dim == 200 and extracted.disk_mb > 0
    assert set(costs.loc[costs.kind == "recommender", "name"]) >= {"knn", "popularity", "bert4rec"}


def test_second_run_has_nothing_to_do(workdir):
    assert planned_jobs(workdir) == []
    result = snakemake(workdir)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_report_is_generated(workdir):
    result = snakemake(workdir, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workdir / "results/report.html").read_text(errors="ignore")
    assert "knn.csv" in html and "knn.png" in html and "verdict.csv" in html


def test_a_killed_shard_reruns_alone(workdir):
    """A killed shard job leaves none of its outputs (Snakemake removes them) and the merge has
    not run yet: the rerun extracts that shard only, the finished shard is kept."""
    results = workdir / "results/embeddings"
    lost = [results / f"musicnn/shard-1.{ext}" for ext in ("npy", "failed.tsv", "json")]
    lost += [results / f"musicnn.{ext}" for ext in ("npy", "json", "failed.tsv")]
    for path in lost:  # renamed, not deleted: renaming back restores them with their times
        path.rename(path.with_name(path.name + ".parked"))
    try:
        # Targeting the merged matrix: Snakemake does not rebuild missing intermediates whose
        # consumers (recs, metrics, tables) are all present, which is not what is tested here.
        jobs = planned_jobs(workdir, "results/embeddings/musicnn.npy")
    finally:
        for path in lost:
            path.with_name(path.name + ".parked").rename(path)
    assert [w for rule, w in jobs if rule == "extract_embeddings"] == ["backbone=musicnn, shard=1"]
    assert [w for rule, w in jobs if rule == "merge_shards"] == ["backbone=musicnn"]


def test_changing_one_backbone_reruns_only_its_dependants(workdir):
    config = yaml.safe_load((workdir / "configs/tiny.yaml").read_text())
    config["extraction"]["backbones"]["random"]["dim"] = 24
    (workdir / "configs/tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(workdir)
    rules = {rule for rule, _ in jobs}
    downstream = {"extract_embeddings", "merge_shards", "recommend", "train_recommender", "evaluate"}
    # Tables, tests and plots gather every embedding; the common item set reads every sidecar.
    gathering = {"make_table", "compare_embeddings", "plot_significance", "verdict", "cost_table"}
    plots = {"plot_comparison", "plot_model_comparison", "plot_training_curves", "all"}
    assert downstream <= rules <= downstream | gathering | plots
    for rule, wildcards in jobs:
        if rule in ("extract_embeddings", "merge_shards", "recommend", "train_recommender"):
            assert "backbone=random" in wildcards or "embedding=random" in wildcards, (rule, wildcards)
    # The evaluations re-run (the item set depends on every embedding's sidecar), nothing trains again.
    assert all("embedding=random" in w for rule, w in jobs if rule == "train_recommender")


def test_every_backbone_of_the_paper_resolves_in_the_dag(tmp_path):
    """Dry run with all eight backbones enabled: every extraction job family is planned."""
    copy_repository(tmp_path)
    config = yaml.safe_load((tmp_path / "configs/tiny.yaml").read_text())
    paper = yaml.safe_load((REPO / "configs/music4all.yaml").read_text())
    config["extraction"]["backbones"] = paper["extraction"]["backbones"]
    assert all(block.get("enabled") for block in config["extraction"]["backbones"].values() if "enabled" in block)
    (tmp_path / "configs/tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(tmp_path)
    extracted = {w.split("backbone=")[1].split(",")[0] for r, w in jobs if r == "extract_embeddings"}
    assert extracted == {"musicnn", "mfcc", "random", "mert", "music2vec", "encodecmae", "jukemir", "musicfm"}
    shards = [w for r, w in jobs if r == "extract_embeddings" and "backbone=jukemir" in w]
    assert len(shards) == paper["extraction"]["backbones"]["jukemir"]["shards"]


NEW_EMBEDDING_RULE = '''

# Added by the test: a derived embedding of a new kind, one rule and one declaration.
declare_embedding("musicnn-half", source="musicnn")


rule halve_musicnn:
    input:
        embeddings=embedding_file("musicnn"),
    output:
        embeddings=embedding_file("musicnn-half"),
        sidecar=embedding_sidecar("musicnn-half"),
    log:
        log_file("halve_musicnn", "musicnn-half"),
    run:
        import numpy as np
        from musicrec.io import write_embedding

        matrix = np.load(input.embeddings)[:, :100]
        write_embedding(
            matrix,
            {"embedding": "musicnn-half", "kind": "derived", "source": "musicnn"},
            output.embeddings,
            output.sidecar,
        )
'''


def test_one_rule_adds_an_embedding_to_every_table_and_test(workdir, tmp_path):
    """Done-when of issue 8: a new derived embedding is one rule; it gets every recommender,
    evaluation, table and significance test with no other edit."""
    work = tmp_path / "work"
    # With Snakemake's metadata, as in the user's own folder: it is what sees a job's input set change.
    shutil.copytree(workdir, work, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    with open(work / "rules/extract.smk", "a") as handle:
        handle.write(NEW_EMBEDDING_RULE)
    jobs = planned_jobs(work)
    with_it = {rule for rule, w in jobs if "embedding=musicnn-half" in w}
    assert {"recommend", "train_recommender", "evaluate"} <= with_it
    trained = {w.split("run=")[1].split(",")[0] for r, w in jobs if r == "train_recommender" and "musicnn-half" in w}
    assert trained == {"shallow-embedding", "shallow-interaction", "bert4rec"}
    assert {"make_table", "compare_embeddings", "verdict"} <= {rule for rule, _ in jobs}
    # A flag first: --configfile takes every argument up to the next option.
    result = snakemake(work, "--keep-going", "results/tables/knn.csv", "results/tables/significance/knn.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(work / "results/tables/knn.csv")
    assert "musicnn-half" in set(table["embedding"]) and table.set_index("embedding").at["musicnn-half", "dim"] == 100
    tests = pd.read_csv(work / "results/tables/significance/knn.csv")
    assert "musicnn-half" in set(tests["a"]) | set(tests["b"])
