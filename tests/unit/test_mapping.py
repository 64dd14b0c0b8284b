"""Streaming track-id mapping of the listening log: musicrec.data.mapping and .logio."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from musicrec.data.logio import (
    iter_log_lines,
    map_log_file,
    read_plays,
    read_track_ids,
)
from musicrec.data.mapping import LogFormatError, map_chunk, parse_timestamps

HEADER = "user_id\ttrack_id\ttimestamp"
CATALOGUE = ["0AbC", "1dEf", "2ghI", "3JkL"]  # sorted: row i = embedding row i


@pytest.fixture
def track_ids_csv(tmp_path):
    path = tmp_path / "trackid_sorted.csv"
    path.write_text("index,track_id\n" + "".join(f"{i},{t}\n" for i, t in enumerate(CATALOGUE)))
    return path


def write_log(tmp_path, lines: list[str], name: str = "log.tsv", ending: str = "\n") -> str:
    path = tmp_path / name
    path.write_bytes((ending.join([HEADER, *lines]) + ending).encode())
    return str(path)


def run_mapping(tmp_path, track_ids_csv, lines, *, strict=False, chunk_rows=1000, name="plays.parquet"):
    log = write_log(tmp_path, lines)
    report = map_log_file(log, track_ids_csv, tmp_path / name, strict=strict, chunk_rows=chunk_rows)
    return read_plays(tmp_path / name), report


def test_known_ids_map_to_their_catalogue_row(tmp_path, track_ids_csv):
    plays, report = run_mapping(
        tmp_path,
        track_ids_csv,
        ["alice\t2ghI\t2019-03-01 12:30:05", "bob\t0AbC\t2020-02-29 23:59:59", "alice\t3JkL\t2019-02-20 00:00:00"],
    )
    assert list(plays.columns) == ["user_id", "track_id", "track_idx", "timestamp"]
    assert plays["user_id"].astype(str).tolist() == ["alice", "bob", "alice"]
    assert plays["track_id"].astype(str).tolist() == ["2ghI", "0AbC", "3JkL"]
    assert plays["track_idx"].tolist() == [2, 0, 3]
    assert plays["track_idx"].dtype == np.int32
    assert plays["timestamp"].tolist() == [
        pd.Timestamp("2019-03-01 12:30:05"),
        pd.Timestamp("2020-02-29 23:59:59"),
        pd.Timestamp("2019-02-20 00:00:00"),
    ]
    assert report["rows_read"] == 3 and report["rows_written"] == 3 and report["rows_excluded"] == 0


def test_unknown_ids_are_counted_sampled_and_left_out(tmp_path, track_ids_csv):
    plays, report = run_mapping(
        tmp_path,
        track_ids_csv,
        [
            "alice\t0AbC\t2019-03-01 00:00:00",
            "alice\tNOPE\t2019-03-01 00:00:01",
            "bob\tNOPE\t2019-03-01 00:00:02",
            "bob\tgone\t2019-03-01 00:00:03",
            "bob\t1dEf\t2019-03-01 00:00:04",
        ],
    )
    assert plays["track_idx"].tolist() == [0, 1]
    unknown = report["unknown_track_ids"]
    assert unknown["rows"] == 3 and unknown["distinct"] == 2
    assert unknown["sample"] == ["NOPE", "gone"]
    assert unknown["first_lines"] == [3, 4, 5]  # header is line 1
    assert report["rows_read"] == 5 and report["rows_written"] == 2 and report["rows_excluded"] == 3


def test_unknown_id_sample_is_capped_at_twenty(tmp_path, track_ids_csv):
    lines = ["u\t0AbC\t2019-03-01 00:00:00"] + [f"u\tmissing{i:02d}\t2019-03-01 00:00:00" for i in range(30)]
    _, report = run_mapping(tmp_path, track_ids_csv, lines)
    assert report["unknown_track_ids"]["distinct"] == 30
    assert report["unknown_track_ids"]["sample"] == [f"missing{i:02d}" for i in range(20)]


def test_strict_mode_stops_at_an_unknown_id_naming_file_and_line(tmp_path, track_ids_csv):
    log = write_log(tmp_path, ["alice\t0AbC\t2019-03-01 00:00:00", "alice\tNOPE\t2019-03-01 00:00:01"])
    with pytest.raises(LogFormatError, match=r"log\.tsv line 3: track id 'NOPE'.*trackid_sorted\.csv"):
        map_log_file(log, track_ids_csv, tmp_path / "plays.parquet", strict=True, chunk_rows=1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.tsv", "trackid_sorted.csv"]


def test_malformed_rows_are_counted_per_reason_with_line_numbers(tmp_path, track_ids_csv):
    lines = [
        "alice\t0AbC\t2019-03-01 00:00:00",  # line 2: good
        "alice\t0AbC",  # 3: two fields
        "",  # 4: blank line
        "alice\t0AbC\t2019-03-01 00:00:00\textra",  # 5: four fields
        "\t0AbC\t2019-03-01 00:00:00",  # 6: empty user
        "alice\t\t2019-03-01 00:00:00",  # 7: empty track
        "alice\t1dEf\t2019-02-30 10:00:00",  # 8: no such day
        "alice\t1dEf\t2019-03-01 24:00:00",  # 9: hour out of range
        "alice\t1dEf\t2019-03-01T10:00:00",  # 10: ISO 'T'
        "alice\t1dEf\t2019-3-1 10:00:00",  # 11: not zero-padded
        "alice\t1dEf\tyesterday",  # 12
        "alice\tNOPE\tyesterday",  # 13: malformed wins over unknown
        "bob\t2ghI\t2020-02-29 10:00:00",  # 14: good (leap day)
    ]
    plays, report = run_mapping(tmp_path, track_ids_csv, lines)
    assert plays["track_idx"].tolist() == [0, 2]
    malformed = report["malformed"]
    assert malformed["wrong_field_count"]["rows"] == 3
    assert malformed["wrong_field_count"]["first_lines"] == [3, 4, 5]
    assert malformed["empty_id"]["first_lines"] == [6, 7]
    assert malformed["bad_timestamp"]["first_lines"] == [8, 9, 10, 11, 12, 13]
    assert report["unknown_track_ids"]["rows"] == 0
    assert report["rows_read"] == 13 and report["rows_written"] == 2 and report["rows_excluded"] == 11
    assert "2019-02-30 10:00:00" in malformed["bad_timestamp"]["examples"][0]["detail"]


def test_invalid_utf8_line_is_counted_not_fatal(tmp_path, track_ids_csv):
    log = tmp_path / "log.tsv"
    log.write_bytes(HEADER.encode() + b"\nali\xffce\t0AbC\t2019-03-01 00:00:00\nbob\t1dEf\t2019-03-01 00:00:00\n")
    report = map_log_file(log, track_ids_csv, tmp_path / "plays.parquet", strict=False, chunk_rows=10)
    assert report["malformed"]["invalid_utf8"]["first_lines"] == [2]
    assert read_plays(tmp_path / "plays.parquet")["user_id"].astype(str).tolist() == ["bob"]


def test_strict_mode_reports_the_earliest_problem_of_any_kind(tmp_path, track_ids_csv):
    log = write_log(
        tmp_path,
        ["alice\t0AbC\t2019-03-01 00:00:00", "alice\tNOPE\t2019-03-01 00:00:00", "alice\t0AbC"],
    )
    with pytest.raises(LogFormatError, match="line 3: track id 'NOPE'"):
        map_log_file(log, track_ids_csv, tmp_path / "plays.parquet", strict=True, chunk_rows=1000)
    log = write_log(tmp_path, ["alice\t0AbC", "alice\tNOPE\t2019-03-01 00:00:00"], name="log2.tsv")
    with pytest.raises(LogFormatError, match=r"log2\.tsv line 2: found 2 tab-separated field\(s\); expected 3"):
        map_log_file(log, track_ids_csv, tmp_path / "plays.parquet", strict=True, chunk_rows=1000)


def test_chunk_boundaries_do_not_change_the_result(tmp_path, track_ids_csv):
    rng = np.random.default_rng(0)
    good = [
        f"user{rng.integers(5)}\t{CATALOGUE[rng.integers(4)]}\t"
        f"2019-0{rng.integers(1, 10)}-1{rng.integers(10)} 0{rng.integers(10)}:00:00"
        for _ in range(40)
    ]
    lines = good[:7] + ["bad line"] + good[7:20] + ["u\tNOPE\t2019-03-01 00:00:00", ""] + good[20:]
    outcomes = []
    for chunk_rows in (1, 3, 1000):
        plays, report = run_mapping(
            tmp_path, track_ids_csv, lines, chunk_rows=chunk_rows, name=f"p{chunk_rows}.parquet"
        )
        report.pop("chunk_rows")
        outcomes.append((plays.astype({"user_id": str, "track_id": str}), report))
    for plays, report in outcomes[:-1]:
        pd.testing.assert_frame_equal(plays, outcomes[-1][0])
        assert report == outcomes[-1][1]
    assert outcomes[-1][1]["rows_written"] == 40
    assert outcomes[-1][1]["malformed"]["wrong_field_count"]["first_lines"] == [9, 24]


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("block_bytes", [1, 5, 64, 1 << 20])
def test_line_reader_cuts_exact_chunks_across_read_blocks(tmp_path, ending, block_bytes):
    lines = [f"u{i}\tt{i}\t2019-03-01 00:00:0{i % 10}" for i in range(11)] + ["", "last"]
    path = tmp_path / "log.tsv"
    path.write_bytes((ending.join([HEADER, *lines])).encode())  # no newline after the last line
    chunks = list(iter_log_lines(path, chunk_rows=4, block_bytes=block_bytes))
    assert [first for first, _ in chunks] == [2, 6, 10, 14]
    assert [len(chunk) for _, chunk in chunks] == [4, 4, 4, 1]
    assert [line.decode() for _, chunk in chunks for line in chunk.to_pylist()] == lines


def test_wrong_header_is_refused(tmp_path, track_ids_csv):
    path = tmp_path / "log.tsv"
    path.write_text("user,track,time\nalice\t0AbC\t2019-03-01 00:00:00\n")
    with pytest.raises(LogFormatError, match=r"log\.tsv line 1: header 'user,track,time', expected"):
        map_log_file(path, track_ids_csv, tmp_path / "plays.parquet", strict=False, chunk_rows=10)


def test_a_log_with_nothing_mappable_is_an_error(tmp_path, track_ids_csv):
    log = write_log(tmp_path, ["alice\tX\t2019-03-01 00:00:00", "bob\tY\t2019-03-01 00:00:00"])
    with pytest.raises(LogFormatError, match="none of its 2 data rows could be mapped"):
        map_log_file(log, track_ids_csv, tmp_path / "plays.parquet", strict=False, chunk_rows=10)
    assert not (tmp_path / "plays.parquet").exists()


def test_track_id_list_is_checked(tmp_path):
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("index,track_id\n0,a\n2,b\n1,c\n")
    with pytest.raises(ValueError, match=r"shuffled\.csv line 3: index 2, expected 1"):
        read_track_ids(shuffled)
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("index,track_id\n0,a\n1,b\n2,a\n")
    with pytest.raises(ValueError, match="track_id 'a' appears more than once"):
        read_track_ids(repeated)
    good = tmp_path / "good.csv"
    good.write_text("index,track_id\n0,a\n1,b\n")
    assert read_track_ids(good).to_pylist() == ["a", "b"]


def test_map_chunk_on_arrays_directly():
    lines = pa.array(["u\t3JkL\t2019-05-05 05:05:05", "u\tzzz\t2019-05-05 05:05:05", "x"])
    plays, report = map_chunk(lines, first_line=100, track_ids=pa.array(CATALOGUE))
    assert plays.column("track_idx").to_pylist() == [3]
    assert report.excluded["unknown_track_id"] == 1 and report.examples["unknown_track_id"][0][0] == 101
    assert report.examples["wrong_field_count"][0][0] == 102


def test_timestamp_parser_accepts_only_real_times():
    parsed = parse_timestamps(
        pa.array(["2020-02-29 23:59:59", "2019-02-29 00:00:00", "2019-04-31 00:00:00", "2019-01-01 00:00:60", None])
    )
    assert parsed.to_pylist()[0] == pd.Timestamp("2020-02-29 23:59:59").to_pydatetime()
    assert parsed.is_null().to_pylist() == [False, True, True, True, True]


@pytest.mark.parametrize(
    "odd_one", ["2019-03-01T10:00:00", "2019-02-29 10:00:00", "2019-03-01 10:00:0", "2019-03-01 10:00:00 "]
)
def test_timestamp_parser_rejects_one_bad_value_among_clean_ones(odd_one):
    clean = ["2019-03-01 10:00:00", "2020-02-29 23:59:59", "2019-12-31 00:00:01"]
    parsed = parse_timestamps(pa.array([*clean, odd_one]))
    assert parsed.to_pylist()[:3] == [pd.Timestamp(value).to_pydatetime() for value in clean]
    assert parsed.is_null().to_pylist() == [False, False, False, True]
    assert parse_timestamps(pa.array(clean)).to_pylist() == parsed.to_pylist()[:3]


def test_a_repeated_header_is_a_header_not_a_malformed_row(tmp_path, track_ids_csv):
    lines = ["alice\t2ghI\t2019-03-01 12:30:05", HEADER, "bob\t0AbC\t2019-04-01 10:00:00", HEADER + "\r", "x\ty"]
    for strict in (False, True):
        if strict:
            lines = lines[:-1]  # strict still refuses real problems; the headers alone pass
        plays, report = run_mapping(tmp_path, track_ids_csv, lines, strict=strict, chunk_rows=2)
        assert plays["user_id"].astype(str).tolist() == ["alice", "bob"]
        assert report["repeated_header"] == {"rows": 2, "first_lines": [3, 5]}
        assert report["malformed"]["bad_timestamp"]["rows"] == 0
        assert report["malformed"]["wrong_field_count"]["rows"] == (0 if strict else 1)
        # Every data line has exactly one fate.
        assert report["rows_read"] == report["rows_written"] + report["rows_excluded"] == len(lines)
