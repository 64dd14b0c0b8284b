"""The track catalogue: Music4All's metadata files merged into one row per track.

The tracks listed in ``id_information.csv`` define the catalogue; ``id_genres.csv``
and ``id_tags.csv`` add comma-separated labels (a track missing from them gets
an empty list). Rows are sorted by ``track_id``, and that order is the row
order of every embedding matrix (``trackid_sorted.csv``). Each track has its
own audio file, of any format libsndfile reads, so one catalogue may mix MP3,
OGG, Opus, FLAC and WAV (see :func:`build_catalogue`). Audio files that are
missing are counted, not fatal: extraction reports bad audio per track.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from musicrec import paths

# Which table is which file, and the columns the catalogue needs from it.
TABLE_FILES = {
    "information": paths.MUSIC4ALL_INFORMATION,
    "genres": paths.MUSIC4ALL_GENRES,
    "tags": paths.MUSIC4ALL_TAGS,
}
REQUIRED_COLUMNS = {
    "information": ("id", "artist", "song", "album_name"),
    "genres": ("id", "genres"),
    "tags": ("id", "tags"),
}
CATALOGUE_COLUMNS = ["track_id", "audio_path", "artist", "title", "album", "genres", "tags"]
TRACK_ID_COLUMNS = ["index", "track_id"]
MISSING_AUDIO_EXAMPLES = 10
# Extensions of the audio files a catalogue may hold, in the order taken when a track has
# several: libsndfile (musicrec.audio) reads all of them, MP3 and Opus included.
AUDIO_EXTENSIONS = ("mp3", "ogg", "opus", "oga", "flac", "wav", "aiff", "aif")


class CatalogueError(ValueError):
    """A Music4All metadata file is not what the catalogue needs."""


def read_music4all_table(path: str | Path) -> pd.DataFrame:
    """Read one Music4All metadata file (tab-separated, header line) with every cell as a str.

    Cells stay strings exactly as written ("NA" is a title, not a missing value).
    """
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")


def read_music4all_tables(root: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``information``, ``genres`` and ``tags`` from a Music4All folder: {table: frame}."""
    return {table: read_music4all_table(Path(root) / name) for table, name in TABLE_FILES.items()}


def _check_columns(frame: pd.DataFrame, table: str, source: str) -> None:
    for column in REQUIRED_COLUMNS[table]:
        if column not in frame.columns:
            raise CatalogueError(
                f"{source}: missing column {column!r}; found {list(frame.columns)}, expected "
                f"{list(REQUIRED_COLUMNS[table])} (Music4All files are tab-separated with a header line)"
            )


def _check_ids(frame: pd.DataFrame, source: str) -> None:
    ids = frame["id"].astype(str)
    empty = ids.str.strip() == ""
    if empty.any():
        line = int(empty.to_numpy().argmax()) + 2  # 1-based, after the header
        raise CatalogueError(f"{source} line {line}: column 'id' is empty; expected a track id")
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        examples = sorted(repeated.unique())[:5]
        raise CatalogueError(
            f"{source}: column 'id' repeats {repeated.nunique()} track id(s), e.g. {examples}; "
            "expected one row per track"
        )


def split_labels(cell: object) -> list[str]:
    """``"rock,indie rock"`` -> ``["rock", "indie rock"]``; empty or missing -> ``[]``."""
    if not isinstance(cell, str):
        return []
    return [label.strip() for label in cell.split(",") if label.strip()]


def build_catalogue(
    information: pd.DataFrame,
    genres: pd.DataFrame,
    tags: pd.DataFrame,
    audio_dir: str | Path,
    audio_files: Iterable[str],
    audio_ext: str | None = None,
    sources: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Merge Music4All's tables into the catalogue, with each track's own audio file.

    information/genres/tags: the frames of ``id_information.csv``
    (``id, artist, song, album_name``, optionally ``audio_path``),
    ``id_genres.csv`` (``id, genres``) and ``id_tags.csv`` (``id, tags``); other
    columns are ignored. audio_dir: the audio folder (made absolute here);
    audio_files: the file names found in it. audio_ext: the preferred extension
    when a track has files of several formats (None: the order of
    :data:`AUDIO_EXTENSIONS`). sources: {table: path} for error
    messages (default: the Music4All file names).

    A track's file is, in this order: its ``audio_path`` cell in
    ``id_information.csv`` if that column exists and the cell is not empty
    (relative to ``audio_dir`` unless absolute; checked on disk); else
    ``<id>.<ext>`` in ``audio_files`` for a known audio extension (any case),
    so one catalogue may mix MP3, OGG, Opus, FLAC and WAV. A track with no file
    keeps ``<id>.<audio_ext>`` (or just ``<id>``) as its path and counts as
    missing audio; extraction reports it per track.

    Returns the catalogue, one row per track of ``information`` sorted by
    ``track_id``, with :data:`CATALOGUE_COLUMNS` (``genres``/``tags`` are lists
    of str), and a JSON-ready report: ``tracks``; ``missing_audio`` (count and
    examples); ``audio_formats`` (files per extension); ``ambiguous_audio``
    (tracks with files of several formats, the preferred one taken);
    ``without_metadata`` (an empty artist or title); ``without_genres`` /
    ``without_tags`` (no label: not listed, or listed with an empty cell); and
    genre/tag rows for unknown ids. Raises :class:`CatalogueError` naming the
    file and column on a missing column, an empty id or a repeated id.
    """
    sources = {**TABLE_FILES, **(sources or {})}
    frames = {"information": information, "genres": genres, "tags": tags}
    for table, frame in frames.items():
        _check_columns(frame, table, sources[table])
        _check_ids(frame, sources[table])

    catalogue = pd.DataFrame({
        "track_id": information["id"].astype(str).to_numpy(),
        "artist": information["artist"].fillna("").astype(str).to_numpy(),
        "title": information["song"].fillna("").astype(str).to_numpy(),
        "album": information["album_name"].fillna("").astype(str).to_numpy(),
    })
    report: dict = {"tracks": len(catalogue)}
    no_metadata = (catalogue["artist"].str.strip() == "") | (catalogue["title"].str.strip() == "")
    report["without_metadata"] = int(no_metadata.sum())
    known = set(catalogue["track_id"])
    for table in ("genres", "tags"):
        frame = frames[table]
        labels = dict(zip(frame["id"].astype(str), frame[table].map(split_labels)))
        catalogue[table] = [labels.get(track_id, []) for track_id in catalogue["track_id"]]
        # An empty cell is no label, exactly like a track the file does not list.
        report[f"without_{table}"] = int(sum(not track_labels for track_labels in catalogue[table]))
        report[f"{table}_for_unknown_tracks"] = int(sum(track_id not in known for track_id in labels))

    audio_root = Path(audio_dir).resolve()
    preferred = audio_ext.lstrip(".").lower() if audio_ext else None
    listed = information["audio_path"].fillna("").astype(str).str.strip() if "audio_path" in information else None
    found = _audio_files_by_track(audio_files, known)
    paths, missing, ambiguous, formats = [], [], [], collections.Counter()
    for row, track_id in enumerate(catalogue["track_id"]):
        if listed is not None and listed.iloc[row]:
            path = audio_root / listed.iloc[row]  # an absolute cell replaces the root
            present = path.is_file()
        else:
            candidates = found.get(track_id, {})
            if len(candidates) > 1:
                ambiguous.append(track_id)
            extension = _preferred_extension(candidates, preferred)
            present = extension is not None
            path = audio_root / (candidates[extension] if present else f"{track_id}.{preferred}" if preferred else track_id)
        paths.append(str(path))
        if present:
            formats[path.suffix.lstrip(".").lower() or "(none)"] += 1
        else:
            missing.append(track_id)
    catalogue["audio_path"] = paths
    report.update({
        "audio_dir": str(audio_root),
        "audio_ext": preferred,
        "audio_formats": dict(sorted(formats.items())),
        "missing_audio": len(missing),
        "missing_audio_examples": sorted(missing)[:MISSING_AUDIO_EXAMPLES],
        "ambiguous_audio": len(ambiguous),
        "ambiguous_audio_examples": sorted(ambiguous)[:MISSING_AUDIO_EXAMPLES],
    })

    catalogue = catalogue.sort_values("track_id", kind="stable").reset_index(drop=True)
    return catalogue[CATALOGUE_COLUMNS], report


def _audio_files_by_track(audio_files: Iterable[str], track_ids: set[str]) -> dict[str, dict[str, str]]:
    """{track id: {lower-case extension: file name}} for the files named ``<track id>.<audio extension>``."""
    by_track: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for name in audio_files:
        stem, dot, extension = name.rpartition(".")
        if dot and stem in track_ids and extension.lower() in AUDIO_EXTENSIONS:
            by_track[stem][extension.lower()] = name
    return by_track


def _preferred_extension(candidates: Mapping[str, str], preferred: str | None) -> str | None:
    """The extension to use among a track's files: ``preferred`` if present, else the first known one."""
    if preferred in candidates:
        return preferred
    return next((extension for extension in AUDIO_EXTENSIONS if extension in candidates), None)


def track_id_table(catalogue: pd.DataFrame) -> pd.DataFrame:
    """``index, track_id`` for a catalogue sorted by track id: row i of every embedding matrix is track i."""
    track_ids = catalogue["track_id"]
    if not track_ids.is_monotonic_increasing or track_ids.duplicated().any():
        raise CatalogueError("catalogue column 'track_id': expected unique ids sorted ascending (use build_catalogue)")
    return pd.DataFrame({"index": range(len(track_ids)), "track_id": track_ids.to_numpy()})
