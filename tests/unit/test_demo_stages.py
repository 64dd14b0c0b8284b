"""benchmarks/demo_stages.py: a finished run's benchmark files and console log -> time per stage."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("demo_stages", REPO / "benchmarks" / "demo_stages.py")
demo_stages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_stages)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
LOG = """\
[Wed Dec  2 00:19:49 2026]
rule generate_demo:
    jobid: 7
[Wed Dec  2 00:20:09 2026]
Finished jobid: 7 (Rule: generate_demo)
[Wed Dec  2 00:20:09 2026]
rule train_recommender:
    jobid: 8
[Wed Dec  2 00:20:10 2026]
localrule evaluate:
    jobid: 9
[Wed Dec  2 00:20:19 2026]
Finished jobid: 9 (Rule: evaluate)
[Wed Dec  2 00:20:39 2026]
Finished jobid: 8 (Rule: train_recommender)
"""


def write_benchmark(results, rule, name, wall, cpu):
    folder = results / "benchmarks" / rule
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.tsv").write_text(HEADER + f"{wall}\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_every_rule_of_the_workflow_has_its_stage_file():
    stages = demo_stages.rule_stages()
    assert stages["generate_demo"] == "data" and stages["merge_layers"] == "extract"
    assert stages["train_recommender"] == "recommend: training" and stages["recommend"] == "recommend"
    assert stages["probe_layers"] == "layers" and stages["synth_positives"] == "synth"


def test_jobs_grouped_by_stage_with_totals(tmp_path):
    write_benchmark(tmp_path, "generate_demo", "demo", 20.0, 30.0)
    write_benchmark(tmp_path, "train_recommender", "bert4rec.musicnn.seed-1", 30.0, 29.0)
    write_benchmark(tmp_path, "train_recommender", "bert4rec.random.seed-1", 10.0, 9.0)
    write_benchmark(tmp_path, "evaluate", "knn.musicnn", 9.0, 2.0)
    table = demo_stages.stage_table(demo_stages.job_table(tmp_path, demo_stages.rule_stages()))
    assert table.loc["recommend: training", "jobs"] == 2 and table.loc["recommend: training", "wall_s"] == 40
    assert table.loc["total", "wall_s"] == 69 and table.loc["total", "cpu_s"] == 70
    assert list(table.index[:2]) == ["recommend: training", "data"]  # longest first, total last
    assert table.loc["total", "share_of_wall"] == 1.0


def test_concurrency_from_the_console_log(tmp_path):
    (tmp_path / "log").write_text(LOG)
    assert demo_stages.concurrency(tmp_path / "log") == {"span_s": 51, "one_job_s": 41, "two_or_more_s": 9, "none_s": 1}


def test_a_folder_without_benchmarks_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no benchmark files"):
        demo_stages.job_table(tmp_path, {})
    (tmp_path / "log").write_text("Building DAG of jobs...\n")
    with pytest.raises(ValueError, match="no finished job"):
        demo_stages.concurrency(tmp_path / "log")
