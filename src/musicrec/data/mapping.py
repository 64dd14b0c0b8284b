"""Map the Music4All-Onion listening log onto embedding rows, one chunk at a time.

The log (``userid_trackid_timestamp.tsv``) is tab-separated with the header
``user_id<TAB>track_id<TAB>timestamp`` and timestamps ``YYYY-MM-DD HH:MM:SS``.
A chunk arrives here as its raw lines (no line terminators) plus the file line
number of its first line; ``map_chunk`` parses, validates and maps them with
vectorised Arrow kernels (no Python object per row) and returns the mapped plays
and a ``ChunkReport`` saying which lines were left out and why.

Every left-out line is counted under exactly one reason, checked in this order:

``repeated_header``    the header line again (logs concatenated with ``cat``): not
                       data and not malformed, so it is skipped and counted even
                       when ``strict`` is on;
``invalid_utf8``       the line is not UTF-8;
``wrong_field_count``  not exactly 3 tab-separated fields (blank lines included);
``empty_id``           ``user_id`` or ``track_id`` is empty;
``bad_timestamp``      not ``YYYY-MM-DD HH:MM:SS`` or not a real calendar time;
``unknown_track_id``   well-formed, but the track is not in ``trackid_sorted.csv``.

Reading files and writing ``plays.parquet`` lives in ``musicrec.data.logio``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LOG_COLUMNS = ("user_id", "track_id", "timestamp")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# Anchored and range-checked, so only day-of-month overflow (Feb 30) is left to
# catch after parsing; Arrow's strptime would silently roll "02-30" into March.
TIMESTAMP_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d$"

MALFORMED_REASONS = ("invalid_utf8", "wrong_field_count", "empty_id", "bad_timestamp")
UNKNOWN = "unknown_track_id"
REPEATED_HEADER = "repeated_header"
REASONS = (REPEATED_HEADER, *MALFORMED_REASONS, UNKNOWN)
HEADER_LINE = "\t".join(LOG_COLUMNS)

EXPECTED = {
    REPEATED_HEADER: "one header line, at line 1",
    "invalid_utf8": "UTF-8 text",
    "wrong_field_count": "3 tab-separated fields: user_id, track_id, timestamp",
    "empty_id": "non-empty user_id and track_id",
    "bad_timestamp": "a timestamp 'YYYY-MM-DD HH:MM:SS'",
    UNKNOWN: "a track id listed in trackid_sorted.csv",
}

EXAMPLES_PER_REASON = 10
UNKNOWN_ID_SAMPLE = 20

PLAYS_SCHEMA = pa.schema(
    [
        ("user_id", pa.dictionary(pa.int32(), pa.string())),
        ("track_id", pa.dictionary(pa.int32(), pa.string())),
        ("track_idx", pa.int32()),
        ("timestamp", pa.timestamp("s")),
    ]
)


class LogFormatError(ValueError):
    """A listening-log line that ``strict`` mapping refuses, or a log that cannot be read at all."""


@dataclass
class ChunkReport:
    """What happened to the lines of one chunk (or, merged, of a whole log).

    ``rows_read`` counts data lines (header excluded); ``excluded`` counts left-out
    lines per reason; ``examples`` keeps the first few ``(line number, detail)`` per
    reason; ``unknown_ids`` is every distinct unknown track id seen (bounded by the
    log's own vocabulary, not by its length).
    """

    rows_read: int = 0
    rows_written: int = 0
    excluded: dict[str, int] = field(default_factory=lambda: {reason: 0 for reason in REASONS})
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: {reason: [] for reason in REASONS})
    unknown_ids: dict[str, None] = field(default_factory=dict)  # ordered set: keeps first-seen order

    def merge(self, other: ChunkReport) -> None:
        """Add ``other`` (a later chunk) into this report in place."""
        self.rows_read += other.rows_read
        self.rows_written += other.rows_written
        for reason in REASONS:
            self.excluded[reason] += other.excluded[reason]
            room = EXAMPLES_PER_REASON - len(self.examples[reason])
            self.examples[reason].extend(other.examples[reason][: max(room, 0)])
        self.unknown_ids.update(other.unknown_ids)

    def first_problem(self) -> tuple[int, str, str] | None:
        """``(line, reason, detail)`` of the earliest left-out line, or None if none was."""
        candidates = [
            (examples[0][0], reason, examples[0][1])
            for reason, examples in self.examples.items()
            if examples and reason != REPEATED_HEADER  # a header is recognised, never a problem
        ]
        return min(candidates) if candidates else None

    def to_dict(self) -> dict:
        """JSON-ready summary: counts, first line numbers per reason, a sample of unknown ids."""
        malformed = {
            reason: {
                "rows": self.excluded[reason],
                "first_lines": [line for line, _ in self.examples[reason]],
                "examples": [{"line": line, "detail": detail} for line, detail in self.examples[reason]],
            }
            for reason in MALFORMED_REASONS
        }
        return {
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_excluded": sum(self.excluded.values()),
            REPEATED_HEADER: {
                "rows": self.excluded[REPEATED_HEADER],
                "first_lines": [line for line, _ in self.examples[REPEATED_HEADER]],
            },
            "unknown_track_ids": {
                "rows": self.excluded[UNKNOWN],
                "distinct": len(self.unknown_ids),
                "sample": list(self.unknown_ids)[:UNKNOWN_ID_SAMPLE],
                "first_lines": [line for line, _ in self.examples[UNKNOWN]],
            },
            "malformed": malformed,
        }


def problem_message(source: str, line: int, reason: str, detail: str) -> str:
    """The error text for one refused line: file, line number, what was found, what was expected."""
    return f"{source} line {line}: {detail}; expected {EXPECTED[reason]}"


def raise_on_first_problem(report: ChunkReport, source: str) -> None:
    """``strict`` mode: raise ``LogFormatError`` for the earliest left-out line in ``report``, if any."""
    problem = report.first_problem()
    if problem is not None:
        line, reason, detail = problem
        raise LogFormatError(
            problem_message(source, line, reason, detail)
            + " (mapping.strict is true; set it to false to count and skip such rows)"
        )


def _decode_utf8(lines: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """string or binary lines -> (string array, bool mask of lines that were not UTF-8 and are now empty)."""
    if pa.types.is_string(lines.type):
        return lines, np.zeros(len(lines), dtype=bool)
    if not pa.types.is_binary(lines.type):
        raise TypeError(f"log lines must be a string or binary array, got {lines.type}")
    try:
        return lines.cast(pa.string()), np.zeros(len(lines), dtype=bool)
    except pa.ArrowInvalid:
        pass
    # Rare path (a corrupt file): find the offending lines one by one, blank them.
    invalid = np.fromiter((not _is_utf8(raw) for raw in lines.to_pylist()), dtype=bool, count=len(lines))
    cleaned = pc.if_else(pa.array(invalid), pa.scalar(b"", lines.type), lines)
    return cleaned.cast(pa.string()), invalid


def _is_utf8(raw: bytes | None) -> bool:
    try:
        (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_timestamps(text: pa.Array) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` strings -> timestamp[s] array, null where invalid.

    Invalid = wrong layout, out-of-range fields, or a day the month does not have.
    """
    clean = _parse_clean_timestamps(text)
    if clean is not None:
        return clean
    well_formed = pc.fill_null(pc.match_substring_regex(text, TIMESTAMP_PATTERN), False)
    candidates = pc.if_else(well_formed, text, pa.scalar(None, text.type))
    parsed = pc.strptime(candidates, format=TIMESTAMP_FORMAT, unit="s", error_is_null=True)
    # strptime accepts "2019-02-30" and returns March 2nd: the parsed day must equal the written one.
    written_day = pc.cast(pc.utf8_slice_codeunits(pc.if_else(well_formed, text, "1970-01-01"), 8, 10), pa.int64())
    same_day = pc.fill_null(pc.equal(pc.day(parsed), written_day), False)
    return pc.if_else(same_day, parsed, pa.scalar(None, pa.timestamp("s")))


def _parse_clean_timestamps(text: pa.Array) -> pa.Array | None:
    """Fast path for a chunk whose timestamps are all valid; None as soon as one may not be.

    Arrow's cast from string is strict about calendar and ranges (and ~20x faster
    than strptime plus the checks) but also accepts ISO variants; with every value
    19 characters long and a space at position 10, the only variant left is ours.
    """
    if not pa.types.is_string(text.type) or text.null_count or len(text) == 0:
        return None
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
    if not (np.diff(offsets) == 19).all():
        return None
    characters = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(-1, 19)
    if not (characters[:, 10] == ord(" ")).all():
        return None
    try:
        return pc.cast(text, pa.timestamp("s"))
    except pa.ArrowInvalid:
        return None


def map_chunk(lines: pa.Array, first_line: int, track_ids: pa.Array) -> tuple[pa.Table, ChunkReport]:
    """Parse, validate and map one chunk of log lines.

    lines: (n,) string or binary array, the chunk's lines without terminators;
    first_line: file line number of ``lines[0]`` (the header is line 1);
    track_ids: (n_tracks,) string array, row i = the track of embedding row i.
    Returns the kept plays as a table with ``PLAYS_SCHEMA`` (``user_id``,
    ``track_id`` dictionary strings, ``track_idx`` int32, ``timestamp`` timestamp[s]),
    in input order, and the chunk's report. Nothing is raised for bad lines:
    the caller decides (strict or not) from the report.
    """
    report = ChunkReport(rows_read=len(lines))
    line_numbers = np.arange(first_line, first_line + len(lines), dtype=np.int64)

    text, not_utf8 = _decode_utf8(lines)
    header = pc.fill_null(pc.equal(pc.utf8_trim(text, " \ufeff"), HEADER_LINE), False).to_numpy(zero_copy_only=False)
    _record(report, REPEATED_HEADER, line_numbers[header], ["the header line again"] * EXAMPLES_PER_REASON)
    not_utf8 &= ~header
    fields = pc.split_pattern(text, "\t")
    n_fields = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    three_fields = (n_fields == 3) & ~not_utf8 & ~header
    _record(report, "invalid_utf8", line_numbers[not_utf8], ["line is not valid UTF-8"] * EXAMPLES_PER_REASON)
    wrong_count = ~three_fields & ~not_utf8 & ~header
    _record(
        report,
        "wrong_field_count",
        line_numbers[wrong_count],
        [f"found {count} tab-separated field(s)" for count in n_fields[wrong_count][:EXAMPLES_PER_REASON]],
    )

    # Every kept row has exactly three values, so its fields sit at 3i, 3i+1, 3i+2.
    shaped = fields if three_fields.all() else fields.filter(pa.array(three_fields))  # skip the copy when clean
    values = shaped.flatten()
    del text, fields, shaped
    kept_lines = line_numbers[three_fields]
    n_kept = len(kept_lines)
    user_id = values.take(pa.array(np.arange(0, 3 * n_kept, 3)))
    track_id = values.take(pa.array(np.arange(1, 3 * n_kept, 3)))
    timestamp_text = values.take(pa.array(np.arange(2, 3 * n_kept, 3)))
    del values

    empty = (pc.utf8_length(user_id).to_numpy() == 0) | (pc.utf8_length(track_id).to_numpy() == 0)
    _record(
        report,
        "empty_id",
        kept_lines[empty],
        [_describe_ids(u, t) for u, t in _first_values((user_id, track_id), empty)],
    )

    timestamp = parse_timestamps(timestamp_text)
    bad_time = timestamp.is_null().to_numpy(zero_copy_only=False) & ~empty
    _record(
        report,
        "bad_timestamp",
        kept_lines[bad_time],
        [
            f"timestamp {value!r} is not a valid date and time"
            for (value,) in _first_values((timestamp_text,), bad_time)
        ],
    )

    position = pc.index_in(track_id, value_set=track_ids)
    unknown = position.is_null().to_numpy(zero_copy_only=False) & ~empty & ~bad_time
    unknown_values = track_id.filter(pa.array(unknown))
    report.unknown_ids.update(dict.fromkeys(pc.unique(unknown_values).to_pylist()))
    _record(
        report,
        UNKNOWN,
        kept_lines[unknown],
        [
            f"track id {value!r} is not in the track id list"
            for value in unknown_values[:EXAMPLES_PER_REASON].to_pylist()
        ],
    )

    good = pa.array(~(empty | bad_time | unknown))
    plays = pa.table(
        {
            "user_id": pc.dictionary_encode(user_id.filter(good)),
            "track_id": pc.dictionary_encode(track_id.filter(good)),
            "track_idx": pc.cast(position.filter(good), pa.int32()),
            "timestamp": timestamp.filter(good),
        },
        schema=PLAYS_SCHEMA,
    )
    report.rows_written = plays.num_rows
    return plays, report


def _record(report: ChunkReport, reason: str, lines: np.ndarray, details: list[str]) -> None:
    """Count ``lines`` under ``reason`` and keep the first few with their details."""
    report.excluded[reason] += len(lines)
    report.examples[reason] = list(zip(lines[:EXAMPLES_PER_REASON].tolist(), details[:EXAMPLES_PER_REASON]))


def _first_values(columns: tuple[pa.Array, ...], mask: np.ndarray) -> list[tuple]:
    """Python values of the first few masked rows of ``columns`` (for error details only)."""
    rows = np.flatnonzero(mask)[:EXAMPLES_PER_REASON]
    picked = [column.take(pa.array(rows)).to_pylist() for column in columns]
    return list(zip(*picked))


def _describe_ids(user_id: str, track_id: str) -> str:
    empty = [name for name, value in (("user_id", user_id), ("track_id", track_id)) if value == ""]
    return f"empty {' and '.join(empty)} (user_id={user_id!r}, track_id={track_id!r})"
