"""Users estimated per second by the feedback estimator: one batched call vs a loop over users.

    python benchmarks/bench_estimator.py            # 4096 users, 64 scored songs each, h = 32, 20 steps
    python benchmarks/bench_estimator.py --quick    # a small smoke run

Both ways run the same :meth:`FeedbackEstimator.estimate` (both regularisers on, Mahalanobis
prior, score consistency) on the same feedback; the loop calls it once per user (a batch of
one), the batched way once per chunk of users. The loop is timed on a subset of the users
(its rate does not depend on how many users follow) and its estimates are checked against the
batched ones. On a machine with CUDA both ways are repeated there. Target: ratio >= 20.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from musicrec.users.estimator import FeedbackEstimator, Regularisers, gather_feedback, prior_from_users

REGULARISERS = Regularisers(consistency="mse", lambda_consistency=0.1, prior="mahalanobis", lambda_prior=0.1)


def make_case(n_users: int, n_songs: int, catalogue: int, h: int, steps: int, device: torch.device, seed: int = 0):
    rng = np.random.default_rng(seed)
    song_vectors = rng.standard_normal((catalogue, h)).astype(np.float32)
    song_vectors /= np.linalg.norm(song_vectors, axis=1, keepdims=True)
    mean, precision = prior_from_users(rng.standard_normal((500, h)) / np.sqrt(h), shrinkage=0.1)
    estimator = FeedbackEstimator(torch.from_numpy(mean), torch.from_numpy(precision), steps, 0.5).to(device)
    songs = rng.integers(0, catalogue, size=(n_users, n_songs))
    scores = rng.integers(0, 6, size=(n_users, n_songs))
    feedback = gather_feedback(torch.as_tensor(song_vectors, device=device), songs, scores)
    return estimator, feedback


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(device: torch.device, n_users: int, loop_users: int, n_songs: int, h: int, steps: int) -> dict:
    estimator, feedback = make_case(n_users, n_songs, 2000, h, steps, device)
    inputs = (feedback.songs, feedback.scores, feedback.mask)
    estimator.estimate(*(x[:8] for x in inputs), regularisers=REGULARISERS)  # warm-up
    synchronise(device)
    began = time.perf_counter()
    batched = estimator.estimate(*inputs, regularisers=REGULARISERS)
    synchronise(device)
    batched_seconds = time.perf_counter() - began
    began = time.perf_counter()
    looped = [estimator.estimate(*(x[u : u + 1] for x in inputs), regularisers=REGULARISERS) for u in range(loop_users)]
    synchronise(device)
    loop_seconds = time.perf_counter() - began
    gap = float((torch.cat(looped) - batched[:loop_users]).abs().max())
    return {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "users": n_users,
        "batched": n_users / batched_seconds,
        "loop": loop_users / loop_seconds,
        "max_gap": gap,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_users, loop_users = (256, 32) if args.quick else (4096, 200)
    n_songs, h, steps = 64, 32, 20
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"feedback estimator: {n_songs} scored songs per user, h = {h}, {steps} steps, both regularisers "
          f"(loop timed on {loop_users} users)")
    header = f"{'device':<28} {'users':>6} {'batched users/s':>16} {'loop users/s':>13} {'ratio':>7} {'max |Δ|':>9}"
    print(header)
    print("-" * len(header))
    for device in devices:
        row = run(device, n_users, loop_users, n_songs, h, steps)
        print(
            f"{row['device']:<28} {row['users']:>6} {row['batched']:>16.0f} {row['loop']:>13.1f} "
            f"{row['batched'] / row['loop']:>6.0f}× {row['max_gap']:>9.1e}"
        )


if __name__ == "__main__":
    main()
