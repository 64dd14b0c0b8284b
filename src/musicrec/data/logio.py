"""Streamed reading and atomic writing for the interactions stage.

The Music4All-Onion log has ~250M lines, so it is read as raw bytes, cut into
chunks of exactly ``chunk_rows`` lines (numpy finds the newlines), and each
chunk's plays are appended to ``plays.parquet`` as one row group: memory stays
bounded by the chunk size, not the log size. Every output is written to a
temporary file beside its target and renamed into place only when complete, so
a failed job never leaves a half-written artefact that looks finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musicrec.data.mapping import (
    LOG_COLUMNS,
    MALFORMED_REASONS,
    PLAYS_SCHEMA,
    UNKNOWN,
    ChunkReport,
    LogFormatError,
    map_chunk,
    raise_on_first_problem,
)
from musicrec.io import atomic_path

EXPECTED_HEADER = "\t".join(LOG_COLUMNS)
READ_BLOCK_BYTES = 16 << 20
MAX_CHUNK_BYTES = 2**31 - 1  # Arrow binary arrays use int32 offsets
TRACK_ID_COLUMNS = ["index", "track_id"]
NEWLINE, CARRIAGE_RETURN = 10, 13


def read_track_ids(path: str | Path) -> pa.Array:
    """``trackid_sorted.csv`` (``index,track_id``) -> (n_tracks,) string array, row i = embedding row i.

    Checks what the mapping relies on: the header, ``index`` running 0..n-1 in
    order, and non-empty unique ids.
    """
    table = pa_csv.read_csv(
        path,
        convert_options=pa_csv.ConvertOptions(
            column_types={"index": pa.int64(), "track_id": pa.string()}, strings_can_be_null=False
        ),
    )
    if table.column_names != TRACK_ID_COLUMNS:
        raise ValueError(f"{path}: columns are {table.column_names}, expected {TRACK_ID_COLUMNS}")
    index = table["index"].to_numpy()
    out_of_place = np.flatnonzero(index != np.arange(len(index)))
    if len(out_of_place):
        row = int(out_of_place[0])
        raise ValueError(
            f"{path} line {row + 2}: index {index[row]}, expected {row} (rows must be numbered 0..n-1 in order)"
        )
    track_ids = table["track_id"].combine_chunks()
    if pc.any(pc.equal(pc.utf8_length(track_ids), 0)).as_py():
        raise ValueError(f"{path}: a track_id is empty; expected one non-empty id per row")
    if pc.count_distinct(track_ids).as_py() != len(track_ids):
        counts = pc.value_counts(track_ids)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")[0].as_py()
        raise ValueError(f"{path}: track_id {repeated!r} appears more than once; expected unique ids")
    return track_ids


def iter_log_lines(
    path: str | Path, chunk_rows: int, block_bytes: int = READ_BLOCK_BYTES
) -> Iterator[tuple[int, pa.BinaryArray]]:
    """Yield ``(first line number, lines)`` for consecutive chunks of the log's data lines.

    Checks the header (line 1) first. Each chunk holds exactly ``chunk_rows`` lines
    (the last may hold fewer) as a binary array without ``\\n`` / ``\\r\\n``
    terminators; a final line without a newline is still a line.
    """
    if chunk_rows < 1:
        raise ValueError(f"mapping.chunk_rows must be at least 1, got {chunk_rows}")
    with open(path, "rb") as stream:
        _check_header(path, stream.readline())
        next_line = 2
        pending: list[bytes] = []
        pending_lines = 0
        while True:
            block = stream.read(block_bytes)
            if block:
                pending.append(block)
                pending_lines += int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == NEWLINE))
                if pending_lines < chunk_rows:
                    continue
            buffer = b"".join(pending)
            pending.clear()  # the blocks are copied into buffer; don't hold both
            if not block and buffer and not buffer.endswith(b"\n"):
                buffer += b"\n"
            data = np.frombuffer(buffer, dtype=np.uint8)
            newlines = np.flatnonzero(data == NEWLINE)
            # Emit every whole chunk in the buffer; at end of file also the short last one.
            n_emit = len(newlines) if not block else len(newlines) - len(newlines) % chunk_rows
            begin = 0
            for first in range(0, n_emit, chunk_rows):
                chunk_newlines = newlines[first : min(first + chunk_rows, n_emit)]
                end = int(chunk_newlines[-1]) + 1
                yield next_line, _lines_array(path, data[begin:end], chunk_newlines - begin)
                next_line += len(chunk_newlines)
                begin = end
            if not block:
                return
            pending = [buffer[begin:]] if begin < len(buffer) else []
            pending_lines = len(newlines) - n_emit


def _check_header(path: str | Path, header: bytes) -> None:
    if not header:
        raise LogFormatError(f"{path} is empty; expected the header line {EXPECTED_HEADER!r}")
    found = header.rstrip(b"\r\n").decode("utf-8", errors="replace").removeprefix("\ufeff")
    if found != EXPECTED_HEADER:
        raise LogFormatError(f"{path} line 1: header {found!r}, expected {EXPECTED_HEADER!r} (tab-separated)")


def _lines_array(path: str | Path, data: np.ndarray, newlines: np.ndarray) -> pa.BinaryArray:
    """Binary array of the lines in ``data`` (which ends at a newline), terminators removed.

    data: (n_bytes,) uint8; newlines: (n_lines,) positions of each line's ``\\n`` in ``data``.
    """
    starts = np.concatenate(([0], newlines[:-1] + 1))
    ends = newlines.copy()
    carriage = (ends > starts) & (data[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN)
    ends[carriage] -= 1
    keep = np.ones(len(data), dtype=bool)
    keep[newlines] = False
    keep[newlines[carriage] - 1] = False
    payload = data[keep]
    if len(payload) > MAX_CHUNK_BYTES:
        raise ValueError(f"{path}: a chunk of {len(newlines)} lines exceeds 2 GiB; lower mapping.chunk_rows")
    offsets = np.zeros(len(newlines) + 1, dtype=np.int32)
    np.cumsum(ends - starts, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), len(newlines), [None, pa.py_buffer(offsets), pa.py_buffer(payload)])


def map_log_file(
    log_path: str | Path, track_ids_path: str | Path, plays_path: str | Path, *, strict: bool, chunk_rows: int
) -> dict:
    """Map the whole log onto ``track_idx`` and write ``plays.parquet``, one row group per chunk.

    strict: raise ``LogFormatError`` at the first malformed line or unknown track id
    (naming file and line); otherwise leave such lines out and count them.
    Returns the mapping report (JSON-ready). Raises if no line could be mapped at all.
    """
    track_ids = read_track_ids(track_ids_path)
    total = ChunkReport()
    with atomic_path(plays_path) as temporary, pq.ParquetWriter(temporary, PLAYS_SCHEMA) as writer:
        for first_line, lines in iter_log_lines(log_path, chunk_rows):
            plays, report = map_chunk(lines, first_line, track_ids)
            if strict:
                raise_on_first_problem(report, str(log_path))
            if plays.num_rows:
                writer.write_table(plays)
            total.merge(report)
        accounted = total.rows_written + sum(total.excluded.values())
        if accounted != total.rows_read:  # each line has exactly one fate; anything else is a bug here
            raise RuntimeError(
                f"{log_path}: {total.rows_read} data rows read but {total.rows_written} written plus "
                f"{sum(total.excluded.values())} excluded ({total.excluded}); the reasons must add up"
            )
        if total.rows_written == 0:
            malformed = {reason: total.excluded[reason] for reason in MALFORMED_REASONS}
            raise LogFormatError(
                f"{log_path}: none of its {total.rows_read} data rows could be mapped "
                f"({total.excluded[UNKNOWN]} unknown track ids, e.g. {list(total.unknown_ids)[:3]}; "
                f"malformed: {malformed}); check that {track_ids_path} is the catalogue this log belongs to"
            )
    return {
        "log": str(log_path),
        "track_ids": str(track_ids_path),
        "catalogue_tracks": len(track_ids),
        "strict": strict,
        "chunk_rows": chunk_rows,
        **total.to_dict(),
    }


def read_plays(path: str | Path) -> pd.DataFrame:
    """``plays.parquet`` -> frame ``user_id``, ``track_id`` (categorical), ``track_idx``, ``timestamp``.

    Ids stay dictionary codes (categoricals), so memory is a few bytes per play.
    """
    table = pq.read_table(path, columns=list(PLAYS_SCHEMA.names))
    plays = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    pa.default_memory_pool().release_unused()  # hand the Arrow copies back before the caller's work
    return plays
