"""Data quality: what the data stage dropped, and why, in one table whose counts add up.

Three reports feed it, each written by its rule: the catalogue report
(:func:`musicrec.data.catalogue.build_catalogue`), the mapping report
(:func:`musicrec.data.logio.map_log_file`) and the split report
(:func:`musicrec.data.split.split_interactions`). :func:`data_quality_table`
turns them into rows ``stage, item, count, out_of, share``:

- ``listening log``: data rows read, each reason a row was dropped for, and the
  plays kept; dropped + kept = read;
- ``catalogue``: tracks, and how many lack audio, metadata (artist or title),
  genres or tags (these overlap: each is out of all tracks), and the audio
  files per format;
- ``split``: the mapped plays by time window (before ``start_date``, train,
  test, after ``end_date``; they add up to the plays), then the test-window
  (user, track) pairs by their one fate (already played, cold user, cold
  track, kept; they add up to the pairs), and the pairs of each part.

Every sum is checked; a report whose counts do not add up is an error, not a
row. :func:`data_quality_summary` is the same in one line for the console.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from musicrec.data.mapping import MALFORMED_REASONS

COLUMNS = ["stage", "item", "count", "out_of", "share"]
LOG, CATALOGUE, SPLIT = "listening log", "catalogue", "split"
LOG_REASONS = {  # mapping report key -> what the row says
    "repeated_header": "dropped: repeated header line",
    "unknown_track_ids": "dropped: track id not in the catalogue",
    "invalid_utf8": "dropped: not UTF-8",
    "wrong_field_count": "dropped: not 3 tab-separated fields",
    "empty_id": "dropped: empty user or track id",
    "bad_timestamp": "dropped: invalid timestamp",
}
WINDOWS = {
    "before_start": "plays before split.start_date (ignored)",
    "train_window": "plays in the train window",
    "test_window": "plays in the test window",
    "after_end": "plays after split.end_date (ignored)",
}
PAIR_FATES = {
    "already_played": "test pairs dropped: already played before test_date",
    "novel_with_cold_user": "test pairs dropped: user has no train play",
    "novel_with_cold_track": "test pairs dropped: track has no train play",
    "kept": "test pairs kept (val + test)",
}


class DataQualityError(ValueError):
    """The data stage's reports contradict each other or do not add up."""


def data_quality_table(
    mapping_report: Mapping[str, Any], split_report: Mapping[str, Any], catalogue_report: Mapping[str, Any]
) -> pd.DataFrame:
    """The three reports (as JSON-loaded dicts) -> the data-quality table, :data:`COLUMNS`.

    ``count`` and ``out_of`` are int (``out_of`` is the total the row is part
    of; the totals themselves have ``out_of`` = ``count``), ``share`` is
    ``count / out_of`` (NaN for an empty total). Raises
    :class:`DataQualityError` when a report's parts do not add up to its total,
    or the split saw a different number of plays than the mapping wrote.
    """
    rows: list[tuple[str, str, int, int]] = []

    read, written = int(mapping_report["rows_read"]), int(mapping_report["rows_written"])
    dropped = _log_drops(mapping_report)
    rows.append((LOG, "data rows read", read, read))
    rows += [(LOG, LOG_REASONS[reason], count, read) for reason, count in dropped.items()]
    rows.append((LOG, "plays kept", written, read))
    _check_sum(LOG, "data rows read", read, [*dropped.values(), written])

    tracks = int(catalogue_report["tracks"])
    rows.append((CATALOGUE, "tracks", tracks, tracks))
    for key, item in (
        ("missing_audio", "tracks without an audio file"),
        ("without_metadata", "tracks without artist or title"),
        ("without_genres", "tracks without genres"),
        ("without_tags", "tracks without tags"),
    ):
        rows.append((CATALOGUE, item, int(catalogue_report[key]), tracks))
    formats = catalogue_report.get("audio_formats", {})
    rows += [(CATALOGUE, f"audio files: {extension}", int(count), tracks) for extension, count in formats.items()]
    _check_sum(CATALOGUE, "tracks", tracks, [*map(int, formats.values()), int(catalogue_report["missing_audio"])])

    plays = {key: int(value) for key, value in split_report["plays"].items()}
    if plays["total"] != written:
        raise DataQualityError(
            f"split report: {plays['total']} plays split, but the mapping report wrote {written}; "
            "the two reports are not from the same run"
        )
    rows.append((SPLIT, "plays mapped", plays["total"], plays["total"]))
    rows += [(SPLIT, item, plays[key], plays["total"]) for key, item in WINDOWS.items()]
    _check_sum(SPLIT, "plays mapped", plays["total"], [plays[key] for key in WINDOWS])

    candidates = {key: int(value) for key, value in split_report["test_candidates"].items()}
    pairs = candidates["pairs"]
    rows.append((SPLIT, "test-window (user, track) pairs", pairs, pairs))
    rows += [(SPLIT, item, candidates[key], pairs) for key, item in PAIR_FATES.items()]
    _check_sum(SPLIT, "test-window pairs", pairs, [candidates[key] for key in PAIR_FATES])
    for part in ("val", "test"):
        rows.append((SPLIT, f"{part} pairs", int(split_report[part]["pairs"]), candidates["kept"]))
    _check_sum(SPLIT, "kept test pairs", candidates["kept"], [int(split_report[p]["pairs"]) for p in ("val", "test")])
    rows.append((SPLIT, "train pairs", int(split_report["train"]["pairs"]), int(split_report["train"]["pairs"])))

    table = pd.DataFrame(rows, columns=COLUMNS[:4]).astype({"count": "int64", "out_of": "int64"})
    table["share"] = table["count"] / table["out_of"].where(table["out_of"] > 0)
    return table


def data_quality_summary(table: pd.DataFrame) -> str:
    """One line for the console from :func:`data_quality_table`'s table (nonzero reasons only)."""

    def count(stage: str, item: str) -> int:
        return int(table.loc[(table["stage"] == stage) & (table["item"] == item), "count"].iloc[0])

    def reasons(stage: str, prefix: str) -> str:
        chosen = table[(table["stage"] == stage) & table["item"].str.startswith(prefix) & (table["count"] > 0)]
        listed = ", ".join(f"{row.count:,} {row.item.removeprefix(prefix).strip()}" for row in chosen.itertuples())
        return f" ({listed})" if listed else ""

    read, kept = count(LOG, "data rows read"), count(LOG, "plays kept")
    tracks = count(CATALOGUE, "tracks")
    pairs, kept_pairs = count(SPLIT, "test-window (user, track) pairs"), count(SPLIT, "test pairs kept (val + test)")
    return (
        f"data quality: log {read:,} rows -> {kept:,} plays, {read - kept:,} dropped{reasons(LOG, 'dropped:')}; "
        f"catalogue {tracks:,} tracks, {count(CATALOGUE, 'tracks without an audio file'):,} without audio, "
        f"{count(CATALOGUE, 'tracks without artist or title'):,} without artist/title, "
        f"{count(CATALOGUE, 'tracks without genres'):,} without genres; "
        f"split {pairs:,} test-window pairs -> {kept_pairs:,} kept, {pairs - kept_pairs:,} dropped"
        f"{reasons(SPLIT, 'test pairs dropped:')}"
    )


def _log_drops(mapping_report: Mapping[str, Any]) -> dict[str, int]:
    """Rows dropped per reason, from a mapping report (older reports lack ``repeated_header``)."""
    dropped = {"repeated_header": int(mapping_report.get("repeated_header", {}).get("rows", 0))}
    dropped["unknown_track_ids"] = int(mapping_report["unknown_track_ids"]["rows"])
    dropped.update({reason: int(mapping_report["malformed"][reason]["rows"]) for reason in MALFORMED_REASONS})
    return dropped


def _check_sum(stage: str, total_name: str, total: int, parts: list[int]) -> None:
    if sum(parts) != total:
        raise DataQualityError(
            f"{stage} report: the parts of {total_name} add up to {sum(parts)} ({parts}), not {total}"
        )
