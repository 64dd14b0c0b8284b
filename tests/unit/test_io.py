"""The one atomic writer and the embedding contract."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from musicrec.io import ArtefactError, atomic_path, read_embedding, write_atomic, write_embedding, write_json


def test_atomic_write_leaves_old_file_and_no_temporary_on_failure(tmp_path):
    target = tmp_path / "report.json"
    write_json({"version": 1}, target)
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        with open(temporary, "w") as handle:
            handle.write('{"version": 2, "half')
        raise RuntimeError("job killed mid-write")
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not a private temp file's 0600


def test_write_atomic_keeps_the_extension_and_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "shard-0.npy"
    write_atomic(target, lambda path: np.save(path, np.arange(3)))
    np.testing.assert_array_equal(np.load(target), np.arange(3))

    def broken(path):
        Path(path).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(tmp_path / "other.npy", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-0.npy"]


def test_embedding_round_trip_fills_in_its_shape(tmp_path):
    matrix = np.arange(12, dtype=np.float64).reshape(4, 3)
    write_embedding(matrix, {"embedding": "x-z", "kind": "derived", "source": "x"}, tmp_path / "e.npy", tmp_path / "e.json")
    loaded, sidecar = read_embedding(tmp_path / "e.npy", tmp_path / "e.json", n_tracks=4)
    assert loaded.dtype == np.float32 and loaded.shape == (4, 3)
    assert sidecar["dim"] == 3 and sidecar["n_tracks"] == 4 and sidecar["n_failed"] == 0


def test_embedding_contract_names_the_file(tmp_path):
    with pytest.raises(ArtefactError, match="must name its 'source'"):
        write_embedding(np.ones((2, 2)), {"embedding": "d", "kind": "derived"}, tmp_path / "d.npy", tmp_path / "d.json")
    write_embedding(np.ones((3, 2)), {"embedding": "e", "kind": "extracted"}, tmp_path / "e.npy", tmp_path / "e.json")
    with pytest.raises(ArtefactError, match=r"e\.npy: 3 rows but data/trackid_sorted.csv lists 5"):
        read_embedding(tmp_path / "e.npy", tmp_path / "e.json", n_tracks=5)
    np.save(tmp_path / "layers.npy", np.ones((3, 2, 2), dtype=np.float32))
    with pytest.raises(ArtefactError, match="multi-layer extraction belongs under layers/"):
        read_embedding(tmp_path / "layers.npy", tmp_path / "e.json")
    with pytest.raises(ArtefactError, match="sidecar missing"):
        read_embedding(tmp_path / "e.npy", tmp_path / "missing.json")
