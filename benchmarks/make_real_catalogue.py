"""Turn folders of real, tagged audio into a Music4All-layout data set with simulated listeners.

    python benchmarks/make_real_catalogue.py --out /work/realaudio/music4all \\
        --source drascula='/work/realaudio/extracted/usr/share/scummvm/drascula/audio/*.ogg' \\
        --source singularity='/work/realaudio/extracted/usr/share/games/singularity/music/**/*.ogg' ...

Each ``--source NAME=GLOB`` is one *album* (a game's soundtrack, say): its files
become tracks of the catalogue, with the album name as ``album_name`` unless a
tag says otherwise. The output folder holds what the workflow reads for
``dataset.source: music4all`` (``id_information.csv``, ``id_genres.csv``,
``id_tags.csv``, ``id_metadata.csv``, ``audios/<id>.<ext>`` and the Onion-style
``userid_trackid_timestamp.tsv``) plus ``listeners.csv``, the simulated
listeners' known tastes, for checking what a recommender recovered.

- **Tags** come from the files themselves (libsndfile reads Vorbis comments and
  ID3: ``title``, ``artist``, ``album``, ``genre``); a missing title falls back
  to the file name, a missing artist or genre stays empty, as in real data, and
  the data-quality table counts it. Nothing is invented.
- **Formats stay mixed**: a file is linked (or copied) as it is. ``--transcode
  opus=0.15,flac=0.15,wav=0.1`` re-encodes that share of the tracks, chosen with
  the seed, into the formats the sources lack, so one catalogue holds every
  format libsndfile reads; ``id_metadata.csv`` records each track's source and
  stored format.
- **Listeners** have known tastes: each likes one album, or two (probability
  ``--second-album``), with weights ``--loyalty`` on them and the rest spread
  over the other albums. Listening runs in sessions from a join date to the
  end of Music4All-Onion's window (2019-02-20 to 2020-03-20): a play replays a
  track of the listener's library (in proportion to its plays) or discovers a
  new one by taste times the track's popularity. Everything is drawn from
  ``--seed``: the same arguments give the same files, byte for byte.

Prints the tracks per album and per stored format.
"""

from __future__ import annotations

import argparse
import collections
import glob
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

ONION_START = pd.Timestamp("2019-02-20")
ONION_TEST = pd.Timestamp("2020-02-20")
ONION_END = pd.Timestamp("2020-03-20")
TRANSCODE = {  # stored extension -> (libsndfile container, subtype)
    "opus": ("OGG", "OPUS"),
    "flac": ("FLAC", "PCM_16"),
    "wav": ("WAV", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
READABLE = (".ogg", ".oga", ".opus", ".mp3", ".flac", ".wav", ".aif", ".aiff")
MEAN_SESSIONS_PER_DAY = 0.05
MEAN_SESSION_PLAYS = 4.0
DISCOVERY = 0.15  # chance that a play is a new track while most of the catalogue is unknown
JOIN_WINDOW = 0.6  # listeners join within the first 60 % of the train year


@dataclass(frozen=True)
class Track:
    track_id: str
    album: str
    source: Path
    title: str
    artist: str
    album_tag: str
    genre: str
    duration: float
    sample_rate: int
    channels: int


def track_id(album: str, relative: str) -> str:
    """A stable 16-character id from the album and the file's path below its glob's fixed part (as Music4All's)."""
    return hashlib.sha1(f"{album}/{relative}".encode()).hexdigest()[:16]


def glob_root(pattern: str) -> str:
    """The folder a glob pattern starts in: its part before the first wildcard."""
    fixed = pattern[: min((pattern.find(c) for c in "*?[" if c in pattern), default=len(pattern))]
    return fixed if fixed.endswith(os.sep) else os.path.dirname(fixed)


def read_tracks(sources: dict[str, str]) -> list[Track]:
    """``{album: glob}`` -> the tracks, tags read from each file; unreadable files are an error naming them."""
    tracks = []
    for album, pattern in sources.items():
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if p.lower().endswith(READABLE))
        if not files:
            raise SystemExit(f"--source {album}={pattern}: no audio files ({', '.join(READABLE)}) match")
        stems = collections.Counter(path.stem for path in files)
        for path in files:
            # A file name shared inside the album (song.ogg in one folder per song) says less than its folder.
            fallback_title = path.stem if stems[path.stem] == 1 else path.parent.name
            try:
                with soundfile.SoundFile(path) as sound:
                    tags = sound.copy_metadata()
                    duration, rate, channels = sound.frames / sound.samplerate, sound.samplerate, sound.channels
            except soundfile.LibsndfileError as error:
                raise SystemExit(f"{path}: libsndfile cannot read it ({error}); leave it out of --source") from None
            tracks.append(
                Track(
                    track_id=track_id(album, os.path.relpath(path, glob_root(pattern))),
                    album=album,
                    source=path,
                    title=tags.get("title", "").strip() or fallback_title,
                    artist=tags.get("artist", "").strip(),
                    album_tag=tags.get("album", "").strip(),
                    genre=tags.get("genre", "").strip(),
                    duration=duration,
                    sample_rate=rate,
                    channels=channels,
                )
            )
    ids = collections.Counter(track.track_id for track in tracks)
    repeated = [t.source for t in tracks if ids[t.track_id] > 1]
    if repeated:
        raise SystemExit(f"two files got the same track id, e.g. {repeated[:2]}: list each file once")
    return sorted(tracks, key=lambda track: track.track_id)


def stored_formats(tracks: list[Track], transcode: dict[str, float], rng: np.random.Generator) -> list[str]:
    """Each track's stored extension: its own, or a transcoding target for a seeded share of the tracks."""
    formats = [track.source.suffix.lstrip(".").lower() for track in tracks]
    order = rng.permutation(len(tracks))
    start = 0
    for extension, share in transcode.items():
        count = int(round(share * len(tracks)))
        for position in order[start : start + count]:
            formats[position] = extension
        start += count
    return formats


def store_audio(track: Track, extension: str, folder: Path) -> Path:
    """Put ``track`` into ``folder`` as ``<id>.<extension>``: a hard link (or copy) of the source, or a re-encoding."""
    target = folder / f"{track.track_id}.{extension}"
    if target.exists():
        target.unlink()
    if track.source.suffix.lstrip(".").lower() == extension:
        try:
            os.link(track.source, target)
        except OSError:  # another file system
            shutil.copyfile(track.source, target)
        return target
    container, subtype = TRANSCODE[extension]
    audio, rate = soundfile.read(track.source, dtype="float32", always_2d=True)
    if extension == "opus" and rate not in OPUS_RATES:
        import soxr

        audio, rate = soxr.resample(audio, rate, 48000, quality="HQ").astype(np.float32), 48000
    soundfile.write(target, audio, rate, format=container, subtype=subtype)
    return target


def simulate_listening(
    tracks: list[Track], n_users: int, loyalty: float, second_album: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plays ``(user_id, track_id, timestamp)`` of ``n_users`` listeners with album tastes, and those tastes.

    Returns ``(log, listeners)``: the log sorted by user then time; ``listeners``
    has ``user_id``, ``albums`` (their favourites, ``|``-joined) and one
    ``taste_<album>`` column per album (the probabilities a discovery uses).
    """
    albums = sorted({track.album for track in tracks})
    album_of = np.array([albums.index(track.album) for track in tracks])
    popularity = rng.lognormal(0.0, 1.0, len(tracks))
    span_days = (ONION_END - ONION_START).days
    join_days = (ONION_TEST - ONION_START).days * JOIN_WINDOW
    plays, listeners = [], []
    for user in range(n_users):
        user_id = f"user_{user:05d}"
        favourites = [int(rng.integers(len(albums)))]
        if len(albums) > 1 and rng.random() < second_album:
            favourites.append(int(rng.choice([a for a in range(len(albums)) if a != favourites[0]])))
        taste = np.full(len(albums), (1 - loyalty) / max(len(albums) - len(favourites), 1))
        taste[favourites] = loyalty / len(favourites)
        if len(favourites) == len(albums):
            taste[:] = 1 / len(albums)
        listeners.append(
            {"user_id": user_id, "albums": "|".join(albums[a] for a in favourites)}
            | {f"taste_{album}": float(taste[i]) for i, album in enumerate(albums)}
        )
        weights = taste[album_of] * popularity / np.bincount(album_of, minlength=len(albums))[album_of]
        counts = np.zeros(len(tracks))
        day = rng.uniform(0, join_days)
        rate = MEAN_SESSIONS_PER_DAY * rng.lognormal(0, 0.4)
        while True:
            day += rng.exponential(1 / rate)
            if day >= span_days:
                break
            second = day * 86400.0
            for _ in range(1 + rng.poisson(MEAN_SESSION_PLAYS - 1)):
                unknown = counts == 0
                new_share = weights[unknown].sum() / weights.sum()
                if counts.sum() == 0 or (unknown.any() and rng.random() < DISCOVERY * new_share**0.5):
                    choice = weights * unknown
                else:
                    choice = counts
                index = int(rng.choice(len(tracks), p=choice / choice.sum()))
                counts[index] += 1
                second += rng.uniform(120, 330)  # about one track later
                plays.append((user_id, tracks[index].track_id, ONION_START + pd.Timedelta(seconds=int(second))))
    log = pd.DataFrame(plays, columns=["user_id", "track_id", "timestamp"])
    log = log[log["timestamp"] < ONION_END].sort_values(["user_id", "timestamp"], kind="stable")
    return log.reset_index(drop=True), pd.DataFrame(listeners)


def write_dataset(
    tracks: list[Track], formats: list[str], out: Path, log: pd.DataFrame, listeners: pd.DataFrame
) -> pd.DataFrame:
    """Write the Music4All layout under ``out``; return ``id_metadata.csv``'s frame."""
    audios = out / "audios"
    audios.mkdir(parents=True, exist_ok=True)
    for track, extension in zip(tracks, formats):
        store_audio(track, extension, audios)

    def tsv(frame: pd.DataFrame, name: str) -> None:
        frame.to_csv(out / name, sep="\t", index=False, lineterminator="\n")

    tsv(
        pd.DataFrame(
            {
                "id": [t.track_id for t in tracks],
                "artist": [t.artist for t in tracks],
                "song": [t.title for t in tracks],
                "album_name": [t.album_tag or t.album for t in tracks],
            }
        ),
        "id_information.csv",
    )
    tsv(pd.DataFrame({"id": [t.track_id for t in tracks], "genres": [t.genre for t in tracks]}), "id_genres.csv")
    tsv(pd.DataFrame({"id": [t.track_id for t in tracks], "tags": [""] * len(tracks)}), "id_tags.csv")
    metadata = pd.DataFrame(
        {
            "id": [t.track_id for t in tracks],
            "game": [t.album for t in tracks],
            "source_file": [str(t.source) for t in tracks],
            "source_format": [t.source.suffix.lstrip(".").lower() for t in tracks],
            "stored_format": formats,
            "duration_s": [round(t.duration, 2) for t in tracks],
            "sample_rate": [t.sample_rate for t in tracks],
            "channels": [t.channels for t in tracks],
        }
    )
    tsv(metadata, "id_metadata.csv")
    log = log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    tsv(log, "userid_trackid_timestamp.tsv")
    listeners.to_csv(out / "listeners.csv", index=False)
    return metadata


def parse_sources(values: list[str]) -> dict[str, str]:
    sources = {}
    for value in values:
        name, equals, pattern = value.partition("=")
        if not equals or not name or not pattern:
            raise SystemExit(f"--source {value!r}: expected NAME=GLOB")
        sources[name] = pattern
    return sources


def parse_transcode(value: str) -> dict[str, float]:
    shares = {}
    for item in filter(None, value.split(",")):
        extension, equals, share = item.partition("=")
        if extension not in TRANSCODE or not equals:
            raise SystemExit(f"--transcode {item!r}: expected EXT=SHARE with EXT one of {sorted(TRANSCODE)}")
        shares[extension] = float(share)
    if sum(shares.values()) > 1:
        raise SystemExit(f"--transcode shares add up to {sum(shares.values())} > 1")
    return shares


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", action="append", required=True, help="ALBUM=GLOB of its audio files")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--loyalty", type=float, default=0.85, help="share of discoveries from the favourite albums")
    parser.add_argument("--second-album", type=float, default=0.4, help="chance a listener has two favourites")
    parser.add_argument("--transcode", default="", help="e.g. opus=0.15,flac=0.15,wav=0.1")
    parser.add_argument("--seed", type=int, default=20190220)
    args = parser.parse_args(argv)
    if not 0 < args.loyalty <= 1 or not 0 <= args.second_album <= 1 or args.users < 2:
        raise SystemExit("need 0 < --loyalty <= 1, 0 <= --second-album <= 1 and --users >= 2")
    rng = np.random.default_rng(args.seed)
    tracks = read_tracks(parse_sources(args.source))
    formats = stored_formats(tracks, parse_transcode(args.transcode), rng)
    log, listeners = simulate_listening(tracks, args.users, args.loyalty, args.second_album, rng)
    metadata = write_dataset(tracks, formats, args.out, log, listeners)
    print(f"{len(tracks)} tracks, {len(log)} plays by {log['user_id'].nunique()} listeners -> {args.out}")
    print(pd.crosstab(metadata["game"], metadata["stored_format"], margins=True, margins_name="total").to_string())


if __name__ == "__main__":
    main(sys.argv[1:])
