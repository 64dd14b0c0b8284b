"""The Music4All catalogue reader (musicrec.data.catalogue)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from musicrec.data.catalogue import (
    CATALOGUE_COLUMNS,
    CatalogueError,
    build_catalogue,
    read_music4all_table,
    read_music4all_tables,
    split_labels,
    track_id_table,
)
from musicrec.data.logio import read_track_ids

INFORMATION = "id\tartist\tsong\talbum_name\n" + "".join(
    f"{track_id}\t{artist}\t{song}\t{album}\n"
    for track_id, artist, song, album in [
        ("zz9fFIM1eYThaPgA", "Artist Z", "Last", "Album Z"),
        ("0009fFIM1eYThaPg", "Artist A", "NA", "Album A"),  # a song literally titled "NA"
        ("Abc0000000000001", "Artist, B", "Comma, Song", ""),
        ("abc0000000000001", "Artist C", "Lower", "Album C"),
    ]
)
GENRES = "id\tgenres\n0009fFIM1eYThaPg\trock,indie rock\nzz9fFIM1eYThaPgA\tjazz\nnot_in_catalogue\tpop\n"
TAGS = "id\ttags\n0009fFIM1eYThaPg\t 90s , guitar ,\nabc0000000000001\t\n"


def write_music4all(folder: Path, information=INFORMATION, genres=GENRES, tags=TAGS) -> Path:
    (folder / "id_information.csv").write_text(information)
    (folder / "id_genres.csv").write_text(genres)
    (folder / "id_tags.csv").write_text(tags)
    return folder


def build(folder: Path, audio_files=("0009fFIM1eYThaPg.mp3", "zz9fFIM1eYThaPgA.mp3", "stray.mp3")):
    tables = read_music4all_tables(folder)
    return build_catalogue(**tables, audio_dir=folder / "audios", audio_ext="mp3", audio_files=audio_files)


def test_catalogue_has_one_sorted_row_per_listed_track(tmp_path):
    catalogue, report = build(write_music4all(tmp_path))
    assert list(catalogue.columns) == CATALOGUE_COLUMNS
    # Code-point order, as Python sorts: digits < upper case < lower case.
    expected = ["0009fFIM1eYThaPg", "Abc0000000000001", "abc0000000000001", "zz9fFIM1eYThaPgA"]
    assert catalogue["track_id"].tolist() == expected
    first = catalogue.iloc[0]
    assert (first["artist"], first["title"], first["album"]) == ("Artist A", "NA", "Album A")
    assert catalogue.iloc[1]["artist"] == "Artist, B" and catalogue.iloc[1]["album"] == ""
    assert report["tracks"] == 4


def test_audio_paths_are_absolute_and_missing_audio_is_counted_not_fatal(tmp_path):
    catalogue, report = build(write_music4all(tmp_path))
    for track_id, audio_path in zip(catalogue["track_id"], catalogue["audio_path"]):
        assert Path(audio_path).is_absolute()
        assert audio_path == str((tmp_path / "audios" / f"{track_id}.mp3").resolve())
    assert report["missing_audio"] == 2
    assert report["missing_audio_examples"] == ["Abc0000000000001", "abc0000000000001"]


def test_labels_are_lists_and_missing_labels_are_empty(tmp_path):
    catalogue, report = build(write_music4all(tmp_path))
    by_id = catalogue.set_index("track_id")
    assert by_id.loc["0009fFIM1eYThaPg", "genres"] == ["rock", "indie rock"]
    assert by_id.loc["0009fFIM1eYThaPg", "tags"] == ["90s", "guitar"]
    assert by_id.loc["Abc0000000000001", "genres"] == [] and by_id.loc["Abc0000000000001", "tags"] == []
    assert by_id.loc["abc0000000000001", "tags"] == []  # listed with an empty cell
    # abc0000000000001 is listed in id_tags.csv with an empty cell: no tags, like the unlisted two.
    assert report["without_genres"] == 2 and report["without_tags"] == 3
    assert report["genres_for_unknown_tracks"] == 1 and report["tags_for_unknown_tracks"] == 0


def test_catalogue_survives_parquet_with_list_columns(tmp_path):
    catalogue, _ = build(write_music4all(tmp_path))
    catalogue.to_parquet(tmp_path / "catalogue.parquet", index=False)
    again = pd.read_parquet(tmp_path / "catalogue.parquet")
    assert again["track_id"].tolist() == catalogue["track_id"].tolist()
    assert [list(labels) for labels in again["genres"]] == catalogue["genres"].tolist()


def test_track_id_table_numbers_sorted_ids_and_the_mapping_reads_it(tmp_path):
    catalogue, _ = build(write_music4all(tmp_path))
    table = track_id_table(catalogue)
    assert list(table.columns) == ["index", "track_id"]
    assert table["index"].tolist() == [0, 1, 2, 3]
    table.to_csv(tmp_path / "trackid_sorted.csv", index=False)
    assert read_track_ids(tmp_path / "trackid_sorted.csv").to_pylist() == catalogue["track_id"].tolist()


def test_track_id_table_rejects_an_unsorted_catalogue(tmp_path):
    catalogue, _ = build(write_music4all(tmp_path))
    with pytest.raises(CatalogueError, match="sorted"):
        track_id_table(catalogue.iloc[::-1])


@pytest.mark.parametrize(
    "file_name, text",
    [
        ("id_information.csv", INFORMATION + "0009fFIM1eYThaPg\tAgain\tAgain\tAgain\n"),
        ("id_genres.csv", GENRES + "zz9fFIM1eYThaPgA\tblues\n"),
        ("id_tags.csv", TAGS + "0009fFIM1eYThaPg\tloud\n"),
    ],
)
def test_duplicate_ids_name_the_file_and_column(tmp_path, file_name, text):
    write_music4all(tmp_path)
    (tmp_path / file_name).write_text(text)
    repeated = "'(0009fFIM1eYThaPg|zz9fFIM1eYThaPgA)'"
    with pytest.raises(CatalogueError, match=rf"{file_name}: column 'id' repeats 1 track id.*{repeated}"):
        build(tmp_path)


@pytest.mark.parametrize(
    "file_name, text, column",
    [
        ("id_information.csv", "id\tartist\tsong\n0009fFIM1eYThaPg\tA\tB\n", "album_name"),
        ("id_genres.csv", "id\tgenre\n0009fFIM1eYThaPg\trock\n", "genres"),
        ("id_tags.csv", "track\ttags\n0009fFIM1eYThaPg\tloud\n", "id"),
    ],
)
def test_a_missing_column_names_the_file_and_column(tmp_path, file_name, text, column):
    write_music4all(tmp_path)
    (tmp_path / file_name).write_text(text)
    with pytest.raises(CatalogueError, match=rf"{file_name}: missing column '{column}'"):
        build(tmp_path)


def test_a_comma_separated_file_is_reported_as_not_tab_separated(tmp_path):
    write_music4all(tmp_path, information="id,artist,song,album_name\n0009fFIM1eYThaPg,A,B,C\n")
    with pytest.raises(CatalogueError, match="id_information.csv: missing column 'id'.*tab-separated"):
        build(tmp_path)


def test_an_empty_id_names_its_line(tmp_path):
    write_music4all(tmp_path, information=INFORMATION + "\tNobody\tNothing\tNowhere\n")
    with pytest.raises(CatalogueError, match="id_information.csv line 6: column 'id' is empty"):
        build(tmp_path)


def test_errors_name_the_path_the_script_passes(tmp_path):
    write_music4all(tmp_path, genres="id\n0009fFIM1eYThaPg\n")
    tables = read_music4all_tables(tmp_path)
    source = str(tmp_path / "id_genres.csv")
    with pytest.raises(CatalogueError, match=rf"{source}: missing column 'genres'"):
        build_catalogue(**tables, audio_dir=tmp_path, audio_ext="mp3", audio_files=[], sources={"genres": source})


def test_cells_are_read_as_written(tmp_path):
    (tmp_path / "t.csv").write_text("id\tsong\n0001\tNA\n0002\tnull\n")
    table = read_music4all_table(tmp_path / "t.csv")
    assert table["id"].tolist() == ["0001", "0002"] and table["song"].tolist() == ["NA", "null"]


@pytest.mark.parametrize(
    "cell, labels",
    [("rock,indie rock", ["rock", "indie rock"]), (" a , ,b ", ["a", "b"]), ("", []), (None, []), (float("nan"), [])],
)
def test_split_labels(cell, labels):
    assert split_labels(cell) == labels


# ---- each track's own audio file: one catalogue of several formats ----


def write_tone(path: Path, container: str, subtype: str, seconds: float = 1.0, rate: int = 24000) -> None:
    import numpy as np
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), rate, format=container, subtype=subtype)


FORMATS = {  # extension: (libsndfile container, subtype)
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "flac": ("FLAC", "PCM_16"),
    "wav": ("WAV", "PCM_16"),
}


def test_a_folder_of_mixed_formats_gives_each_track_its_own_file(tmp_path):
    from musicrec.audio import load_clip

    ids = [f"t{i}" for i in range(7)]
    information = "id\tartist\tsong\talbum_name\n" + "".join(f"{i}\tA\tS{i}\tB\n" for i in ids)
    write_music4all(tmp_path, information=information, genres="id\tgenres\n", tags="id\ttags\n")
    audios = tmp_path / "audios"
    audios.mkdir()
    for track_id, extension in zip(ids, FORMATS):
        write_tone(audios / f"{track_id}.{extension}", *FORMATS[extension])
    write_tone(audios / "t5.WAV", *FORMATS["wav"])  # an upper-case extension counts too
    write_tone(audios / "t6.wav", *FORMATS["wav"])
    write_tone(audios / "t6.flac", *FORMATS["flac"])  # t6 has a .wav and a .flac
    (audios / "notes.txt").write_text("not audio")
    tables = read_music4all_tables(tmp_path)
    catalogue, report = build_catalogue(**tables, audio_dir=audios, audio_files=sorted(p.name for p in audios.iterdir()))
    by_id = dict(zip(catalogue["track_id"], catalogue["audio_path"]))
    assert [Path(by_id[i]).suffix for i in ids[:5]] == [".mp3", ".ogg", ".opus", ".flac", ".wav"]
    assert Path(by_id["t6"]).suffix == ".flac"  # no preference: the first known extension (flac before wav)
    assert Path(by_id["t5"]).name == "t5.WAV"
    assert report["audio_formats"] == {"flac": 2, "mp3": 1, "ogg": 1, "opus": 1, "wav": 2}
    assert report["missing_audio"] == 0 and report["ambiguous_audio"] == 1
    for path in catalogue["audio_path"]:  # every file decodes: the formats stay mixed up to the backbone
        assert load_clip(path, 16000, seconds=0.5).shape == (8000,)
    preferred, report = build_catalogue(
        **tables, audio_dir=audios, audio_files=[p.name for p in audios.iterdir()], audio_ext="wav"
    )
    assert Path(dict(zip(preferred["track_id"], preferred["audio_path"]))["t6"]).suffix == ".wav"
    assert report["audio_formats"] == {"flac": 1, "mp3": 1, "ogg": 1, "opus": 1, "wav": 3}


def test_an_audio_path_column_names_each_tracks_file(tmp_path):
    information = (
        "id\tartist\tsong\talbum_name\taudio_path\n"
        "a\tA\tS\tB\tgame1/intro.ogg\n"
        "b\tA\t\tB\t\n"  # no path: found by id; no title: counted without metadata
        "c\tA\tS\tB\tgame2/missing.flac\n"
    )
    write_music4all(tmp_path, information=information, genres="id\tgenres\na\t\n", tags="id\ttags\n")
    (tmp_path / "audios" / "game1").mkdir(parents=True)
    write_tone(tmp_path / "audios" / "game1" / "intro.ogg", *FORMATS["ogg"])
    write_tone(tmp_path / "audios" / "b.opus", *FORMATS["opus"])
    tables = read_music4all_tables(tmp_path)
    catalogue, report = build_catalogue(**tables, audio_dir=tmp_path / "audios", audio_files=["b.opus", "game1"])
    paths = dict(zip(catalogue["track_id"], catalogue["audio_path"]))
    assert paths["a"] == str((tmp_path / "audios" / "game1" / "intro.ogg").resolve())
    assert paths["b"].endswith("b.opus")
    assert report["missing_audio"] == 1 and report["missing_audio_examples"] == ["c"]
    assert report["without_metadata"] == 1 and report["without_genres"] == 3
