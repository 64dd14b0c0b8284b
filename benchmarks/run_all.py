"""Run every benchmark in turn and print its table: ``python benchmarks/run_all.py [--quick]``.

Each benchmark is its own script (``benchmarks/bench_*.py``) and can be run alone; this only
runs them one after the other in fresh processes, so one's memory does not colour another's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_metrics.py", "bench_split.py", "bench_extraction.py", "bench_backbones.py", "bench_training.py", "bench_estimator.py"]
BENCHMARKS += ["bench_significance.py"]
BENCHMARKS += ["bench_teacher.py"]
BENCHMARKS += ["bench_probe.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke runs of every benchmark")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run these benchmarks only")
    args = parser.parse_args()
    failed = []
    for name in args.only or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        command = [sys.executable, str(HERE / name)] + (["--quick"] if args.quick else [])
        if subprocess.run(command).returncode != 0:
            failed.append(name)
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
