"""Where a finished workflow run spent its time, per stage: one command, a table.

    python benchmarks/demo_stages.py results [--log snakemake.log]

Reads the run's Snakemake benchmark files (``results/benchmarks/{rule}/{name}.tsv``: a job's
wall seconds and CPU seconds) and groups the jobs by the stage file their rule is defined in
(``rules/data.smk`` -> data, ``rules/extract.smk`` -> extract, ...), trained recommenders apart
from the rest of ``recommend``. With ``--log`` (the console output of the run, which carries
each job's start and end), it also prints the run's span and for how many seconds one job or
two or more were running: a stage that runs alone on a 2-core machine shows up there.
Benchmark CPU seconds are sampled by Snakemake and undercount short jobs; the wall seconds are exact.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import re
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TRAINING_RULES = {"train_recommender"}  # a stage of their own: the bulk of a demo's CPU


def rule_stages(rules_dir: Path = REPO / "rules") -> dict[str, str]:
    """rule name -> stage (the name of the .smk file that defines it)."""
    stages = {}
    for path in sorted(rules_dir.glob("*.smk")):
        for match in re.finditer(r"^\s*(?:use\s+rule\s+\w+\s+as\s+(\w+)|rule\s+(\w+))", path.read_text(), re.M):
            stages[match.group(1) or match.group(2)] = path.stem
    for rule in TRAINING_RULES:
        stages[rule] = "recommend: training"
    return stages


def job_table(results: Path, stages: dict[str, str]) -> pd.DataFrame:
    """One row per benchmark file: rule, name, stage, wall s, CPU s."""
    rows = []
    for path in sorted((results / "benchmarks").glob("*/*.tsv")):
        frame = pd.read_csv(path, sep="\t")
        if frame.empty:
            raise ValueError(f"{path}: a benchmark file without a row")
        rule = path.parent.name
        rows.append(
            {
                "rule": rule,
                "name": path.stem,
                "stage": stages.get(rule, "(unknown rule)"),
                "wall_s": float(frame["s"].iloc[0]),
                "cpu_s": float(frame["cpu_time"].iloc[0]),
            }
        )
    if not rows:
        raise ValueError(f"{results}/benchmarks: no benchmark files; is this a finished run's results folder?")
    return pd.DataFrame(rows)


def stage_table(jobs: pd.DataFrame) -> pd.DataFrame:
    table = jobs.groupby("stage").agg(jobs=("rule", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"))
    table = table.sort_values("wall_s", ascending=False)
    table.loc["total"] = table.sum()
    table["share_of_wall"] = table["wall_s"] / table.loc["total", "wall_s"]
    return table.round({"wall_s": 0, "cpu_s": 0, "share_of_wall": 3})


_STAMP = re.compile(r"^\[(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4})\]")


def concurrency(log: Path) -> dict[str, float]:
    """Span of the run's jobs and seconds with 1 / 2+ jobs running, from Snakemake's console log."""
    stamp, rule, jobs = None, None, {}
    for line in log.read_text(errors="replace").splitlines():
        if match := _STAMP.match(line):
            stamp = datetime.datetime.strptime(re.sub(" +", " ", match.group(1)), "%a %b %d %H:%M:%S %Y")
        elif match := re.match(r"^(?:local)?rule (\w+):", line):
            rule = match.group(1)
        elif (match := re.match(r"^\s+jobid: (\d+)", line)) and stamp is not None:
            jobs[match.group(1)] = [rule, stamp, None]
        elif (match := re.match(r"^Finished jobid: (\d+)", line)) and match.group(1) in jobs:
            jobs[match.group(1)][2] = stamp
    finished = [(start, end) for _, start, end in jobs.values() if end is not None]
    if not finished:
        raise ValueError(f"{log}: no finished job found (expected Snakemake's console output)")
    first = min(start for start, _ in finished)
    span = int((max(end for _, end in finished) - first).total_seconds()) + 1
    running = [0] * span
    for start, end in finished:
        for second in range(int((start - first).total_seconds()), int((end - first).total_seconds())):
            running[second] += 1
    counts = collections.Counter(min(n, 2) for n in running)
    return {"span_s": span, "one_job_s": counts[1], "two_or_more_s": counts[2], "none_s": counts[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the run's results folder (config key results)")
    parser.add_argument("--log", type=Path, help="the run's Snakemake console output")
    args = parser.parse_args(argv)
    jobs = job_table(args.results, rule_stages())
    print(stage_table(jobs).to_string())
    print("\nlongest jobs:")
    print(jobs.sort_values("wall_s", ascending=False).head(10)[["rule", "name", "wall_s", "cpu_s"]].to_string(index=False))
    if args.log:
        print("\nconcurrency:", concurrency(args.log))


if __name__ == "__main__":
    main()
