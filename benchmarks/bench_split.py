"""Benchmark the interactions stage: streamed track-id mapping and the Onion split.

    python benchmarks/bench_split.py            # 10M-play log
    python benchmarks/bench_split.py --quick    # 1M-play log

A synthetic Music4All-Onion look-alike log (50k users, 57k track ids of which 56k
are in the catalogue, timestamps 2019-02-20 .. 2020-03-20) is generated once and
cached under benchmarks/out/ (not timed). Each stage then runs in its own
subprocess, which reports its wall time and its own peak RSS (getrusage), so the
memory figure belongs to that stage alone. Baselines, measured in the same run:
the naive pandas way (whole-file ``read_csv`` + ``.map(dict)`` for the mapping;
string ``groupby`` as in the published split script for the split). The split
must peak under 2 GB on the 10M-play log.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out" / "bench_split"
GENERATOR_VERSION = 1
N_USERS, N_CATALOGUE, N_UNKNOWN = 50_000, 56_000, 1_000
FIRST_DAY, LAST_DAY = np.datetime64("2019-02-20", "s"), np.datetime64("2020-03-20", "s")
SPLIT = {
    "start_date": "2019-02-20",
    "test_date": "2020-02-20",
    "end_date": "2020-03-20",
    "val_fraction": 0.5,
    "seed": 1,
}
CHUNK_ROWS = 1_000_000
SPLIT_RSS_BUDGET_MB = 2048
HEADER = b"user_id\ttrack_id\ttimestamp\n"


# ----------------------------------------------------------------------------- generation


def random_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct 16-character alphanumeric ids, like Onion's, as a numpy unicode array."""
    alphabet = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    ids = np.unique(alphabet[rng.integers(0, len(alphabet), size=(n + n // 100, 16))].view("S16").ravel())
    return rng.permutation(ids)[:n].astype("U16")


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a deterministic, well-spread hash of uint64 values."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def generate(rows: int, log_path: Path, track_ids_path: Path) -> None:
    """Write a log where each user replays a personal, popularity-skewed library (so novelty matters)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(20190220)
    users = random_ids(rng, N_USERS)
    tracks = random_ids(rng, N_CATALOGUE + N_UNKNOWN)
    catalogue = np.sort(tracks[:N_CATALOGUE])
    track_ids_path.write_text("index,track_id\n" + "".join(f"{i},{t}\n" for i, t in enumerate(catalogue)))

    activity = rng.lognormal(0.0, 1.0, N_USERS)
    activity_cdf = np.cumsum(activity) / activity.sum()
    library_size = (20 + rng.lognormal(4.0, 0.8, N_USERS)).astype(np.int64)
    popularity = 1.0 / np.arange(1, len(tracks) + 1) ** 0.9
    popularity_cdf = np.cumsum(popularity) / popularity.sum()
    users_arrow, tracks_arrow = pa.array(users), pa.array(tracks)
    span = int((LAST_DAY - FIRST_DAY).astype(np.int64))
    temporary = log_path.with_suffix(".partial")
    with open(temporary, "wb") as stream:
        stream.write(HEADER)
        for begin in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - begin)
            user = np.minimum(np.searchsorted(activity_cdf, rng.random(n)), N_USERS - 1)
            slot = (library_size[user] * rng.random(n) ** 2).astype(np.int64)  # low slots = favourites
            uniform = (mix64(user * 1_000_003 + slot) >> np.uint64(11)).astype(np.float64) / 2.0**53
            track = np.minimum(np.searchsorted(popularity_cdf, uniform), len(tracks) - 1)
            seconds = FIRST_DAY.astype(np.int64) + rng.integers(0, span, n)
            table = pa.table(
                {
                    "user_id": users_arrow.take(pa.array(user)),
                    "track_id": tracks_arrow.take(pa.array(track)),
                    "timestamp": pa.array(seconds, pa.timestamp("s")),
                }
            )
            pa_csv.write_csv(
                table, stream, pa_csv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
            )
    temporary.rename(log_path)


def cached_log(rows: int) -> tuple[Path, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / f"log_{rows}_v{GENERATOR_VERSION}.tsv"
    track_ids_path = OUT / f"trackid_sorted_v{GENERATOR_VERSION}.csv"
    if not log_path.exists() or not track_ids_path.exists():
        print(f"generating {rows:,}-play log under {OUT} (once; not timed) ...", flush=True)
        started = time.perf_counter()
        generate(rows, log_path, track_ids_path)
        print(f"  done in {time.perf_counter() - started:.0f}s, {log_path.stat().st_size / 1e6:.0f} MB", flush=True)
    return log_path, track_ids_path


# ----------------------------------------------------------------------------- stages (one per subprocess)


def stage_map(log: Path, track_ids: Path, work: Path) -> dict:
    from musicrec.data.logio import map_log_file

    report = map_log_file(log, track_ids, work / "plays.parquet", strict=False, chunk_rows=CHUNK_ROWS)
    return {"rows": report["rows_read"], "rows_out": report["rows_written"]}


def stage_naive_map(log: Path, track_ids: Path, work: Path) -> dict:
    import pandas as pd

    catalogue = pd.read_csv(track_ids)
    plays = pd.read_csv(log, sep="\t")
    plays["track_idx"] = plays["track_id"].map(dict(zip(catalogue["track_id"], catalogue["index"])))
    plays = plays.dropna(subset=["track_idx"])
    plays["track_idx"] = plays["track_idx"].astype("int32")
    plays["timestamp"] = pd.to_datetime(plays["timestamp"], format="%Y-%m-%d %H:%M:%S")
    plays.to_parquet(work / "naive_plays.parquet", index=False)
    return {"rows": None, "rows_out": len(plays)}


def stage_split(log: Path, track_ids: Path, work: Path) -> dict:
    from musicrec.data.logio import read_plays
    from musicrec.io import write_json, write_parquet
    from musicrec.data.split import split_interactions

    plays = read_plays(work / "plays.parquet")
    rows = len(plays)
    parts, report = split_interactions(plays, **SPLIT)
    del plays
    for name, part in parts.items():
        write_parquet(part, work / f"{name}.parquet")
    write_json(report, work / "split_report.json")
    return {"rows": rows, "pairs": {name: len(part) for name, part in parts.items()}}


def stage_naive_split(log: Path, track_ids: Path, work: Path) -> dict:
    """The published script's way (string groupby over the whole log), given our end_date."""
    import pandas as pd

    start, test, end = (pd.Timestamp(SPLIT[key]) for key in ("start_date", "test_date", "end_date"))
    plays = pd.read_parquet(work / "plays.parquet").astype({"user_id": str, "track_id": str})
    rows = len(plays)

    def compress(frame: pd.DataFrame) -> pd.DataFrame:
        return (
            frame.groupby(["user_id", "track_id", "track_idx"])
            .agg(timestamp=("timestamp", "min"), count=("timestamp", "count"))
            .reset_index()
        )

    plays = plays[(plays.timestamp >= start) & (plays.timestamp < end)]
    everything = compress(plays)
    test_pairs = everything[everything.timestamp >= test]
    train = compress(plays[plays.timestamp < test])
    test_pairs = test_pairs[
        test_pairs.user_id.isin(train.user_id.unique()) & test_pairs.track_id.isin(train.track_id.unique())
    ]
    users = np.sort(test_pairs.user_id.unique())
    val_users = np.random.default_rng(SPLIT["seed"]).permutation(users)[: len(users) // 2]
    val = test_pairs[test_pairs.user_id.isin(val_users)]
    test_part = test_pairs[~test_pairs.user_id.isin(val_users)]
    for name, part in (("train", train), ("val", val), ("test", test_part)):
        part.to_parquet(work / f"naive_{name}.parquet", index=False)
    return {"rows": rows, "pairs": {"train": len(train), "val+test": len(val) + len(test_part)}}


STAGES = {"map": stage_map, "naive_map": stage_naive_map, "split": stage_split, "naive_split": stage_naive_split}


def run_stage_here(stage: str, log: Path, track_ids: Path, work: Path) -> None:
    """Child process body: run one stage, print one JSON line with time and own peak RSS."""
    started = time.perf_counter()
    result = STAGES[stage](log, track_ids, work)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps(result))


def run_stage(stage: str, log: Path, track_ids: Path, work: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--log",
        str(log),
        "--track-ids",
        str(track_ids),
        "--work",
        str(work),
    ]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"stage {stage} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1M plays instead of 10M")
    parser.add_argument("--rows", type=int, help="plays in the generated log (overrides --quick)")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--track-ids", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage_here(args.stage, args.log, args.track_ids, args.work)
        return

    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    log, track_ids = cached_log(rows)
    work = OUT / f"work_{rows}"
    work.mkdir(exist_ok=True)
    results = {}
    for stage in ("map", "naive_map", "split", "naive_split"):  # split reads map's output
        print(f"running {stage} ...", flush=True)
        results[stage] = run_stage(stage, log, track_ids, work)
    results["naive_map"]["rows"] = results["map"]["rows"]

    print(
        f"\ninteractions stage on a {rows:,}-play log ({log.stat().st_size / 1e6:.0f} MB), one subprocess per stage\n"
    )
    header = (
        f"{'stage':<22}{'rows':>12}{'seconds':>10}{'rows/s':>12}"
        f"{'peak RSS MB':>13}{'speed vs naive':>16}{'RSS vs naive':>14}"
    )
    print(header)
    print("-" * len(header))
    for ours, naive, label in (("map", "naive_map", "mapping"), ("split", "naive_split", "split")):
        for stage, name in ((ours, f"{label} (musicrec)"), (naive, f"{label} (naive pandas)")):
            result = results[stage]
            speed = results[naive]["seconds"] / result["seconds"]
            memory = result["peak_rss_mb"] / results[naive]["peak_rss_mb"]
            print(
                f"{name:<22}{result['rows']:>12,}{result['seconds']:>10.1f}{result['rows'] / result['seconds']:>12,.0f}"
                f"{result['peak_rss_mb']:>13,.0f}{speed:>15.2f}x{memory:>13.2f}x"
            )
    print()
    same_rows = results["map"]["rows_out"] == results["naive_map"]["rows_out"]
    print(f"mapped rows agree with naive: {same_rows} ({results['map']['rows_out']:,} kept)")
    ours, naive = results["split"]["pairs"], results["naive_split"]["pairs"]
    same_split = ours["train"] == naive["train"] and ours["val"] + ours["test"] == naive["val+test"]
    print(
        f"split pair counts agree with naive: {same_split} "
        f"(train {ours['train']:,}, val {ours['val']:,}, test {ours['test']:,})"
    )
    budget = "within" if results["split"]["peak_rss_mb"] < SPLIT_RSS_BUDGET_MB else "OVER"
    print(f"split peak RSS {results['split']['peak_rss_mb']:,.0f} MB: {budget} the {SPLIT_RSS_BUDGET_MB:,} MB budget")


if __name__ == "__main__":
    main()
