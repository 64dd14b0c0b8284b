"""How long Snakemake takes to decide there is nothing to do, on the paper's full DAG.

    python benchmarks/bench_planning.py            # music4all.yaml + every MERT layer derived
    python benchmarks/bench_planning.py --quick    # music4all.yaml as it is

The workflow is copied to a scratch folder with ``configs/music4all.yaml`` (all eight
backbones enabled, five training seeds) pointed at a stand-in data set of empty files, plus,
unless ``--quick``, a multi-layer MERT extraction (``layer: all``) with all 25 of its layers
and their mean as derived embeddings. Every output of the DAG is then created, all with one
timestamp (so none is older than its inputs), and three no-op runs (``snakemake -n``) are
timed, against the bare start-up of Snakemake on a one-rule Snakefile in the same run.
Budget (ARCHITECTURE.md): a no-op rerun plans nothing in under 10 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
COPIED = ["Snakefile", "config.yaml", "rules", "workflow", "schemas", "configs", "report", "envs", "src"]
MERT_LAYERS = 25


def overlay(root: Path, all_layers: bool) -> dict:
    config = yaml.safe_load((REPO / "configs/music4all.yaml").read_text())
    config["dataset"]["music4all"].update(root=str(root / "music4all"), listening_log=str(root / "onion.tsv"))
    if all_layers:
        config["extraction"]["backbones"]["mert_layers"] = {"plugin": "mert", "layer": "all", "shards": 16}
        config["embeddings"] = {
            **config.get("embeddings", {}),
            **{f"mert@{i}": {"derive": "layer", "source": "mert_layers", "layer": i} for i in range(MERT_LAYERS)},
            "mert-mean": {"derive": "layer_mean", "source": "mert_layers"},
        }
    return config


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, "--cores", "1", *args], cwd=workdir, capture_output=True, text=True)


def planned_outputs(workdir: Path) -> list[str]:
    """Every output file of the DAG (``--detailed-summary`` lists them, existing or not)."""
    result = snakemake(workdir, "--configfile", "configs/bench.yaml", "--detailed-summary")
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("output_file"))
    return [line.split("\t")[0] for line in lines[start + 1 :] if line.strip()]


def materialise(workdir: Path, outputs: list[str]) -> None:
    """Create every output with one timestamp; directory outputs (TensorBoard logs) as folders."""
    stamp = time.time()
    for name in outputs:
        path = workdir / name
        if path.name == "tensorboard":
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        os.utime(path, (stamp, stamp))


def timed(workdir: Path, *args: str) -> tuple[float, str]:
    began = time.perf_counter()
    result = snakemake(workdir, *args)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return seconds, result.stdout + result.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="music4all.yaml without the derived MERT layers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "workflow"
        work.mkdir()
        for name in COPIED:
            (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, work / name)
        data = Path(scratch) / "data"
        (data / "music4all/audios").mkdir(parents=True)
        for name in ("id_information.csv", "id_genres.csv", "id_tags.csv", "id_metadata.csv"):
            (data / "music4all" / name).touch()
        (data / "onion.tsv").touch()
        config = overlay(data, all_layers=not args.quick)
        (work / "configs/bench.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        outputs = planned_outputs(work)
        materialise(work, outputs)
        bare = Path(scratch) / "bare"
        bare.mkdir()
        (bare / "Snakefile").write_text('rule all:\n    input: "x"\n')
        (bare / "x").touch()
        rows = []
        for attempt in range(3):
            bare_seconds, _ = timed(bare, "-n")
            seconds, output = timed(work, "--configfile", "configs/bench.yaml", "-n")
            if "Nothing to be done" not in output:
                print(output[-3000:])
                raise RuntimeError("the no-op run planned jobs: the benchmark's stand-in outputs are incomplete")
            rows.append((attempt + 1, bare_seconds, seconds))
    embeddings = 8 + (0 if args.quick else MERT_LAYERS + 1) + 2  # + mfcc-z, ids
    print(f"\nno-op planning of the paper's DAG: {len(outputs)} output files, {embeddings} embeddings")
    print(f"{'run':>4} {'bare snakemake (s)':>19} {'musicrec no-op (s)':>19} {'ratio':>6}")
    for attempt, bare_seconds, seconds in rows:
        print(f"{attempt:>4} {bare_seconds:>19.2f} {seconds:>19.2f} {seconds / bare_seconds:>6.1f}")
    best = min(seconds for _, _, seconds in rows)
    print(f"best no-op: {best:.2f} s (budget 10 s: {'met' if best < 10 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
