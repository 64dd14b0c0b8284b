"""Extraction throughput: musicrec's batched loop against the per-clip ways of doing the same.

Clips are generated 30-s MP3s (44.1 kHz mono: chords with harmonics and noise
hits) written once to benchmarks/out/extraction/. Rows of the table:

- musicnn, stock: ``musicnn.extractor.extractor(path, model='MSD_musicnn',
  extract_features=True)`` called per clip, as the paper's script does. Under
  NumPy 2 it does not error (its float16 log-mel overflows to inf, with a
  RuntimeWarning we silence, and its features are wrong), so it is timed as it
  ships; its cost is the same either way.
- musicnn, musicrec: :func:`musicrec.extraction.extract` with the model loaded
  once (load time printed separately, not in the rate), decoding on worker
  threads and the patches of a batch of clips in one ``session.run``.
- mfcc: ``librosa.load`` + ``librosa.feature.mfcc`` per clip against our loop.
- random: our loop with batch size 1 against its default batch size.

Both sides of a pair run on the same clips in alternating rounds (stock first,
then ours first, ...), so load from other jobs on a shared machine hits both.
Rates are clips per wall-clock second; ``cpu s/clip`` is this process's CPU
time per clip, steadier under contention. Ratio = ours / baseline. The issue
requires the MusicNN ratio to be at least 5.

    python benchmarks/bench_extraction.py           # 24 clips
    python benchmarks/bench_extraction.py --quick   # 4 clips
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile

from musicrec.backbones import load_backbone
from musicrec.extraction import extract

OUT = Path(__file__).resolve().parent / "out" / "extraction"
RATE = 44100
SECONDS = 30.0
REQUIRED_MUSICNN_SPEEDUP = 5.0


def synthesise(seconds: float, seed: int) -> np.ndarray:
    """Half-second chords (three notes, five harmonics, decaying) with a noise hit on every beat."""
    rng = np.random.default_rng(seed)
    n_beats = int(seconds * 2)
    beat = RATE // 2
    t = np.arange(beat) / RATE
    envelope = np.exp(-4 * t)
    root = 110 * 2 ** (rng.integers(0, 24, (n_beats, 1)) / 12)
    notes = root * 2 ** (rng.choice([0, 3, 4, 7, 10, 12], size=(n_beats, 3)) / 12)
    harmonics = np.arange(1, 6)
    phases = 2 * np.pi * notes[:, :, None, None] * harmonics[None, None, :, None] * t
    chords = (np.sin(phases) / harmonics[None, None, :, None] ** 1.5).sum(axis=(1, 2)) * envelope
    hits = rng.normal(0, 0.5, (n_beats, beat)) * np.exp(-60 * t)
    signal = (chords + hits).ravel()
    return (0.9 * signal / np.abs(signal).max()).astype(np.float32)


def clip_paths(n_clips: int) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_clips):
        path = OUT / f"clip-{i:03d}.mp3"
        if not path.exists():
            soundfile.write(path, synthesise(SECONDS, seed=i), RATE)
        paths.append(str(path))
    return paths


def timed(run) -> tuple[float, float]:
    """``(wall seconds, process CPU seconds)`` of ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def stock_musicnn(paths: list[str]) -> None:
    from musicnn import extractor

    for path in paths:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("ignore")
            extractor.extractor(path, model="MSD_musicnn", extract_features=True)


def stock_mfcc(paths: list[str]) -> None:
    import librosa

    for path in paths:
        audio, rate = librosa.load(path, sr=22050, duration=SECONDS)
        coefficients = librosa.feature.mfcc(y=audio, sr=rate, n_mfcc=52)
        np.concatenate([coefficients.mean(axis=1), coefficients.std(axis=1)])


def ours(backbone, workers: int, batch_size: int | None = None):
    def run(paths: list[str]) -> None:
        extract(backbone, paths, workers=workers, batch_size=batch_size, progress=False)

    return run


def compare(rounds: list[list[str]], baseline, candidate) -> dict[str, tuple[float, float]]:
    """Per side, the summed ``(wall, cpu)`` over alternating rounds."""
    totals = {"baseline": np.zeros(2), "ours": np.zeros(2)}
    for i, chunk in enumerate(rounds):
        order = [("baseline", baseline), ("ours", candidate)]
        for side, run in order if i % 2 == 0 else order[::-1]:
            totals[side] += timed(lambda: run(chunk))
    return {side: tuple(total) for side, total in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 clips in one round")
    parser.add_argument("--clips", type=int, help="number of 30-s clips (default 24, --quick 4)")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads of our loop")
    args = parser.parse_args()
    n_clips = args.clips or (4 if args.quick else 24)
    round_size = n_clips if args.quick else 8
    paths = clip_paths(n_clips)
    rounds = [paths[i : i + round_size] for i in range(0, n_clips, round_size)]

    start = time.perf_counter()
    musicnn = load_backbone("musicnn", {"device": "cpu"})
    load_wall = time.perf_counter() - start
    # Warm-up: TensorFlow/oneDNN set up kernels on the first run of each input shape, librosa loads lazily.
    ours(musicnn, args.workers)(rounds[0])
    stock_musicnn(paths[:1])
    mfcc = load_backbone("mfcc", {})
    random_baseline = load_backbone("random", {"seed": 0})
    ours(mfcc, args.workers)(rounds[0])
    stock_mfcc(paths[:1])

    random_rows = [paths * 250]  # random reads no audio: a long list shows the loop's own cost
    results = [
        (
            "musicnn",
            n_clips,
            "stock extractor() per clip",
            "musicrec extract()",
            compare(rounds, stock_musicnn, ours(musicnn, args.workers)),
        ),
        (
            "mfcc",
            n_clips,
            "librosa load+mfcc per clip",
            "musicrec extract()",
            compare(rounds, stock_mfcc, ours(mfcc, args.workers)),
        ),
        (
            "random",
            len(random_rows[0]),
            "extract(), batch_size 1",
            "extract(), batch_size 4096",
            compare(random_rows, ours(random_baseline, 0, 1), ours(random_baseline, 0)),
        ),
    ]

    print(
        f"{n_clips} clips of {SECONDS:g} s, {len(rounds)} round(s); "
        f"musicnn model load (once per job): {load_wall:.1f} s"
    )
    header = f"{'backbone':<9} {'path':<28} {'clips/s':>10} {'ratio':>7} {'cpu s/clip':>11} {'cpu ratio':>10}"
    print(header)
    print("-" * len(header))
    ratios = {}
    for backbone, n, baseline_name, ours_name, totals in results:
        (base_wall, base_cpu), (our_wall, our_cpu) = totals["baseline"], totals["ours"]
        ratios[backbone] = base_wall / our_wall
        print(
            f"{backbone:<9} {baseline_name:<28} {n / base_wall:>10.2f} {'1.0x':>7} {base_cpu / n:>11.4f} {'1.0x':>10}"
        )
        print(
            f"{'':<9} {ours_name:<28} {n / our_wall:>10.2f} {ratios[backbone]:>6.1f}x "
            f"{our_cpu / n:>11.4f} {base_cpu / our_cpu:>9.1f}x"
        )
    verdict = "meets" if ratios["musicnn"] >= REQUIRED_MUSICNN_SPEEDUP else "MISSES"
    print(f"musicnn speed-up {ratios['musicnn']:.1f}x (clips/s) {verdict} the required {REQUIRED_MUSICNN_SPEEDUP:g}x")
    if ratios["musicnn"] < REQUIRED_MUSICNN_SPEEDUP:
        sys.exit(1)


if __name__ == "__main__":
    main()
