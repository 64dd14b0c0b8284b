"""The embedded demo: a miniature Music4All + Music4All-Onion, deterministic from a seed.

:func:`generate_demo` invents a catalogue (:mod:`musicrec.data.demo_catalogue`),
renders it as Music4All's metadata files (:func:`music4all_tables`) and
simulates listeners (:mod:`musicrec.data.demo_listeners`);
:func:`render_demo_audio` synthesises each track's audio
(:mod:`musicrec.data.demo_audio`). The workflow's script writes all of it in
the real data sets' layout, so the demo and Music4All share one reader.

Each part draws from its own random stream under the seed: the catalogue,
the listeners and every track's audio, so (for example) more users leave the
audio unchanged, and one track can be re-rendered alone.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from musicrec import paths
from musicrec.data.demo_audio import synthesize_track
from musicrec.data.demo_catalogue import make_catalogue
from musicrec.data.demo_listeners import Listeners, make_listeners, simulate_listening

# Music4All's metadata files (tab-separated, with a header) and their columns.
MUSIC4ALL_COLUMNS: dict[str, tuple[str, ...]] = {
    paths.MUSIC4ALL_INFORMATION: ("id", "artist", "song", "album_name"),
    paths.MUSIC4ALL_GENRES: ("id", "genres"),
    paths.MUSIC4ALL_TAGS: ("id", "tags"),
    paths.MUSIC4ALL_METADATA: (
        "id", "spotify_id", "popularity", "release", "danceability", "energy",
        "key", "mode", "valence", "tempo", "duration_ms",
    ),
}
LISTENING_LOG_COLUMNS = ("user_id", "track_id", "timestamp")  # Music4All-Onion, tab-separated
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
LIST_SEPARATOR = ","  # genres and tags within one cell

# libsndfile (format, subtype) for each audio format the demo can write.
AUDIO_FORMATS: dict[str, tuple[str, str]] = {
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "ogg": ("OGG", "VORBIS"),
    "flac": ("FLAC", "PCM_16"),
    "wav": ("WAV", "PCM_16"),
}

# Random stream numbers under the seed, so that e.g. more users leave the audio unchanged.
_CATALOGUE_STREAM, _LISTENER_STREAM, _AUDIO_STREAM = 0, 1, 2


@dataclass(frozen=True)
class DemoConfig:
    """The ``dataset.demo`` section of the config."""

    n_tracks: int = 400
    n_artists: int = 80
    n_users: int = 400
    seconds: float = 20.0
    sample_rate: int = 22050
    audio_format: str = "mp3"

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> "DemoConfig":
        """Build from a config dict; unknown keys, wrong types and impossible sizes raise ValueError."""
        known = [field.name for field in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"dataset.demo: unknown key(s) {unknown}; expected some of {sorted(known)}")
        parsed: dict[str, object] = {}
        for name, value in values.items():
            expected = type(getattr(cls, name))  # the default's type
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or isinstance(value, bool):
                raise ValueError(f"dataset.demo.{name}: expected {expected.__name__}, got {value!r}")
            parsed[name] = value
        config = cls(**parsed)
        config.validate()
        return config

    def validate(self) -> None:
        if self.n_artists < 1 or self.n_tracks < self.n_artists:
            raise ValueError(
                "dataset.demo: need 1 <= n_artists <= n_tracks, "
                f"got n_artists={self.n_artists}, n_tracks={self.n_tracks}"
            )
        if self.n_users < 1:
            raise ValueError(f"dataset.demo.n_users: expected at least 1, got {self.n_users}")
        if not self.seconds > 0:
            raise ValueError(f"dataset.demo.seconds: expected a positive duration, got {self.seconds}")
        if self.sample_rate < 8000:
            raise ValueError(f"dataset.demo.sample_rate: expected at least 8000 Hz, got {self.sample_rate}")
        if self.audio_format not in AUDIO_FORMATS:
            raise ValueError(
                f"dataset.demo.audio_format: expected one of {sorted(AUDIO_FORMATS)}, got {self.audio_format!r}"
            )


def catalogue_generator(seed: int) -> np.random.Generator:
    """The random stream the catalogue is drawn from."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_CATALOGUE_STREAM,)))


def listener_generator(seed: int) -> np.random.Generator:
    """The random stream the listener simulation draws from."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_LISTENER_STREAM,)))


def track_generator(seed: int, track_number: int) -> np.random.Generator:
    """The random stream of the ``track_number``-th catalogue row's audio, independent of every other track."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_AUDIO_STREAM, track_number)))


def _spotify_style_features(catalogue: pd.DataFrame) -> pd.DataFrame:
    """Danceability, energy and valence in [0, 1], derived from the style the way their names suggest."""
    tempo = catalogue["tempo"].to_numpy()
    pace = np.clip((tempo - 60.0) / 120.0, 0, 1)
    groove = np.exp(-(((tempo - 118.0) / 30.0) ** 2))  # dance music sits around 120 BPM
    percussion, brightness = catalogue["percussion"], catalogue["brightness"]
    danceability = 0.25 + 0.45 * groove * percussion + 0.2 * (1 - catalogue["softness"])
    energy = 0.2 * pace + 0.3 * percussion + 0.3 * catalogue["distortion"] + 0.2 * brightness
    valence = 0.15 + 0.45 * catalogue["major"].astype(float) + 0.25 * pace + 0.15 * brightness
    return pd.DataFrame({
        "danceability": np.clip(danceability, 0, 1).round(3),
        "energy": np.clip(energy, 0, 1).round(3),
        "valence": np.clip(valence, 0, 1).round(3),
    })


def music4all_tables(catalogue: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Music4All's four metadata files for a :func:`~musicrec.data.demo_catalogue.make_catalogue` frame.

    Returns {file name: frame with the columns of :data:`MUSIC4ALL_COLUMNS`},
    rows in catalogue order; genre and tag lists are joined with commas.
    Popularity becomes Music4All's 0-100 scale (by rank).
    """
    ids = catalogue["track_id"]
    popularity_rank = catalogue["popularity"].rank(method="first").to_numpy()
    metadata = pd.DataFrame({
        "id": ids,
        "spotify_id": catalogue["spotify_id"],
        "popularity": np.round(100 * (popularity_rank - 1) / max(len(catalogue) - 1, 1)).astype(int),
        "release": catalogue["release"],
        **_spotify_style_features(catalogue),
        "key": catalogue["key"],
        "mode": catalogue["major"].astype(int),
        "tempo": catalogue["tempo"].round(3),
        "duration_ms": catalogue["duration_ms"],
    })
    tables = {
        paths.MUSIC4ALL_INFORMATION: pd.DataFrame({
            "id": ids, "artist": catalogue["artist"], "song": catalogue["song"], "album_name": catalogue["album_name"],
        }),
        paths.MUSIC4ALL_GENRES: pd.DataFrame({"id": ids, "genres": catalogue["genres"].map(LIST_SEPARATOR.join)}),
        paths.MUSIC4ALL_TAGS: pd.DataFrame({"id": ids, "tags": catalogue["tags"].map(LIST_SEPARATOR.join)}),
        paths.MUSIC4ALL_METADATA: metadata,
    }
    return {name: frame[list(MUSIC4ALL_COLUMNS[name])].reset_index(drop=True) for name, frame in tables.items()}


@dataclass(frozen=True)
class DemoData:
    """Everything of the demo except audio."""

    catalogue: pd.DataFrame  # make_catalogue's frame: ids, names, labels, style, popularity
    tables: dict[str, pd.DataFrame]  # Music4All file name -> frame (music4all_tables)
    listeners: Listeners  # who listens, and their tastes
    listening_log: pd.DataFrame  # user_id, track_id, timestamp (datetime64[s]), by user then time


def generate_demo(config: DemoConfig, seed: int) -> DemoData:
    """Invent the catalogue, its Music4All tables and the listening log for ``config`` and ``seed``."""
    catalogue = make_catalogue(config.n_tracks, config.n_artists, catalogue_generator(seed))
    listener_rng = listener_generator(seed)
    listeners = make_listeners(catalogue, config.n_users, listener_rng)
    log = simulate_listening(catalogue, listeners, listener_rng)
    return DemoData(catalogue, music4all_tables(catalogue), listeners, log[list(LISTENING_LOG_COLUMNS)])


def render_demo_audio(
    catalogue: pd.DataFrame, config: DemoConfig, seed: int, rows: range | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(track_id, waveform)`` per catalogue row (or per row of ``rows``), in order: mono
    float32 (seconds * sample_rate,). A row's audio depends on its position only, not on ``rows``."""
    for track_number in range(len(catalogue)) if rows is None else rows:
        style = catalogue.iloc[track_number].to_dict()
        waveform = synthesize_track(style, config.seconds, config.sample_rate, track_generator(seed, track_number))
        yield str(style["track_id"]), waveform


def _write_track_range(
    catalogue: pd.DataFrame, config: DemoConfig, seed: int, audio_dir: str, start: int, stop: int
) -> int:
    """Render and write catalogue rows ``start:stop`` (a worker's share); returns how many it wrote."""
    import soundfile  # the workers' own import: audio I/O stays out of the module's import cost

    from musicrec.io import atomic_path

    file_format, subtype = AUDIO_FORMATS[config.audio_format]
    for track_id, waveform in render_demo_audio(catalogue, config, seed, range(start, stop)):
        with atomic_path(Path(audio_dir) / f"{track_id}.{config.audio_format}") as temporary:
            soundfile.write(temporary, waveform, config.sample_rate, format=file_format, subtype=subtype)
    return stop - start


def write_demo_audio(catalogue: pd.DataFrame, config: DemoConfig, seed: int, audio_dir: str | Path, workers: int = 1) -> int:
    """Write every catalogue row's audio as ``audio_dir/<track_id>.<audio_format>``, on ``workers`` processes.

    Each track draws from its own random stream (:func:`track_generator`), so the files do
    not depend on how the rows are shared out. Returns the number of files written.
    """
    Path(audio_dir).mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(catalogue), max(1, workers) + 1).astype(int)
    ranges = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if len(ranges) <= 1:
        return sum(_write_track_range(catalogue, config, seed, str(audio_dir), a, b) for a, b in ranges)
    with ProcessPoolExecutor(len(ranges)) as pool:
        futures = [pool.submit(_write_track_range, catalogue, config, seed, str(audio_dir), a, b) for a, b in ranges]
        return sum(future.result() for future in futures)
