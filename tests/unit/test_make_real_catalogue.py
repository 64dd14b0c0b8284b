"""benchmarks/make_real_catalogue.py: tagged audio folders -> a Music4All-layout data set the workflow reads."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from musicrec.audio import load_clip
from musicrec.data.catalogue import build_catalogue, read_music4all_tables, track_id_table
from musicrec.data.logio import map_log_file

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("make_real_catalogue", REPO / "benchmarks" / "make_real_catalogue.py")
make_real_catalogue = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = make_real_catalogue  # dataclasses look their module up there
spec.loader.exec_module(make_real_catalogue)


def write_album(folder: Path, name: str, extension: str, n: int, frequency: float, tagged: bool) -> None:
    folder.mkdir(parents=True)
    t = np.arange(24000 * 2) / 24000
    for i in range(n):
        path = folder / f"{name}-{i}.{extension}"
        container, subtype = make_real_catalogue.TRANSCODE[extension]
        with soundfile.SoundFile(path, "w", 24000, 1, subtype=subtype, format=container) as sound:
            if tagged:
                sound.title, sound.artist, sound.album = f"Song {i}", "Composer", f"{name} OST"
            sound.write((0.3 * np.sin(2 * np.pi * frequency * (i + 1) * t)).astype(np.float32))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    write_album(root / "quest" / "music", "quest", "ogg", 4, 220.0, tagged=True)
    write_album(root / "racer", "racer", "mp3", 3, 330.0, tagged=False)
    out = root / "music4all"
    arguments = [
        "--out", str(out), "--users", "12", "--seed", "5", "--transcode", "flac=0.3,wav=0.15",
        "--source", f"quest={root}/quest/**/*.ogg", "--source", f"racer={root}/racer/*.mp3",
    ]
    make_real_catalogue.main(arguments)
    return root, out, arguments


def test_the_layout_is_what_the_catalogue_reads_with_formats_kept_mixed(dataset):
    _, out, _ = dataset
    catalogue, report = build_catalogue(
        **read_music4all_tables(out), audio_dir=out / "audios", audio_files=os.listdir(out / "audios")
    )
    assert report["tracks"] == 7 and report["missing_audio"] == 0
    formats = report["audio_formats"]
    assert formats["flac"] == 2 and formats["wav"] == 1  # 30 % and 15 % of 7 tracks, rounded
    assert formats["mp3"] + formats["ogg"] == 4 and formats["mp3"] >= 1 and formats["ogg"] >= 1
    metadata = pd.read_csv(out / "id_metadata.csv", sep="\t")
    assert sorted(metadata["source_format"]) == ["mp3"] * 3 + ["ogg"] * 4
    kept = metadata["stored_format"] == metadata["source_format"]
    assert kept.sum() == 4 and set(metadata.loc[~kept, "stored_format"]) == {"flac", "wav"}
    for path in catalogue["audio_path"]:
        assert load_clip(path, 16000, seconds=1.0).shape == (16000,)
    information = pd.read_csv(out / "id_information.csv", sep="\t", keep_default_na=False).set_index("id")
    quest = metadata.loc[metadata["game"] == "quest", "id"]
    assert set(information.loc[quest, "artist"]) == {"Composer"}  # from the tags
    assert set(information.loc[quest, "album_name"]) == {"quest OST"}
    racer = metadata.loc[metadata["game"] == "racer", "id"]
    assert set(information.loc[racer, "artist"]) == {""}  # no tag: left empty, not invented
    assert sorted(information.loc[racer, "song"]) == ["racer-0", "racer-1", "racer-2"]
    assert report["without_metadata"] == 3


def test_the_log_maps_strictly_and_listeners_follow_their_known_tastes(dataset, tmp_path):
    _, out, _ = dataset
    catalogue, _ = build_catalogue(**read_music4all_tables(out), audio_dir=out / "audios", audio_files=[])
    track_id_table(catalogue).to_csv(tmp_path / "trackid_sorted.csv", index=False)
    report = map_log_file(
        out / "userid_trackid_timestamp.tsv", tmp_path / "trackid_sorted.csv", tmp_path / "p.parquet", strict=True, chunk_rows=500
    )
    assert report["rows_written"] == report["rows_read"] > 100
    log = pd.read_csv(out / "userid_trackid_timestamp.tsv", sep="\t", parse_dates=["timestamp"])
    assert log["timestamp"].between("2019-02-20", "2020-03-20", inclusive="left").all()
    game = pd.read_csv(out / "id_metadata.csv", sep="\t").set_index("id")["game"]
    listeners = pd.read_csv(out / "listeners.csv").set_index("user_id")
    favourite_share = [
        game[plays["track_id"]].isin(listeners.loc[user, "albums"].split("|")).mean()
        for user, plays in log.groupby("user_id")
    ]
    assert np.median(favourite_share) > 0.7


def test_the_same_arguments_give_the_same_files(dataset, tmp_path):
    root, out, arguments = dataset
    again = tmp_path / "again"
    make_real_catalogue.main([str(again) if a == str(out) else a for a in arguments])
    for name in ("userid_trackid_timestamp.tsv", "id_information.csv", "id_metadata.csv", "listeners.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
