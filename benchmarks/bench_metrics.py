"""Per-user HitRate, MRR, Precision, Recall, NDCG @k: musicrec's vectorised metrics against rs_metrics 0.6.0.

Both sides get the same recommendations (top-100 of 50k items per user, in the
pipeline's layout) and ground truth (1..20 relevant items per user, part of
them inside the user's list) and must return identical per-user values.

rs_metrics is timed twice: its five per-user calls on the {user: [items]}
dicts it works on, built once beforehand (its most favourable use), and the
same plus building those dicts from the DataFrames. Each is timed by the wall
clock and by this process's CPU time; the latter is the robust one on a
machine shared with other jobs, which stretch wall time at random. Ratios are
rs_metrics / ours. Ours is the best of five runs, rs_metrics (the slow side)
the best of --rs-repeats (default 1).

    python benchmarks/bench_metrics.py            # 100k users
    python benchmarks/bench_metrics.py --quick    # 5k users
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import rs_metrics
from rs_metrics.helpers import pandas_to_dict

from musicrec.evaluation.metrics import METRIC_NAMES, evaluate, metric_columns

REQUIRED_SPEEDUP = 20.0


def make_run(n_users: int, n_items: int, top_n: int, max_relevant: int, seed: int):
    """Recommendations and ground truth as the pipeline writes them, generated without a loop over users.

    Each user walks a shared random permutation of the items from its own
    offset: its recommendations are the first ``top_n`` steps, its relevant
    items ``1..max_relevant`` distinct steps among the first ``window`` (so
    about a quarter fall inside the top 50, and many users have no hit).
    """
    rng = np.random.default_rng(seed)
    window = 199  # prime: offset + stride * j (mod window) is distinct for j < window
    permutation = rng.permutation(n_items).astype(np.int64)
    offset = rng.integers(0, n_items, n_users)
    users = np.array([f"u{i:07d}" for i in range(n_users)], dtype=object)

    steps = offset[:, None] + np.arange(top_n)
    recs = pd.DataFrame(
        {
            "user_id": pd.array(np.repeat(users, top_n), dtype="str"),
            "rank": np.tile(np.arange(1, top_n + 1), n_users),
            "track_idx": permutation[steps.ravel() % n_items],
            "score": np.tile(np.linspace(1, 0, top_n, dtype=np.float32), n_users),
        }
    )

    n_relevant = rng.integers(1, max_relevant + 1, n_users)
    start = rng.integers(0, window, n_users)
    stride = rng.integers(1, window, n_users)
    user_of_row = np.repeat(np.arange(n_users), n_relevant)
    j = np.arange(len(user_of_row)) - np.repeat(np.cumsum(n_relevant) - n_relevant, n_relevant)
    position = (start[user_of_row] + stride[user_of_row] * j) % window
    truth = pd.DataFrame(
        {
            "user_id": pd.array(users[user_of_row], dtype="str"),
            "track_idx": permutation[(offset[user_of_row] + position) % n_items],
        }
    )
    return recs, truth


class Stopwatch:
    """Wall-clock and process CPU seconds of a ``with`` block."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info):
        self.seconds = np.array([time.perf_counter() - self._wall, time.process_time() - self._cpu])


def time_ours(recs: pd.DataFrame, truth: pd.DataFrame, k: int, repeats: int):
    """Best (wall, cpu) seconds of ``repeats`` runs, and the per-user metrics."""
    best = np.full(2, np.inf)
    for _ in range(repeats):
        with Stopwatch() as watch:
            per_user = evaluate(recs, truth, k)
        best = np.minimum(best, watch.seconds)
    return best, per_user


def time_rs_metrics(recs: pd.DataFrame, truth: pd.DataFrame, k: int, repeats: int):
    """Best (wall, cpu) seconds of building the dicts and of the five calls, their values and user order."""
    best_building, best_calls = np.full(2, np.inf), np.full(2, np.inf)
    for _ in range(repeats):
        with Stopwatch() as building:
            true = pandas_to_dict(truth, "user_id", "track_idx")
            pred = pandas_to_dict(recs, "user_id", "track_idx")  # rows are in rank order already
        with Stopwatch() as calls:
            values = {
                name: np.asarray(getattr(rs_metrics, name)(true, pred, k=k, apply_mean=False)) for name in METRIC_NAMES
            }
        best_building = np.minimum(best_building, building.seconds)
        best_calls = np.minimum(best_calls, calls.seconds)
    return best_building, best_calls, values, list(true)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k users instead of 100k")
    parser.add_argument("--users", type=int, help="number of users (overrides --quick)")
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rs-repeats", type=int, default=1, help="runs of rs_metrics; the best counts")
    args = parser.parse_args()
    n_users = args.users or (5_000 if args.quick else 100_000)

    recs, truth = make_run(n_users, args.items, args.top_n, max_relevant=20, seed=args.seed)
    ours, per_user = time_ours(recs, truth, args.k, repeats=5)
    building, calls, reference, reference_users = time_rs_metrics(recs, truth, args.k, args.rs_repeats)

    if per_user["user_id"].tolist() != reference_users:
        raise AssertionError("ours and rs_metrics list users in different orders")
    columns = dict(zip(METRIC_NAMES, metric_columns(args.k)))
    differences = {
        name: float(np.max(np.abs(per_user[column].to_numpy() - reference[name]))) for name, column in columns.items()
    }
    exact = all(np.array_equal(per_user[column].to_numpy(), reference[name]) for name, column in columns.items())
    max_difference = max(differences.values())
    same = f"max |diff| {max_difference:.1e}, {'bit-identical' if exact else 'not bit-identical'}"

    print(
        f"{n_users} users, top-{args.top_n} of {args.items} items, k={args.k}, "
        f"{len(truth)} relevant pairs, hitrate@{args.k} = {per_user[f'hitrate@{args.k}'].mean():.3f}"
    )
    print()
    header = (
        f"{'implementation':<44} {'wall s':>8} {'cpu s':>8} {'ratio wall':>11} {'ratio cpu':>10}   "
        "per-user values vs ours"
    )
    print(header)
    print("-" * len(header))
    rows = [
        ("musicrec evaluate (best of 5)", ours, "-"),
        ("rs_metrics 0.6.0, 5 calls on prebuilt dicts", calls, same),
        ("rs_metrics 0.6.0, incl. building the dicts", building + calls, same),
    ]
    for name, seconds, values in rows:
        wall_ratio, cpu_ratio = seconds / ours
        print(f"{name:<44} {seconds[0]:>8.3f} {seconds[1]:>8.3f} {wall_ratio:>11.1f} {cpu_ratio:>10.1f}   {values}")
    print()
    print("max |diff| per metric: " + ", ".join(f"{name} {value:.1e}" for name, value in differences.items()))

    if max_difference > 1e-12:
        raise SystemExit(f"FAIL: per-user values differ by up to {max_difference}")
    wall_speedup, cpu_speedup = calls / ours
    verdict = "PASS" if cpu_speedup >= REQUIRED_SPEEDUP else "BELOW TARGET"
    print(
        f"{verdict}: {cpu_speedup:.1f}x less CPU time ({wall_speedup:.1f}x wall) than rs_metrics' calls alone "
        f"(target {REQUIRED_SPEEDUP:.0f}x)"
    )


if __name__ == "__main__":
    main()
