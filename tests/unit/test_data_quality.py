"""The data-quality table: the real catalogue, mapping and split reports of a small data set, summed up."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

from musicrec.data.catalogue import build_catalogue, read_music4all_tables, track_id_table
from musicrec.data.logio import map_log_file, read_plays
from musicrec.data.quality import DataQualityError, data_quality_summary, data_quality_table
from musicrec.data.split import split_interactions

REPO = Path(__file__).resolve().parents[2]
HEADER = "user_id\ttrack_id\ttimestamp"
TRACKS = ["a1", "a2", "b1", "b2", "c1"]


@pytest.fixture
def reports(tmp_path):
    """Build, map and split a five-track data set with known problems; return the three reports."""
    (tmp_path / "id_information.csv").write_text(
        "id\tartist\tsong\talbum_name\n" + "".join(f"{t}\t{'' if t == 'c1' else 'A'}\tS\tB\n" for t in TRACKS)
    )
    (tmp_path / "id_genres.csv").write_text("id\tgenres\na1\trock\na2\t\nb1\tjazz\n")  # a2 empty, b2/c1 unlisted
    (tmp_path / "id_tags.csv").write_text("id\ttags\n")
    catalogue, catalogue_report = build_catalogue(
        **read_music4all_tables(tmp_path), audio_dir=tmp_path, audio_files=["a1.ogg", "a2.mp3", "b1.ogg", "b2.wav"]
    )
    track_id_table(catalogue).to_csv(tmp_path / "trackid_sorted.csv", index=False)
    log = [
        "u1\ta1\t2019-05-01 10:00:00",
        "u1\ta2\t2019-06-01 10:00:00",
        "u2\tb1\t2019-05-01 10:00:00",
        "u2\ta1\t2019-07-01 10:00:00",
        HEADER,  # a second file appended with its header
        "u3\tb1\t2019-08-01 10:00:00",
        "u1\tzz\t2019-05-01 10:00:00",  # unknown track
        "u1\ta1\t2019-02-31 10:00:00",  # impossible date
        "u1\tb1\t2018-01-01 10:00:00",  # before start_date
        "u1\tb1\t2020-02-25 10:00:00",  # test: kept
        "u1\ta1\t2020-02-26 10:00:00",  # test: already played
        "u9\ta1\t2020-02-26 10:00:00",  # test: cold user
        "u9\tc1\t2020-02-26 10:00:00",  # test: cold user and cold track -> counted once, as cold user
        "u2\tc1\t2020-02-27 10:00:00",  # test: cold track
        "u2\ta2\t2020-02-28 10:00:00",  # test: kept
        "u3\ta1\t2020-03-01 10:00:00",  # test: kept
        "u3\ta2\t2020-04-01 10:00:00",  # after end_date
    ]
    (tmp_path / "log.tsv").write_text("\n".join([HEADER, *log]) + "\n")
    mapping_report = map_log_file(
        tmp_path / "log.tsv", tmp_path / "trackid_sorted.csv", tmp_path / "plays.parquet", strict=False, chunk_rows=4
    )
    _, split_report = split_interactions(
        read_plays(tmp_path / "plays.parquet"), "2019-02-20", "2020-02-20", "2020-03-20", 0.5, seed=3
    )
    return {"mapping_report": mapping_report, "split_report": split_report, "catalogue_report": catalogue_report}


def counts(table: pd.DataFrame, stage: str) -> dict[str, int]:
    rows = table[table["stage"] == stage]
    return dict(zip(rows["item"], rows["count"]))


def test_every_count_adds_up_and_says_why(reports):
    table = data_quality_table(**reports)
    assert list(table.columns) == ["stage", "item", "count", "out_of", "share"]
    log = counts(table, "listening log")
    assert log["data rows read"] == 17
    assert log["dropped: repeated header line"] == 1
    assert log["dropped: track id not in the catalogue"] == 1 and log["dropped: invalid timestamp"] == 1
    assert log["plays kept"] == 14
    assert sum(v for k, v in log.items() if k.startswith("dropped:")) + log["plays kept"] == log["data rows read"]

    catalogue = counts(table, "catalogue")
    assert catalogue["tracks"] == 5 and catalogue["tracks without an audio file"] == 1
    assert catalogue["tracks without artist or title"] == 1
    assert catalogue["tracks without genres"] == 3  # a2's empty cell counts, as b2 and c1 unlisted
    assert catalogue["audio files: ogg"] == 2 and catalogue["audio files: mp3"] == 1

    split = counts(table, "split")
    assert split["plays mapped"] == 14 and split["plays before split.start_date (ignored)"] == 1
    assert split["plays after split.end_date (ignored)"] == 1
    assert split["test-window (user, track) pairs"] == 7
    assert split["test pairs dropped: already played before test_date"] == 1
    assert split["test pairs dropped: user has no train play"] == 2
    assert split["test pairs dropped: track has no train play"] == 1
    assert split["test pairs kept (val + test)"] == 3 == split["val pairs"] + split["test pairs"]
    assert (table["share"].dropna() <= 1).all()


def test_the_one_line_summary(reports):
    line = data_quality_summary(data_quality_table(**reports))
    assert "\n" not in line
    assert line.startswith("data quality: log 17 rows -> 14 plays, 3 dropped (1 repeated header line, ")
    assert "catalogue 5 tracks, 1 without audio, 1 without artist/title, 3 without genres" in line
    assert "split 7 test-window pairs -> 3 kept, 4 dropped (1 already played before test_date, " in line


def test_reports_that_do_not_add_up_are_refused(reports):
    broken = json.loads(json.dumps(reports))
    broken["split_report"]["test_candidates"]["novel_with_cold_track"] += 1  # a pair counted twice
    with pytest.raises(DataQualityError, match="test-window pairs add up to 8"):
        data_quality_table(**broken)
    other_run = json.loads(json.dumps(reports))
    other_run["mapping_report"]["rows_written"] -= 1
    other_run["mapping_report"]["malformed"]["empty_id"]["rows"] += 1
    with pytest.raises(DataQualityError, match="not from the same run"):
        data_quality_table(**other_run)


def test_the_script_writes_the_table_and_prints_the_line_on_the_console(tmp_path, reports, monkeypatch, capfd):
    inputs = {}
    for name, content in reports.items():
        inputs[name] = str(tmp_path / f"{name}.json")
        Path(inputs[name]).write_text(json.dumps(content))
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    snakemake = type(
        "Snakemake",
        (),
        {"input": inputs, "output": type("O", (), {"table": str(tmp_path / "dq.csv")})(), "log": [str(tmp_path / "dq.log")]},
    )()
    runpy.run_path(str(REPO / "workflow" / "scripts" / "data_quality.py"), init_globals={"snakemake": snakemake})
    assert pd.read_csv(tmp_path / "dq.csv").shape == data_quality_table(**reports).shape
    assert capfd.readouterr().out.startswith("data quality: log 17 rows -> 14 plays")
