"""Reading and writing the artefacts that flow between rules: the one atomic writer.

Every script output goes through :func:`atomic_path` (directly or via the ``write_*``
helpers): the file is written under a temporary name beside its target and renamed onto
it only when complete, so a job killed at any instant (SLURM time limit, preemption,
SIGKILL) never leaves a truncated file that looks finished, and a failed write leaves
the previous file, if any, untouched.

Embeddings are an ``.npy`` matrix plus a JSON sidecar; :func:`read_embedding` checks the
pair against each other and against the sidecar contract (see ``paths.EMBEDDING``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class ArtefactError(ValueError):
    """An artefact on disk breaks its contract; the message names the file and the fix."""


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name ends with ``path``'s own name, so writers that add an extension
    when it is missing (``np.save``) leave it alone. On an exception the temporary file
    is removed and ``path`` is left as it was. Parent folders are created.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = str(target.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{target.name}"))
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(temporary_path)`` and move the result onto ``path`` (see :func:`atomic_path`)."""
    with atomic_path(path) as temporary:
        write(temporary)


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text)


def write_json(content: Any, path: str | os.PathLike) -> None:
    """Indented JSON; numpy scalars and paths are written as plain values."""
    write_text(json.dumps(content, indent=2, default=_plain) + "\n", path)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """``frame`` without its index; categoricals stay dictionary-encoded."""
    write_atomic(path, lambda temporary: frame.to_parquet(temporary, index=False))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, **options: Any) -> None:
    write_atomic(path, lambda temporary: frame.to_csv(temporary, index=False, **options))


def write_npy(array: np.ndarray, path: str | os.PathLike) -> None:
    write_atomic(path, lambda temporary: np.save(temporary, array))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# ---- embeddings -------------------------------------------------------------------

SIDECAR_KINDS = ("extracted", "derived")


def read_sidecar(path: str | os.PathLike) -> dict:
    """An embedding's JSON sidecar, checked to be a JSON object."""
    try:
        content = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArtefactError(f"{path}: sidecar missing; every embedding needs its .json beside the .npy") from None
    except json.JSONDecodeError as error:
        raise ArtefactError(f"{path}: not valid JSON ({error}); re-run the rule that writes it") from error
    if not isinstance(content, dict):
        raise ArtefactError(f"{path}: expected a JSON object, got {type(content).__name__}")
    return content


def check_embedding(matrix: np.ndarray, sidecar: Mapping, n_tracks: int | None, source: str) -> None:
    """The (n_tracks, d) contract of ``embeddings/{embedding}.npy`` and its sidecar.

    Raises :class:`ArtefactError` naming ``source`` when the matrix is not 2-D float, its
    row count differs from ``n_tracks`` (rows of ``data/trackid_sorted.csv``) or from
    the sidecar's ``n_tracks``, or its width from the sidecar's ``dim``.
    """
    if matrix.ndim != 2:
        hint = " (a multi-layer extraction belongs under layers/; derive a 2-D embedding from it)" * (matrix.ndim == 3)
        raise ArtefactError(f"{source}: expected a (n_tracks, d) matrix, got shape {matrix.shape}{hint}")
    if not np.issubdtype(matrix.dtype, np.floating):
        raise ArtefactError(f"{source}: expected floating-point values, got {matrix.dtype}")
    if n_tracks is not None and matrix.shape[0] != n_tracks:
        raise ArtefactError(
            f"{source}: {matrix.shape[0]} rows but data/trackid_sorted.csv lists {n_tracks} tracks; row i must be "
            "track i: re-run the rule that writes this embedding"
        )
    for key, actual in (("n_tracks", matrix.shape[0]), ("dim", matrix.shape[1])):
        if key in sidecar and int(sidecar[key]) != actual:
            raise ArtefactError(
                f"{source}: sidecar says {key} = {sidecar[key]} but the matrix has {actual}; the two files come "
                "from different runs: re-run the rule that writes them"
            )


def read_embedding(
    npy: str | os.PathLike, sidecar: str | os.PathLike, n_tracks: int | None = None
) -> tuple[np.ndarray, dict]:
    """``(matrix, sidecar)`` of one embedding, checked by :func:`check_embedding`."""
    metadata = read_sidecar(sidecar)
    matrix = np.load(npy)
    check_embedding(matrix, metadata, n_tracks, str(npy))
    return matrix, metadata


def write_embedding(
    matrix: np.ndarray, sidecar: Mapping[str, Any], npy: str | os.PathLike, json_path: str | os.PathLike
) -> None:
    """Write an embedding and its sidecar; ``dim``, ``n_tracks`` and ``n_failed`` are filled in.

    ``sidecar`` must name the ``embedding`` and its ``kind`` (extracted | derived); a
    derived one names its ``source``. ``failures`` (rows left NaN, with reasons) defaults
    to none.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    content = dict(sidecar)
    for key in ("embedding", "kind"):
        if key not in content:
            raise ArtefactError(f"{json_path}: the sidecar must name its {key!r}")
    if content["kind"] not in SIDECAR_KINDS:
        raise ArtefactError(f"{json_path}: kind {content['kind']!r}; expected one of {SIDECAR_KINDS}")
    if content["kind"] == "derived" and not content.get("source"):
        raise ArtefactError(f"{json_path}: a derived embedding must name its 'source'")
    content.setdefault("failures", [])
    content.update(dim=int(matrix.shape[1]), n_tracks=int(matrix.shape[0]), n_failed=len(content["failures"]))
    check_embedding(matrix, content, None, str(npy))
    write_npy(matrix, npy)
    write_json(content, json_path)


def write_figure(figure: Any, path: str | os.PathLike, dpi: int = 150) -> None:
    """A matplotlib figure as PNG, atomically (the format is named: the temporary name ends in .png anyway)."""
    write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=dpi))
