"""Paired tests between every pair of embeddings: musicrec's vectorised paired_tests against a plain loop.

The workload is one recommender run at the paper's scale: 100k test users, 20
embeddings (190 pairs), 5 metrics, with the defaults of ``paired_tests``
(2000 bootstrap resamples, 10 000 sign flips). Per-user metrics are
synthetic but shaped like real ones: a hit or not, and MRR / precision /
recall / NDCG that are 0 without a hit, with a per-user difficulty shared by
all embeddings (so the pairs are correlated, as real ones are).

The loop is what one writes first: for each metric and pair, scipy.stats.ttest_rel,
a numpy sign-flip test over the same (n_perm, n_users) sign matrix (in
blocks), and a bootstrap of the mean difference over the same resamples.
It is too slow to run on all 950 (metric, pair) cells, so it runs on
``--loop-pairs`` of them and its time is extrapolated linearly to all of them
(each cell costs the same: same users, same resamples); the output says so.
Its values on those cells are checked against the vectorised ones.

Time is the wall clock and this process's CPU time. CPU time is the robust
one on a machine shared with other jobs, which stretch wall time at random;
but OpenBLAS threads spin while they wait for a core, so on a loaded machine
CPU time is only honest with ``--blas-threads 1`` (then it is the work done).
Ratios are loop / vectorised. Peak memory of the vectorised call is traced
in a second, untimed call.

    python benchmarks/bench_significance.py                   # 100k users x 20 embeddings x 5 metrics
    python benchmarks/bench_significance.py --blas-threads 1  # the same, one BLAS thread
    python benchmarks/bench_significance.py --quick           # 5k users x 8 embeddings
"""

from __future__ import annotations

import argparse
import itertools
import time
import tracemalloc

import numpy as np
import pandas as pd
from scipy import stats

from musicrec.evaluation.intervals import (
    DEFAULT_N_BOOT,
    TIE_TOLERANCE,
    bootstrap_bounds,
    bootstrap_means,
    mean_acceleration,
)
from musicrec.evaluation.metrics import metric_columns
from musicrec.evaluation.significance import DEFAULT_N_PERM, paired_tests, resampling_generators, sign_flip_blocks

TARGET_CPU_SECONDS = 60.0  # "seconds, not minutes" for the full workload, on one core


def make_run(n_users: int, n_embeddings: int, k: int, seed: int) -> dict[str, pd.DataFrame]:
    """embedding -> per-user metrics (``user_id`` + the five metrics at k), correlated across embeddings."""
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n_users)
    users = np.array([f"u{i:07d}" for i in range(n_users)])
    per_user = {}
    for e in range(n_embeddings):
        skill = 0.2 + 0.5 * e / max(1, n_embeddings - 1)
        hit = (rng.random(n_users) < skill * (0.4 + difficulty)).astype(np.float64)
        rank = rng.integers(1, k + 1, n_users)
        n_relevant = rng.integers(1, 20, n_users)
        n_hits = np.minimum(hit * rng.integers(1, 5, n_users), n_relevant)
        values = {
            "hitrate": hit,
            "mrr": hit / rank,
            "precision": n_hits / k,
            "recall": n_hits / n_relevant,
            "ndcg": hit * np.minimum(1.0, 1.0 / np.log2(rank + 1) * rng.random(n_users) * 1.5),
        }
        per_user[f"emb{e:02d}"] = pd.DataFrame(
            {"user_id": users, **{f"{name}@{k}": column for name, column in values.items()}}
        )
    return per_user


def loop_cell(a: np.ndarray, b: np.ndarray, confidence: float, n_boot: int, n_perm: int, seed: int) -> dict:
    """One (metric, pair) the plain way: scipy's t-test, a sign-flip loop over blocks, a bootstrap."""
    d = a - b
    n = len(d)
    boot_rng, flip_rng = resampling_generators(seed)
    tolerance = TIE_TOLERANCE * (np.abs(a).mean() + np.abs(b).mean())
    extreme = 0
    for signs in sign_flip_blocks(n, n_perm, flip_rng):
        extreme += int(np.sum(np.abs(signs @ d / n) >= abs(d.mean()) - tolerance))
    boot = bootstrap_means(d[:, None], n_boot, boot_rng)
    centred = d - d.mean()
    acceleration = mean_acceleration(np.array([np.sum(centred**2)]), np.array([np.sum(centred**3)]))
    lower, upper = bootstrap_bounds(np.array([d.mean()]), boot, confidence, acceleration, tolerance)
    return {
        "p_t": stats.ttest_rel(a, b).pvalue,
        "p_randomisation": (1 + extreme) / (1 + n_perm),
        "diff_lower": lower[0],
        "diff_upper": upper[0],
    }


class Stopwatch:
    """Wall-clock and process CPU seconds of a ``with`` block."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info):
        self.seconds = np.array([time.perf_counter() - self._wall, time.process_time() - self._cpu])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k users x 8 embeddings instead of 100k x 20")
    parser.add_argument("--users", type=int, help="number of users (overrides --quick)")
    parser.add_argument("--embeddings", type=int, help="number of embeddings (overrides --quick)")
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT)
    parser.add_argument("--n-perm", type=int, default=DEFAULT_N_PERM)
    parser.add_argument("--loop-pairs", type=int, default=3, help="(metric, pair) cells the loop is timed on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, help="limit BLAS to this many threads (needs threadpoolctl)")
    args = parser.parse_args()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.blas_threads, user_api="blas")
    n_users = args.users or (5_000 if args.quick else 100_000)
    n_embeddings = args.embeddings or (8 if args.quick else 20)
    confidence = 0.95

    per_user = make_run(n_users, n_embeddings, args.k, args.seed)
    metrics = metric_columns(args.k)
    n_pairs = n_embeddings * (n_embeddings - 1) // 2
    n_cells = n_pairs * len(metrics)

    with Stopwatch() as vectorised:
        tests = paired_tests(per_user, "bench", confidence, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed)
    tracemalloc.start()
    paired_tests(per_user, "bench", confidence, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed)
    peak_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    # The loop on the first cells (metric by metric, pairs in order), checked against the vectorised rows.
    names = list(per_user)
    cells = list(itertools.product(metrics, itertools.combinations(names, 2)))[: args.loop_pairs]
    worst = {"p_t": 0.0, "p_randomisation": 0.0, "diff_lower": 0.0, "diff_upper": 0.0}
    with Stopwatch() as loop:
        for metric, (a, b) in cells:
            values = loop_cell(
                per_user[a][metric].to_numpy(),
                per_user[b][metric].to_numpy(),
                confidence,
                args.n_boot,
                args.n_perm,
                args.seed,
            )
            row = tests[(tests["metric"] == metric) & (tests["a"] == a) & (tests["b"] == b)].iloc[0]
            for key, value in values.items():
                scale = max(abs(value), 1e-300)
                worst[key] = max(worst[key], abs(row[key] - value) / scale)
    loop_all = loop.seconds / len(cells) * n_cells

    print(
        f"{n_users} users x {n_embeddings} embeddings ({n_pairs} pairs) x {len(metrics)} metrics = {n_cells} "
        f"(metric, pair) cells; {args.n_boot} bootstrap resamples, {args.n_perm} sign flips; "
        f"BLAS threads: {args.blas_threads or 'default'}"
    )
    print()
    header = f"{'implementation':<58} {'wall s':>9} {'cpu s':>9} {'ratio wall':>11} {'ratio cpu':>10}"
    print(header)
    print("-" * len(header))
    rows = [
        ("musicrec paired_tests (vectorised, all cells)", vectorised.seconds),
        (f"plain loop, measured on {len(cells)} cells", loop.seconds),
        (f"plain loop, extrapolated x{n_cells / len(cells):.0f} to all {n_cells} cells", loop_all),
    ]
    for name, seconds in rows:
        wall_ratio, cpu_ratio = seconds / vectorised.seconds
        print(f"{name:<58} {seconds[0]:>9.2f} {seconds[1]:>9.2f} {wall_ratio:>11.1f} {cpu_ratio:>10.1f}")
    print()
    print(
        f"the loop row 'extrapolated' is not measured: it is the measured per-cell time x {n_cells} cells "
        "(every cell has the same users and resamples, so the same cost)"
    )
    print(f"peak memory traced in paired_tests: {peak_bytes / 2**20:.0f} MiB")
    print(
        "loop vs vectorised on the measured cells, max relative difference: "
        + ", ".join(f"{key} {value:.1e}" for key, value in worst.items())
    )

    if worst["p_t"] > 1e-12 or worst["p_randomisation"] > 0 or max(worst["diff_lower"], worst["diff_upper"]) > 1e-8:
        raise SystemExit("FAIL: the loop and the vectorised tests disagree")
    if not args.quick and args.users is None and args.embeddings is None:
        cpu = vectorised.seconds[1]
        verdict = "PASS" if cpu <= TARGET_CPU_SECONDS else "BELOW TARGET"
        print(f"{verdict}: {cpu:.1f} CPU s for the full workload (target <= {TARGET_CPU_SECONDS:.0f} CPU s)")


if __name__ == "__main__":
    main()
