"""The workflow through a real (local, single-node) SLURM cluster with the cluster profile.

Snakemake runs with ``--profile profiles/slurm`` plus the fast-polling overlay
``tests/slurm/profile-test``, submits every job with sbatch, and follows it with sacct. The
tests then read SLURM's accounting to check which jobs ran, where and how they ended.
The cluster comes from the ``slurm_cluster`` fixture (conftest.py, testbed.py).
"""

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slurm

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROFILE = REPO / "profiles" / "slurm"
TEST_PROFILE = HERE / "profile-test"
FAILURES_SNAKEFILE = HERE / "failures.smk"
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"
# Should sacct stop answering (slurmdbd down), the plugin waits forever and Snakemake
# ignores SIGTERM; so every run is bounded, with a SIGKILL after the grace period.
SNAKEMAKE_TIMEOUT_S = 600
# What a checkout needs to run the workflow; results/ and .snakemake/ stay behind.
WORKFLOW_PARTS = ("Snakefile", "config.yaml", "rules", "workflow", "schemas", "configs",
                  "src", "report", "envs", "profiles")


def profile_settings() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def gpu_rules() -> dict[str, str]:
    """Rule name -> partition, for every rule the profile gives a GPU."""
    profile = profile_settings()
    return {rule: resources["slurm_partition"]
            for rule, resources in profile["set-resources"].items() if resources.get("gpu")}


@dataclass
class SnakemakeRun:
    returncode: int
    output: str
    run_id: str | None        # the plugin's run UUID, also every SLURM job's name
    slurm_job_ids: list[str]  # in submission order

    def rules_submitted(self) -> collections.Counter:
        """How many jobs of each rule Snakemake handed to the executor (local ones excluded)."""
        return collections.Counter(re.findall(r"^rule (\w+):$", self.output, re.MULTILINE))


@dataclass
class StartedSnakemake:
    process: subprocess.Popen
    output: IO[str]  # an unnamed file: a pipe nobody reads while another run is awaited fills up


def start_snakemake(workdir: Path, *args: str) -> StartedSnakemake:
    """Start Snakemake in workdir with the cluster profile and the test overlay."""
    command = ["timeout", "--kill-after=30", str(SNAKEMAKE_TIMEOUT_S), str(SNAKEMAKE),
               "--profile", str(PROFILE), "--workflow-profile", str(TEST_PROFILE), *args]
    # As with an activated venv: sbatch exports this PATH, so jobs find the venv's tools.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    output = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=output,
                               stderr=subprocess.STDOUT, text=True)
    return StartedSnakemake(process, output)


def finish_snakemake(started: StartedSnakemake) -> SnakemakeRun:
    process = started.process
    process.wait()
    started.output.seek(0)
    output = started.output.read()
    started.output.close()
    if process.returncode in (124, 137):
        pytest.fail(f"snakemake did not finish within {SNAKEMAKE_TIMEOUT_S} s:\n{output[-5000:]}")
    run_id = re.search(r"SLURM run ID: (\S+)", output)
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", output)
    return SnakemakeRun(process.returncode, output, run_id and run_id.group(1), job_ids)


def run_snakemake(workdir: Path, *args: str) -> SnakemakeRun:
    return finish_snakemake(start_snakemake(workdir, *args))


def accounting(run: SnakemakeRun) -> pd.DataFrame:
    """SLURM's accounting record of the run's jobs (allocations only, not steps).

    Columns: job_id (int), rule, partition, state, req_mem, alloc_tres; sorted by job_id.
    """
    columns = ["job_id", "comment", "partition", "state", "req_mem", "alloc_tres"]
    if run.run_id is None:
        return pd.DataFrame(columns=columns[:1] + ["rule"] + columns[2:])
    result = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--starttime=now-2days", f"--name={run.run_id}",
         "--format=JobID,Comment,Partition,State,ReqMem,AllocTRES"],
        capture_output=True, text=True, check=True, timeout=60)
    rows = [line.split("|") for line in result.stdout.splitlines() if line]
    jobs = pd.DataFrame(rows, columns=columns).astype({"job_id": int})
    # The plugin comments each job "rule_<name>" or "rule_<name>_wildcards_<values>".
    jobs["rule"] = jobs["comment"].str.removeprefix("rule_").str.split("_wildcards_").str[0]
    return jobs.drop(columns="comment").sort_values("job_id", ignore_index=True)


def copy_workflow(destination: Path) -> Path:
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy2(source, destination / part)
    return destination


# ---------------------------------------------------------------- the test bed itself


def test_gpu_job_gets_a_gpu_device(slurm_cluster, tmp_path):
    """A job asking the gpu partition for one GPU sees exactly one device."""
    out = tmp_path / "gpu.out"
    subprocess.run(["sbatch", "--wait", "--partition=gpu", "--gpus=1", "--account=musicrec",
                    f"--output={out}", "--wrap", "echo ${CUDA_VISIBLE_DEVICES:-none}"],
                   check=True, capture_output=True, timeout=120)
    assert re.fullmatch(r"\d+\n", out.read_text()), "not exactly one device index"


# ---------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def failure_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("failures-slurm")


@pytest.fixture(scope="module")
def failure_process(slurm_cluster, failure_workdir):
    """The failures workflow, started before the tiny one and left running beside it: the
    cluster has room for both, and the module takes a minute less."""
    started = start_snakemake(failure_workdir, "--snakefile", str(FAILURES_SNAKEFILE))
    yield started
    if started.process.poll() is None:
        started.process.kill()


@pytest.fixture(scope="module")
def failure_run(failure_process, failure_workdir):
    return finish_snakemake(failure_process), failure_workdir


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("tiny-slurm"))


@pytest.fixture(scope="module")
def tiny_run(slurm_cluster, tiny_workdir, failure_process):
    return run_snakemake(tiny_workdir, "--configfile", *TINY_CONFIGS)


# ---------------------------------------------------------------- the tiny workflow


# The tiny config with the test bed's overlay (fewer jobs through sbatch), for every run here.
TINY_CONFIGS = ("configs/tiny.yaml", "configs/slurm-test.yaml")


def merged(base: dict, overlay: dict) -> dict:
    """``overlay`` on top of ``base``, nested mappings merged (as Snakemake merges config files)."""
    result = dict(base)
    for key, value in overlay.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) else value
    return result


def tiny_config(workdir: Path) -> dict:
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for overlay in TINY_CONFIGS:
        config = merged(config, yaml.safe_load((workdir / overlay).read_text()))
    return config


def test_tiny_workflow_completes(tiny_run, tiny_workdir):
    assert tiny_run.returncode == 0, tiny_run.output[-5000:]
    config = tiny_config(tiny_workdir)
    results = tiny_workdir / config["results"]
    backbones = [name for name, block in config["extraction"]["backbones"].items()
                 if block.get("enabled", True)]
    for backbone in backbones:
        # Shards extracted by separate SLURM jobs, merged into one row per track.
        embeddings = np.load(results / "embeddings" / f"{backbone}.npy")
        assert embeddings.shape[0] == config["dataset"]["demo"]["n_tracks"]
    table = pd.read_csv(results / "tables" / "knn.csv")
    assert sorted(table.loc[table.run == "knn", "embedding"]) == ["musicnn", "random"]
    shallow = pd.read_csv(results / "tables" / "shallow.csv")
    assert sorted(shallow.loc[shallow.run == "shallow-embedding", "embedding"]) == ["musicnn", "random"]


def test_every_job_went_through_slurm(tiny_run):
    jobs = accounting(tiny_run)
    assert len(tiny_run.slurm_job_ids) > 0
    assert sorted(jobs["job_id"]) == sorted(map(int, tiny_run.slurm_job_ids))
    assert set(jobs["state"]) == {"COMPLETED"}
    assert collections.Counter(jobs["rule"]) == tiny_run.rules_submitted()


def test_gpu_rules_ran_on_the_gpu_partition_with_one_gpu(tiny_run):
    jobs = accounting(tiny_run)
    gpu_partition_of = gpu_rules()
    cpu_partition = profile_settings()["default-resources"]["slurm_partition"]
    on_gpu = jobs["rule"].isin(gpu_partition_of)
    assert on_gpu.any(), "no job of a GPU rule ran"
    for job in jobs[on_gpu].itertuples():
        assert job.partition == gpu_partition_of[job.rule]
        assert "gres/gpu=1" in job.alloc_tres.split(",")
    for job in jobs[~on_gpu].itertuples():
        assert job.partition == cpu_partition
        assert "gres/gpu" not in job.alloc_tres


def test_second_run_submits_nothing(tiny_run, tiny_workdir):
    assert tiny_run.returncode == 0
    again = run_snakemake(tiny_workdir, "--configfile", *TINY_CONFIGS)
    assert again.returncode == 0, again.output[-5000:]
    assert "Nothing to be done" in again.output
    assert again.slurm_job_ids == []
    assert accounting(again).empty


# ---------------------------------------------------------------- failures


def test_failed_job_is_retried_with_more_memory(failure_run):
    run, workdir = failure_run
    flaky = accounting(run).query("rule == 'flaky'")
    assert list(flaky["state"]) == ["FAILED", "COMPLETED"]
    assert list(flaky["req_mem"]) == ["1000M", "2000M"]
    # The job ran with the submitting environment: the venv's python first on PATH.
    assert (workdir / "flaky.txt").read_text().strip() == str(VENV_BIN / "python")


def test_job_failing_every_attempt_is_reported(failure_run):
    run, workdir = failure_run
    assert run.returncode != 0
    broken = accounting(run).query("rule == 'broken'")
    attempts = 1 + profile_settings()["retries"]
    assert list(broken["state"]) == ["FAILED"] * attempts
    last = broken["job_id"].iloc[-1]
    assert "Error in rule broken" in run.output
    assert f"SLURM-job '{last}' failed" in run.output
    slurm_log = workdir / ".snakemake" / "slurm_logs" / "rule_broken" / f"{last}.log"
    assert "broken: failing on purpose" in slurm_log.read_text()
    assert not (workdir / "broken.txt").exists()
