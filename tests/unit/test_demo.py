"""The embedded demo generator: determinism, file formats, music-like audio, realistic listeners."""

from __future__ import annotations

import dataclasses
import io
import re

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile

from musicrec import paths
from musicrec.data.catalogue import build_catalogue, read_music4all_tables
from musicrec.data.demo import (
    AUDIO_FORMATS,
    LISTENING_LOG_COLUMNS,
    MUSIC4ALL_COLUMNS,
    TIMESTAMP_FORMAT,
    DemoConfig,
    generate_demo,
    render_demo_audio,
    write_demo_audio,
)
from musicrec.data.demo_audio import GENRES, PEAK, genre_centre_style, synthesize_track
from musicrec.data.demo_listeners import ONION_END, ONION_START, ONION_TEST_START, affinity

TINY = DemoConfig(n_tracks=40, n_artists=12, n_users=40, seconds=6.0, sample_rate=16000, audio_format="wav")
SEED = 7


@pytest.fixture(scope="module")
def demo():
    return generate_demo(TINY, SEED)


def as_written(frame: pd.DataFrame) -> str:
    """The bytes the workflow script writes for a table or the log."""
    return frame.to_csv(sep="\t", index=False, date_format=TIMESTAMP_FORMAT)


def first_tracks_audio(config: DemoConfig, seed: int, catalogue: pd.DataFrame, count: int) -> list[np.ndarray]:
    return [waveform for _, waveform in render_demo_audio(catalogue.head(count), config, seed)]


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_tables_and_log(demo):
    again = generate_demo(TINY, SEED)
    for name, table in demo.tables.items():
        assert as_written(table) == as_written(again.tables[name]), name
    assert as_written(demo.listening_log) == as_written(again.listening_log)


def test_same_seed_gives_identical_audio_and_another_seed_other_audio(demo):
    first = first_tracks_audio(TINY, SEED, demo.catalogue, 3)
    second = first_tracks_audio(TINY, SEED, demo.catalogue, 3)
    other_seed = first_tracks_audio(TINY, SEED + 1, demo.catalogue, 3)
    for a, b, c in zip(first, second, other_seed):
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)


def test_another_seed_gives_another_demo(demo):
    other = generate_demo(TINY, SEED + 1)
    assert set(other.catalogue["track_id"]).isdisjoint(demo.catalogue["track_id"])
    assert as_written(other.listening_log) != as_written(demo.listening_log)


def test_more_users_leave_catalogue_and_audio_unchanged(demo):
    """Each part has its own random stream, so growing the listener panel does not re-roll the music."""
    more_users = generate_demo(DemoConfig(**{**TINY.__dict__, "n_users": 60}), SEED)
    pd.testing.assert_frame_equal(more_users.catalogue, demo.catalogue)
    assert more_users.listening_log["user_id"].nunique() == 60


# ---------------------------------------------------------------- file formats


def test_tables_have_music4all_columns_and_ids(demo):
    for name, columns in MUSIC4ALL_COLUMNS.items():
        assert tuple(demo.tables[name].columns) == columns
        assert as_written(demo.tables[name]).splitlines()[0] == "\t".join(columns)
    ids = demo.tables[paths.MUSIC4ALL_INFORMATION]["id"]
    assert ids.is_unique and len(ids) == TINY.n_tracks
    assert all(re.fullmatch(r"[0-9A-Za-z]{16}", track_id) for track_id in ids)
    metadata = demo.tables[paths.MUSIC4ALL_METADATA]
    assert metadata["popularity"].between(0, 100).all() and set(metadata["mode"]) <= {0, 1}
    assert metadata[["danceability", "energy", "valence"]].stack().between(0, 1).all()


def test_listening_log_has_onion_format(demo):
    text = as_written(demo.listening_log)
    lines = text.splitlines()
    assert lines[0] == "\t".join(LISTENING_LOG_COLUMNS)
    for line in lines[1:50]:
        user_id, track_id, timestamp = line.split("\t")
        assert re.fullmatch(r"user_[0-9A-Za-z]{8}", user_id)
        assert re.fullmatch(r"[0-9A-Za-z]{16}", track_id)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", timestamp)
    assert set(demo.listening_log["track_id"]) <= set(demo.catalogue["track_id"])


def test_written_files_parse_with_the_catalogue_reader(demo, tmp_path):
    for name, table in demo.tables.items():
        (tmp_path / name).write_text(as_written(table))
    audio_dir = tmp_path / paths.MUSIC4ALL_AUDIO_DIR
    tables = read_music4all_tables(tmp_path)
    present = [f"{track_id}.wav" for track_id in demo.catalogue["track_id"][:5]]
    catalogue, report = build_catalogue(**tables, audio_dir=audio_dir, audio_ext="wav", audio_files=present)

    assert len(catalogue) == TINY.n_tracks and report["missing_audio"] == TINY.n_tracks - 5
    expected = demo.catalogue.set_index("track_id").loc[catalogue["track_id"]]
    assert catalogue["title"].tolist() == expected["song"].tolist()
    assert catalogue["album"].tolist() == expected["album_name"].tolist()
    assert catalogue["genres"].tolist() == expected["genres"].tolist()
    assert catalogue["tags"].tolist() == expected["tags"].tolist()


@pytest.mark.parametrize("audio_format", sorted(AUDIO_FORMATS))
def test_audio_survives_its_file_format(demo, audio_format):
    """What an extractor decodes is the synthesised track: same length, aligned, peak below full scale."""
    waveform = first_tracks_audio(TINY, SEED, demo.catalogue, 1)[0]
    file_format, subtype = AUDIO_FORMATS[audio_format]
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, TINY.sample_rate, format=file_format, subtype=subtype)
    buffer.seek(0)
    decoded, sample_rate = soundfile.read(buffer, dtype="float32")
    assert sample_rate == TINY.sample_rate and decoded.shape == waveform.shape
    assert np.max(np.abs(decoded)) < 1.0
    assert np.corrcoef(decoded, waveform)[0, 1] > 0.9


def test_audio_files_do_not_depend_on_the_number_of_workers(demo, tmp_path):
    """Two worker processes write byte-identical files to one, each the track's own rendering."""
    catalogue = demo.catalogue.head(7)
    config = dataclasses.replace(TINY, audio_format="flac")
    assert write_demo_audio(catalogue, config, SEED, tmp_path / "one", workers=1) == 7
    assert write_demo_audio(catalogue, config, SEED, tmp_path / "two", workers=2) == 7
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(f"{t}.flac" for t in catalogue["track_id"])
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == names  # no temporary file left behind
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    expected = dict(render_demo_audio(catalogue, config, SEED))
    decoded, _ = soundfile.read(tmp_path / "two" / names[3], dtype="float32")
    track_id = names[3].removesuffix(".flac")
    assert np.corrcoef(decoded, expected[track_id])[0, 1] > 0.999


# ---------------------------------------------------------------- audio is music


def test_tracks_are_finite_audible_and_peak_normalised(demo):
    for waveform in first_tracks_audio(TINY, SEED, demo.catalogue, 6):
        assert waveform.dtype == np.float32 and waveform.shape == (int(TINY.seconds * TINY.sample_rate),)
        assert np.isfinite(waveform).all()
        assert np.max(np.abs(waveform)) == pytest.approx(PEAK, abs=1e-6)
        assert np.sqrt(np.mean(waveform**2)) > 0.02


def genre_audio(genre: str, seed: int = 0, sample_rate: int = 16000) -> np.ndarray:
    return synthesize_track(genre_centre_style(genre, key=2), 6.0, sample_rate, np.random.default_rng(seed))


def test_bright_genres_have_a_higher_spectral_centroid_than_dark_ones():
    def centroid(genre: str) -> float:
        return float(librosa.feature.spectral_centroid(y=genre_audio(genre), sr=16000).mean())

    bright = [centroid(genre) for genre in ("metal", "rock", "electronic")]
    dark = [centroid(genre) for genre in ("ambient", "classical")]
    assert min(bright) > 2 * max(dark)


def test_fast_genres_have_more_onsets_than_slow_ones():
    def onsets_per_second(genre: str) -> float:
        return len(librosa.onset.onset_detect(y=genre_audio(genre), sr=16000)) / 6.0

    assert onsets_per_second("metal") > 1.5 * onsets_per_second("classical")
    assert onsets_per_second("classical") > 1.5 * onsets_per_second("ambient")


def test_tempo_follows_the_style():
    """A drum-driven track is heard at the tempo it was written in (or a simple multiple of it)."""
    style = {**genre_centre_style("rock"), "tempo": 120.0}
    waveform = synthesize_track(style, 8.0, 16000, np.random.default_rng(3))
    heard = float(np.atleast_1d(librosa.feature.tempo(y=waveform, sr=16000))[0])
    ratio = heard / 120.0
    assert min(abs(ratio - multiple) for multiple in (0.5, 1.0, 2.0)) < 0.05


def test_every_genre_synthesises_and_differs_from_the_others():
    spectra = {}
    for genre in GENRES:
        waveform = genre_audio(genre)
        assert np.isfinite(waveform).all() and np.max(np.abs(waveform)) <= 1.0
        mel = librosa.feature.melspectrogram(y=waveform, sr=16000, n_mels=40)
        spectra[genre] = librosa.power_to_db(mel).mean(axis=1)
    names = list(spectra)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert np.abs(spectra[first] - spectra[second]).mean() > 1.0, (first, second)


# ---------------------------------------------------------------- listeners


def test_log_covers_the_train_year_and_the_test_month(demo):
    log = demo.listening_log
    assert log["timestamp"].min() >= ONION_START and log["timestamp"].max() < ONION_END
    assert 1_000 < len(log) < 20_000  # a few thousand plays for the tiny size
    train = log[log["timestamp"] < ONION_TEST_START]
    assert set(train["user_id"]) == set(log["user_id"])  # every user has history
    assert log["user_id"].nunique() == TINY.n_users
    assert log.equals(log.sort_values(["user_id", "timestamp"], kind="stable"))


def discoverers_in_test_month(log: pd.DataFrame) -> set[str]:
    """Users with a first play of some track in the test month."""
    is_test = log["timestamp"] >= ONION_TEST_START
    known = set(zip(log.loc[~is_test, "user_id"], log.loc[~is_test, "track_id"]))
    test_pairs = zip(log.loc[is_test, "user_id"], log.loc[is_test, "track_id"])
    return {user for user, track in test_pairs if (user, track) not in known}


@pytest.fixture(scope="module")
def full_size_demo():
    """The default demo's catalogue and listeners (no audio: about a second)."""
    return generate_demo(DemoConfig(), SEED)


def taste_percentiles(demo, plays: pd.DataFrame) -> np.ndarray:
    """Where each played track ranks in its listener's taste: 1 = the best-liked track, 0 = the least liked."""
    taste = affinity(demo.listeners, demo.catalogue)  # (users, tracks)
    user_row = {user: row for row, user in enumerate(demo.listeners.user_id)}
    track_column = {track: column for column, track in enumerate(demo.catalogue["track_id"])}
    rows = plays["user_id"].map(user_row).to_numpy()
    columns = plays["track_id"].map(track_column).to_numpy()
    return (taste[rows] < taste[rows, columns][:, None]).mean(axis=1)


def test_most_users_discover_new_tracks_in_the_test_month(full_size_demo):
    log = full_size_demo.listening_log
    assert 20_000 < len(log) < 100_000  # a few tens of thousands of plays
    assert len(discoverers_in_test_month(log)) > 0.7 * DemoConfig().n_users


def test_a_tiny_catalogue_is_not_exhausted_before_the_test_month(demo):
    assert len(discoverers_in_test_month(demo.listening_log)) >= 0.4 * TINY.n_users


def test_listeners_play_tracks_of_their_taste(full_size_demo, demo):
    distinct = full_size_demo.listening_log.drop_duplicates(["user_id", "track_id"])
    assert taste_percentiles(full_size_demo, distinct).mean() > 0.7  # a random track would average 0.5
    # Even when a tiny catalogue leaves little choice, the replays go to the favourites.
    assert taste_percentiles(demo, demo.listening_log).mean() > 0.62


def test_test_month_discoveries_follow_the_same_taste(full_size_demo):
    first_plays = full_size_demo.listening_log.drop_duplicates(["user_id", "track_id"])
    new = first_plays[first_plays["timestamp"] >= ONION_TEST_START]
    assert len(new) > 500
    assert taste_percentiles(full_size_demo, new).mean() > 0.62


def test_favourites_are_replayed_and_popularity_matters(demo):
    log = demo.listening_log
    plays_per_pair = log.groupby(["user_id", "track_id"]).size()
    assert plays_per_pair.max() >= 10 and (plays_per_pair > 1).mean() > 0.3
    plays = log["track_id"].value_counts().reindex(demo.catalogue["track_id"], fill_value=0)
    popularity = demo.catalogue.set_index("track_id")["popularity"]
    assert plays.corr(popularity, method="spearman") > 0.3
    assert (popularity < 0.1 * popularity.median()).any()  # some tracks almost nobody knows


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    "values, message",
    [
        ({"n_tracks": 40, "colour": "red"}, "unknown key"),
        ({"n_tracks": "40"}, "dataset.demo.n_tracks: expected int"),
        ({"n_tracks": 10, "n_artists": 20}, "n_artists <= n_tracks"),
        ({"audio_format": "aiff"}, "dataset.demo.audio_format"),
        ({"seconds": 0}, "dataset.demo.seconds"),
    ],
)
def test_config_errors_name_the_key(values, message):
    with pytest.raises(ValueError, match=message):
        DemoConfig.from_mapping(values)


def test_config_reads_the_yaml_section():
    section = {"n_tracks": 40, "n_artists": 10, "n_users": 40, "seconds": 6, "sample_rate": 16000}
    section["audio_format"] = "wav"
    config = DemoConfig.from_mapping(section)
    assert config.seconds == 6.0 and config.audio_format == "wav"
