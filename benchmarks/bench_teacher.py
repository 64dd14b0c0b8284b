"""Benchmark the LLM teacher and the student: call rates, the cache, training throughput.

    python benchmarks/bench_teacher.py            # Qwen2.5-Coder-0.5B, 8 phase-1 calls
    python benchmarks/bench_teacher.py --quick    # SmolLM2-135M, 4 calls

The workload is phase 1's first question for distinct users of a miniature demo
(real prompts, ~450 tokens in, answers bounded by the JSON schema). It runs
against a local llama.cpp server started here: sequentially (1 slot, 1 request
in flight) and concurrently (2 slots, 2 requests in flight, continuous
batching), each on a fresh call cache; then the sequential run is repeated on
its filled cache (every answer a cache hit). Finally the student (MiniLM) trains
one epoch on synthetic triplets. Ratios are against the sequential run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

from musicrec.synth.client import TeacherSettings, open_teacher  # noqa: E402
from musicrec.synth.positives import PositiveSettings, cluster_task  # noqa: E402
from musicrec.synth.segments import track_texts, user_segments  # noqa: E402


def run_calls(tasks, settings: TeacherSettings, cache: str) -> dict:
    started = time.perf_counter()
    with open_teacher(settings, cache) as teacher:
        ready = time.perf_counter()
        with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
            list(pool.map(teacher.ask, tasks))
        seconds = time.perf_counter() - ready
        stats = teacher.stats
    return {"seconds": seconds, "startup_s": ready - started, "calls": stats.calls, "hits": stats.cache_hits,
            "tokens_in": stats.prompt_tokens, "tokens_out": stats.completion_tokens}


def student_throughput(n: int) -> float:
    from musicrec.synth.student import StudentSettings, train_student
    from musicrec.synth.weights import sentence_model_dir

    genres = ["jazz", "rock", "folk", "techno", "ambient", "metal", "soul", "pop"]
    triplets = pd.DataFrame({
        "context": [f"Listened to: tracks of {genres[i % 8]} and {genres[(i + 3) % 8]} by artist {i}" for i in range(n)],
        "pos_summary": [f"enjoys {genres[i % 8]} music" for i in range(n)],
        "neg_summary": [f"enjoys {genres[(i + 1) % 8]} music" for i in range(n)],
    })
    _, _, stats = train_student(str(sentence_model_dir("minilm")), triplets, StudentSettings(epochs=1, batch_size=16))
    return stats["triplets_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", default=None, help="packaged model (default: Qwen, or SmolLM2 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1: fastest on a busy machine)")
    args = parser.parse_args()
    model = args.model or ("smollm2-135m-instruct-q4_1" if args.quick else "qwen2.5-coder-0.5b-instruct-q4_k_m")
    n_tasks = 4 if args.quick else 8

    from synth_data import demo_split

    demo = demo_split(n_users=max(12, 2 * n_tasks))
    texts, _ = track_texts(demo["catalogue"], demo["track_ids"]["track_id"])
    settings = PositiveSettings(segment_size=12)
    segments, _ = user_segments(demo["train"], settings.segment_size, 12)
    tasks = [cluster_task(texts, s, list(range(len(s.tracks))), settings) for s in segments[:n_tasks]]
    base = dict(model=model, max_tokens=96, max_repairs=0, n_threads=args.threads, n_ctx=2048)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["sequential"] = run_calls(tasks, TeacherSettings(concurrency=1, **base), f"{tmp}/seq.sqlite")
        rows["concurrent (2 in flight)"] = run_calls(tasks, TeacherSettings(concurrency=2, **base), f"{tmp}/con.sqlite")
        rows["rerun on the cache"] = run_calls(tasks, TeacherSettings(concurrency=1, **base), f"{tmp}/seq.sqlite")
    reference = rows["sequential"]["seconds"]
    print(f"teacher {model}, {len(tasks)} phase-1 calls, llama.cpp threads {args.threads}")
    print(f"{'mode':<26}{'calls':>6}{'hits':>6}{'seconds':>9}{'s/call':>8}{'calls/s':>9}{'tok in/s':>10}"
          f"{'tok out/s':>10}{'speed-up':>9}")
    for mode, row in rows.items():
        answered = row["calls"] + row["hits"]
        seconds = max(row["seconds"], 1e-9)
        print(f"{mode:<26}{row['calls']:>6}{row['hits']:>6}{row['seconds']:>9.2f}{seconds / answered:>8.3f}"
              f"{answered / seconds:>9.3f}{row['tokens_in'] / seconds:>10.1f}{row['tokens_out'] / seconds:>10.1f}"
              f"{reference / seconds:>8.1f}x")
    print(f"server start-up (model load + health): {rows['sequential']['startup_s']:.1f} s")
    n = 32 if args.quick else 128
    print(f"student (MiniLM, batch 16, 1 epoch of {n} triplets): {student_throughput(n):.1f} triplets/s")


if __name__ == "__main__":
    main()
