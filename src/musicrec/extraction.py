"""The one extraction loop every backbone runs through, and the shards it is split into.

:func:`extract` embeds a list of audio files with a :class:`~musicrec.backbones.base.Backbone`:

- worker threads decode and resample the files (:func:`musicrec.audio.load_clip`)
  ahead of the model, so it is not starved; soundfile and soxr release the GIL;
- decoded clips are grouped by exact length and a group goes to
  ``backbone.embed`` when it holds ``batch_size`` clips. No clip is ever padded,
  so a clip's embedding cannot depend on its batch mates, whatever the model
  does with padding (normalisation over time, attention, pooling). Clips are
  cropped to ``seconds``, so nearly all share one length and batches stay full;
  when too many lengths are waiting (more than ``4 * batch_size`` clips), the
  largest group is embedded early as a smaller batch to bound memory;
- a file that is bad audio, or whose embedding is not finite, leaves a NaN row
  and a line in the failure table; any other error stops the loop. So does a
  share of failures above ``max_bad_fraction`` (:class:`TooMuchBadAudioError`):
  when most files fail, the audio folder or the catalogue is wrong, and
  finishing the shard would only hand a matrix of NaN rows to the recommenders;
- backbones that need no audio (``needs_audio`` False, the random baseline) go
  through the same batching with ``audio=None`` and only the row indices.

Shards: a shard is a contiguous slice of the sorted track list
(:func:`shard_slice`); :func:`merge_shards` concatenates their matrices back.
:func:`merge_shard_metadata` checks that the shards were made alike and tile the
track list. What to do about bad audio is the caller's policy
(:func:`apply_bad_audio_policy`). Scripts write shard and merged outputs with
:mod:`musicrec.io`'s atomic writer.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

from musicrec.audio import BadAudio, load_clip
from musicrec.backbones.base import Backbone

FAILURE_COLUMNS = ["row", "audio_path", "reason"]
BAD_AUDIO_POLICIES = ("fail", "skip")
NON_FINITE_REASON = "the backbone returned non-finite values"


def extract(
    backbone: Backbone,
    audio_paths: Sequence[str],
    *,
    rows: Sequence[int] | None = None,
    seconds: float | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    max_bad_fraction: float | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Embed every file of ``audio_paths`` with ``backbone``.

    Args:
        backbone: a loaded backbone.
        audio_paths: ``n`` audio files.
        rows: the files' row indices in the full sorted track list (length
            ``n``); default ``0..n-1``. A shard passes its slice so that
            row-dependent backbones (random) and the failure table use global rows.
        seconds: crop length; default ``backbone.settings.seconds``.
        batch_size: clips per ``embed`` call; default ``backbone.settings.batch_size``.
        workers: decoding threads (0 decodes in the calling thread); default
            ``backbone.settings.workers``, else 1.
        max_bad_fraction: stop with :class:`TooMuchBadAudioError` as soon as
            more than this share of the ``n`` files has failed (None: never).
        progress: show a tqdm progress bar on stderr.

    Returns:
        ``(embeddings, failures)``: ``embeddings`` is ``(n, *backbone.output_shape)``
        float32 in the order of ``audio_paths``, all-NaN where a file failed;
        ``failures`` has one row per failed file, columns ``row`` (from
        ``rows``), ``audio_path``, ``reason``, sorted by ``row``.

    Raises:
        TooMuchBadAudioError: more than ``max_bad_fraction`` of the files failed;
            the message names the folder most failures are in and their reasons.
    """
    n_clips = len(audio_paths)
    rows = np.arange(n_clips, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.shape != (n_clips,):
        raise ValueError(f"rows has shape {rows.shape}; expected ({n_clips},), one per audio path")
    seconds = backbone.settings.seconds if seconds is None else seconds
    batch_size = backbone.settings.batch_size if batch_size is None else batch_size
    if workers is None:
        workers = backbone.settings.workers if backbone.settings.workers is not None else 1
    if batch_size < 1 or workers < 0:
        raise ValueError(f"batch_size must be >= 1 and workers >= 0, got {batch_size} and {workers}")
    if max_bad_fraction is not None and not 0 <= max_bad_fraction <= 1:
        raise ValueError(f"max_bad_fraction must be in [0, 1] or None, got {max_bad_fraction!r}")
    max_failures = n_clips if max_bad_fraction is None else math.floor(max_bad_fraction * n_clips)

    embeddings = np.full((n_clips, *backbone.output_shape), np.nan, dtype=np.float32)
    failures: list[tuple[int, str, str]] = []
    bar = tqdm(
        total=n_clips,
        desc=f"extract {backbone.name}",
        unit="clip",
        file=sys.stderr,
        disable=not progress,
        mininterval=5,
    )

    def fail(position: int, reason: str) -> None:
        failures.append((int(rows[position]), str(audio_paths[position]), reason))
        bar.update(1)
        if len(failures) > max_failures:
            raise TooMuchBadAudioError(too_much_bad_audio_message(backbone.name, failures, n_clips, max_bad_fraction))

    def embed(positions: list[int], audio: np.ndarray | None) -> None:
        result = np.asarray(backbone.embed(audio, rows[positions]), dtype=np.float32)
        expected = (len(positions), *backbone.output_shape)
        if result.shape != expected:
            raise RuntimeError(f"backbone {backbone.name!r}: embed returned shape {result.shape}, expected {expected}")
        for position, vector in zip(positions, result):
            if np.isfinite(vector).all():
                embeddings[position] = vector
                bar.update(1)
            else:
                fail(position, NON_FINITE_REASON)

    try:
        if backbone.needs_audio:
            load = _clip_loader(backbone, seconds)
            decoded = _decode_in_order(load, audio_paths, workers, window=2 * batch_size)
            with contextlib.closing(decoded):  # stops the decoding threads if embedding fails
                _embed_equal_length_batches(decoded, batch_size, embed, fail)
        else:
            for start in range(0, n_clips, batch_size):
                embed(list(range(start, min(start + batch_size, n_clips))), None)
    finally:
        bar.close()
    return embeddings, _failure_table(failures)


def _clip_loader(backbone: Backbone, seconds: float) -> Callable[[str], np.ndarray]:
    offset = backbone.settings.offset  # one crop window for every backbone, set by its common option

    def load(path: str) -> np.ndarray:
        return load_clip(path, backbone.sample_rate, seconds, min_seconds=backbone.min_seconds, offset=offset)

    return load


def _embed_equal_length_batches(
    decoded: Iterator[tuple[int, np.ndarray | BadAudio]],
    batch_size: int,
    embed: Callable[[list[int], np.ndarray], None],
    fail: Callable[[int, str], None],
) -> None:
    """Group decoded clips by length; embed a group when full, the largest early when too many wait."""
    waiting: dict[int, list[tuple[int, np.ndarray]]] = collections.defaultdict(list)
    n_waiting, max_waiting = 0, 4 * batch_size

    def flush(length: int) -> None:
        nonlocal n_waiting
        group = waiting.pop(length)
        n_waiting -= len(group)
        embed([position for position, _ in group], np.stack([clip for _, clip in group]))

    for position, clip in decoded:
        if isinstance(clip, BadAudio):
            fail(position, clip.reason)
            continue
        waiting[len(clip)].append((position, clip))
        n_waiting += 1
        if len(waiting[len(clip)]) == batch_size:
            flush(len(clip))
        elif n_waiting > max_waiting:
            flush(max(waiting, key=lambda length: len(waiting[length])))
    for length in list(waiting):
        flush(length)


def _decode_in_order(
    load: Callable[[str], np.ndarray], paths: Sequence[str], workers: int, window: int
) -> Iterator[tuple[int, np.ndarray | BadAudio]]:
    """Yield ``(position, clip or BadAudio)`` in input order; ``workers`` threads decode up to ``window`` files ahead."""

    def attempt(path: str) -> np.ndarray | BadAudio:
        try:
            return load(path)
        except BadAudio as bad:
            return bad

    if workers == 0:
        for position, path in enumerate(paths):
            yield position, attempt(path)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    try:
        upcoming = iter(enumerate(paths))
        pending = collections.deque(
            (position, pool.submit(attempt, path))
            for position, path in itertools.islice(upcoming, max(window, workers))
        )
        while pending:
            position, future = pending.popleft()
            for next_position, next_path in itertools.islice(upcoming, 1):
                pending.append((next_position, pool.submit(attempt, next_path)))
            yield position, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def too_much_bad_audio_message(
    backbone: str, failures: Sequence[tuple[int, str, str]], n_tracks: int, max_bad_fraction: float, shown: int = 5
) -> str:
    """Why extraction stopped early: how many failed, in which folder, with which reasons.

    ``failures`` are ``(row, audio_path, reason)``; the folder named is the one
    holding most failed files, since a wrong audio folder is the usual cause.
    """
    folders = collections.Counter(os.path.dirname(os.path.abspath(path)) for _, path, _ in failures)
    folder, in_folder = folders.most_common(1)[0]
    reasons = collections.Counter(reason for _, _, reason in failures).most_common(3)
    listed = "\n".join(f"  {path}: {reason}" for _, path, reason in failures[:shown])
    return (
        f"backbone {backbone!r}: {len(failures)} of {n_tracks} tracks failed, more than "
        f"extraction.max_bad_fraction = {max_bad_fraction:g} allows ({math.floor(max_bad_fraction * n_tracks)}); "
        f"stopped early. {in_folder} of the failed files are in the audio folder {folder}; reasons: "
        + ", ".join(f"{count} x {reason!r}" for reason, count in reasons)
        + ". Check the audio folder in the config (dataset.music4all.root, audio_dir) and that the "
        f"catalogue's audio paths point at existing audio files. First failures:\n{listed}"
    )


def _failure_table(failures: list[tuple[int, str, str]]) -> pd.DataFrame:
    table = pd.DataFrame(failures, columns=FAILURE_COLUMNS).astype(
        {"row": "int64", "audio_path": "str", "reason": "str"}
    )
    return table.sort_values("row", kind="stable").reset_index(drop=True)


def shard_slice(n_tracks: int, n_shards: int, shard: int) -> slice:
    """Rows of shard ``shard`` (0-based) of ``n_shards``: contiguous, sizes differing by at most one, in order.

    The first ``n_tracks % n_shards`` shards get one extra row; shards past the
    end of a short list are empty.
    """
    if n_tracks < 0 or n_shards < 1 or not 0 <= shard < n_shards:
        raise ValueError(
            f"shard {shard} of {n_shards} over {n_tracks} tracks: "
            "need n_tracks >= 0, n_shards >= 1, 0 <= shard < n_shards"
        )
    base, extra = divmod(n_tracks, n_shards)
    start = shard * base + min(shard, extra)
    return slice(start, start + base + (shard < extra))


def merge_shards(shards: Sequence[np.ndarray], n_tracks: int | None = None) -> np.ndarray:
    """Concatenate shard matrices, in shard order, into one ``(n_tracks, *shape)`` float32 matrix.

    Raises:
        ValueError: no shards; a shard that is not float32 or not at least 2-D;
            shards whose per-track shapes differ; a total that is not ``n_tracks``.
    """
    if not shards:
        raise ValueError("no shards to merge")
    for i, shard in enumerate(shards):
        if shard.dtype != np.float32 or shard.ndim < 2:
            raise ValueError(
                f"shard {i} is {shard.dtype} of shape {shard.shape}; "
                "expected float32 of shape (rows, d) or (rows, layers, d)"
            )
        if shard.shape[1:] != shards[0].shape[1:]:
            raise ValueError(f"shard {i} has per-track shape {shard.shape[1:]}, shard 0 has {shards[0].shape[1:]}")
    total = sum(len(shard) for shard in shards)
    if n_tracks is not None and total != n_tracks:
        sizes = [len(shard) for shard in shards]
        raise ValueError(f"shards hold {total} rows ({sizes}); the catalogue has {n_tracks} tracks")
    return np.concatenate(shards, axis=0)


def apply_bad_audio_policy(failures: pd.DataFrame, policy: str, backbone: str, shown: int = 20) -> None:
    """Enforce ``on_bad_audio``: ``skip`` accepts failures, ``fail`` raises naming the failed tracks.

    Args:
        failures: a failure table with at least the columns ``reason`` and
            ``track_id`` or ``audio_path`` (whichever names the track best).
        policy: ``"fail"`` or ``"skip"``.
        backbone: named in the error.
        shown: how many failures the error message lists (all go to the log).

    Raises:
        BadAudioError: policy ``fail`` and at least one failure.
    """
    if policy not in BAD_AUDIO_POLICIES:
        raise ValueError(f"on_bad_audio = {policy!r}; expected one of {BAD_AUDIO_POLICIES}")
    if policy == "skip" or failures.empty:
        return
    label = "track_id" if "track_id" in failures.columns else "audio_path"
    listed = "\n".join(f"  {row[label]}: {row['reason']}" for _, row in failures.head(shown).iterrows())
    more = f"\n  ... and {len(failures) - shown} more" if len(failures) > shown else ""
    raise BadAudioError(
        f"backbone {backbone!r}: {len(failures)} track(s) could not be embedded and on_bad_audio is 'fail' "
        f"(set it to 'skip' to keep them as NaN rows):\n{listed}{more}"
    )


def merge_shard_metadata(metas: Sequence[Mapping[str, Any]], n_tracks: int) -> dict[str, Any]:
    """Check that shard descriptions agree and tile ``0..n_tracks``; return the shared description.

    Args:
        metas: per shard, in order, ``{"describe": backbone.describe(), "rows": [start, stop], ...}``.
        n_tracks: rows of the full track list.

    Raises:
        ValueError: shards made with different settings, or rows that leave gaps or overlap.
    """
    if not metas:
        raise ValueError("no shard metadata to merge")
    first = metas[0]["describe"]
    expected_start = 0
    for i, meta in enumerate(metas):
        if meta["describe"] != first:
            differing = sorted(
                key for key in set(first) | set(meta["describe"]) if first.get(key) != meta["describe"].get(key)
            )
            raise ValueError(f"shard {i} was extracted with different settings than shard 0: {differing}")
        start, stop = meta["rows"]
        if start != expected_start:
            raise ValueError(
                f"shard {i} starts at row {start}; expected {expected_start} (shards must be contiguous, in order)"
            )
        expected_start = stop
    if expected_start != n_tracks:
        raise ValueError(f"shards cover rows 0..{expected_start}; the catalogue has {n_tracks} tracks")
    return dict(first)


class BadAudioError(RuntimeError):
    """Extraction met bad audio while the policy is ``on_bad_audio: fail``."""


class TooMuchBadAudioError(BadAudioError):
    """More than ``max_bad_fraction`` of a job's files failed, whatever the policy: a misconfigured audio folder."""


# Multi-layer extraction -------------------------------------------------------------
# A backbone block whose `layer` is "all" or a list (musicrec.embeddings.is_multi_layer) embeds
# every track as (n_layers, d_max): the layers artefact (paths.LAYERS), extract-only; layer
# choices and fusions of it are derived embeddings (musicrec.embeddings.select_layer, ...).


def layer_layout(description: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """``(layer_names, layer_dims)`` of a multi-layer extraction, from its ``backbone.describe()``.

    A plug-in whose layers differ in width reports ``layer_names`` and
    ``layer_dims`` itself (MusicNN); for one whose layers share a width
    (MERT, Whisper) the names default to its ``layer`` indices as strings and
    every width to ``d_max``.

    Raises:
        ValueError: the description is not of a multi-layer extraction, or its
            names/widths do not fit ``output_shape = (n_layers, d_max)``.
    """
    backbone = description.get("backbone")
    shape = list(description.get("output_shape", []))
    if len(shape) != 2:
        raise ValueError(
            f"backbone {backbone!r}: output_shape {shape} is not (n_layers, d_max); "
            "only a block with `layer: all` or a list of layers is a multi-layer extraction"
        )
    n_layers, d_max = shape
    names = description.get("layer_names")
    if names is None:
        layer = description.get("layer")
        names = [str(index) for index in layer] if isinstance(layer, (list, tuple)) else None
    dims = description.get("layer_dims", [d_max] * n_layers)
    if names is None or len(names) != n_layers or len(set(names)) != n_layers:
        raise ValueError(
            f"backbone {backbone!r}: layer_names {names} must be {n_layers} distinct names, one per layer"
        )
    if len(dims) != n_layers or any(not 1 <= dim <= d_max for dim in dims) or max(dims) != d_max:
        raise ValueError(
            f"backbone {backbone!r}: layer_dims {dims} must be {n_layers} widths in 1..{d_max}, the widest {d_max}"
        )
    return [str(name) for name in names], [int(dim) for dim in dims]


def check_layer_padding(layers: np.ndarray, layer_dims: Sequence[int], backbone: str) -> None:
    """Raise ValueError unless ``layers`` (n_tracks, n_layers, d_max) is zero right of each layer's width.

    Failed rows (all NaN) are exempt. A non-zero value in the padding means a
    shard was made with another layout, or a plug-in that pads wrongly.
    """
    if layers.ndim != 3 or layers.shape[1] != len(layer_dims):
        raise ValueError(
            f"backbone {backbone!r}: layers of shape {layers.shape}; expected (n_tracks, {len(layer_dims)}, d_max)"
        )
    finite = ~np.isnan(layers).all(axis=(1, 2))
    for index, dim in enumerate(layer_dims):
        padding = layers[finite, index, dim:]
        if padding.size and np.any(padding != 0):
            row = int(np.flatnonzero(finite)[np.flatnonzero((padding != 0).any(axis=1))[0]])
            raise ValueError(
                f"backbone {backbone!r}: layer {index} is {dim} wide, but row {row} has non-zero values "
                f"in its padding (columns {dim}..{layers.shape[2] - 1})"
            )


def describe_merged(description: Mapping[str, Any], merged: np.ndarray) -> dict[str, Any]:
    """The sidecar fields that describe a merged extraction ``merged`` made as ``description`` says.

    For a multi-layer extraction (``merged`` is (n_tracks, n_layers, d_max))
    this adds ``layer_names``, ``layer_dims`` (:func:`layer_layout`) and
    ``n_layers`` to ``description``, after checking the shape and that the
    padding is zero (:func:`check_layer_padding`); for a (n_tracks, d)
    embedding it returns ``description`` unchanged. The caller adds the track
    and failure fields (``n_tracks``, ``n_failed``, ``failures``, ...).
    """
    backbone = str(description.get("backbone"))
    expected = tuple(description.get("output_shape", ()))
    if tuple(merged.shape[1:]) != expected:
        raise ValueError(
            f"backbone {backbone!r}: merged matrix of per-track shape {merged.shape[1:]}, "
            f"but the plug-in described {expected}"
        )
    if merged.ndim == 2:
        return dict(description)
    names, dims = layer_layout(description)
    check_layer_padding(merged, dims, backbone)
    return {**description, "layer_names": names, "layer_dims": dims, "n_layers": len(names)}
