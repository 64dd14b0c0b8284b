"""The track catalogue: Music4All's metadata files merged into one row per track.

The tracks listed in ``id_information.csv`` define the catalogue; ``id_genres.csv``
and ``id_tags.csv`` add comma-separated labels (a track missing from them gets
an empty list). Rows are sorted by ``track_id``, and that order is the row
order of every embedding matrix (``trackid_sorted.csv``). Audio files that are
missing are counted, not fatal: extraction reports bad audio per track.
"""

from __future__ import annotations

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
    audio_ext: str,
    audio_files: Iterable[str],
    sources: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Merge Music4All's tables into the catalogue.

    information/genres/tags: the frames of ``id_information.csv``
    (``id, artist, song, album_name``), ``id_genres.csv`` (``id, genres``) and
    ``id_tags.csv`` (``id, tags``); extra columns are ignored. audio_dir: the
    folder of ``<id>.<audio_ext>`` files (made absolute here); audio_files: the
    file names found in it, to count missing audio. sources: {table: path} for
    error messages (default: the Music4All file names).

    Returns the catalogue, one row per track of ``information`` sorted by
    ``track_id``, with :data:`CATALOGUE_COLUMNS` (``genres``/``tags`` are lists
    of str), and a JSON-ready report: track count, missing audio (count and
    examples), tracks without genres/tags, and genre/tag rows for unknown ids.
    Raises :class:`CatalogueError` naming the file and column on a missing
    column, an empty id or a repeated id.
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
    known = set(catalogue["track_id"])
    for table in ("genres", "tags"):
        frame = frames[table]
        labels = dict(zip(frame["id"].astype(str), frame[table].map(split_labels)))
        catalogue[table] = [labels.get(track_id, []) for track_id in catalogue["track_id"]]
        report[f"without_{table}"] = int(sum(track_id not in labels for track_id in catalogue["track_id"]))
        report[f"{table}_for_unknown_tracks"] = int(sum(track_id not in known for track_id in labels))

    audio_root = Path(audio_dir).resolve()
    extension = audio_ext.lstrip(".")
    file_names = catalogue["track_id"] + "." + extension
    catalogue["audio_path"] = [str(audio_root / name) for name in file_names]
    present = set(audio_files)
    missing = sorted(catalogue["track_id"][~file_names.isin(present)])
    report.update({
        "audio_dir": str(audio_root),
        "audio_ext": extension,
        "missing_audio": len(missing),
        "missing_audio_examples": missing[:MISSING_AUDIO_EXAMPLES],
    })

    catalogue = catalogue.sort_values("track_id", kind="stable").reset_index(drop=True)
    return catalogue[CATALOGUE_COLUMNS], report


def track_id_table(catalogue: pd.DataFrame) -> pd.DataFrame:
    """``index, track_id`` for a catalogue sorted by track id: row i of every embedding matrix is track i."""
    track_ids = catalogue["track_id"]
    if not track_ids.is_monotonic_increasing or track_ids.duplicated().any():
        raise CatalogueError("catalogue column 'track_id': expected unique ids sorted ascending (use build_catalogue)")
    return pd.DataFrame({"index": range(len(track_ids)), "track_id": track_ids.to_numpy()})
