"""The generic extraction loop, shards, the bad-audio policy, the registry and the two workflow scripts."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from musicrec.backbones import available_backbones, backbone_class, load_backbone
from musicrec.backbones.mfcc import MfccBackbone
from musicrec.backbones.random_baseline import RandomBackbone
from musicrec.extraction import (
    NON_FINITE_REASON,
    BadAudioError,
    TooMuchBadAudioError,
    apply_bad_audio_policy,
    extract,
    merge_shard_metadata,
    merge_shards,
    shard_slice,
)

REPO = Path(__file__).resolve().parents[2]
RATE = 22050


class RecordingMfcc(MfccBackbone):
    """The real MFCC backbone, remembering the shape of every batch it was given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_shapes = []

    def embed(self, audio, rows):
        self.batch_shapes.append(audio.shape)
        return super().embed(audio, rows)


def write_tone(path: Path, seconds: float, frequency: float) -> str:
    t = np.arange(int(seconds * RATE)) / RATE
    samples = 0.5 * np.sin(2 * np.pi * frequency * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    soundfile.write(path, samples.astype(np.float32), RATE, subtype="FLOAT")
    return str(path)


@pytest.fixture
def audio_files(tmp_path):
    """Seven files: five tones of three lengths, one missing, one silent (rows 2 and 5)."""
    lengths = [1.5, 2.0, None, 1.5, 2.5, "silent", 2.0]
    paths = []
    for i, length in enumerate(lengths):
        path = tmp_path / f"track{i}.wav"
        if length == "silent":
            soundfile.write(path, np.zeros(RATE * 2, dtype=np.float32), RATE)
        elif length is not None:
            write_tone(path, length, 200.0 + 90 * i)
        paths.append(str(path))
    return paths


def test_batches_hold_equal_length_clips_and_match_one_by_one(audio_files):
    backbone = RecordingMfcc("mfcc", {"n_mfcc": 13})
    embeddings, failures = extract(
        backbone, audio_files, rows=np.arange(100, 107), batch_size=2, workers=3, progress=False
    )
    assert embeddings.shape == (7, 26) and embeddings.dtype == np.float32
    assert all(len(shape) == 2 and shape[0] <= 2 for shape in backbone.batch_shapes)
    assert sorted(shape[1] for shape in backbone.batch_shapes) == sorted(
        [int(1.5 * RATE), int(2.0 * RATE), int(2.5 * RATE)]
    )
    assert failures["row"].tolist() == [102, 105]
    assert failures["reason"].tolist()[0] == "missing file" and failures["reason"].tolist()[1].startswith("silent")
    assert failures["audio_path"].tolist() == [audio_files[2], audio_files[5]]

    one_by_one, _ = extract(MfccBackbone("mfcc", {"n_mfcc": 13}), audio_files, batch_size=1, workers=0, progress=False)
    np.testing.assert_allclose(embeddings, one_by_one, rtol=1e-5, atol=1e-4)
    assert np.isnan(embeddings[[2, 5]]).all() and np.isfinite(np.delete(embeddings, [2, 5], axis=0)).all()


def test_many_distinct_lengths_are_flushed_early(tmp_path):
    paths = [write_tone(tmp_path / f"t{i}.wav", 1.0 + 0.05 * i, 300.0) for i in range(12)]
    backbone = RecordingMfcc("mfcc", {"n_mfcc": 8})
    embeddings, failures = extract(backbone, paths, batch_size=2, workers=2, progress=False)
    assert failures.empty and np.isfinite(embeddings).all()
    assert len(backbone.batch_shapes) == 12  # every length is unique: one clip per batch, none lost
    assert len(set(map(tuple, embeddings.round(3)))) == 12


def test_seconds_crop_makes_lengths_equal(audio_files):
    backbone = RecordingMfcc("mfcc", {"n_mfcc": 8, "seconds": 1.2})
    extract(backbone, audio_files, batch_size=5, progress=False)
    assert backbone.batch_shapes == [(5, round(1.2 * RATE))]


class PoisonedRandom(RandomBackbone):
    """The random baseline, except that row 3 comes back as NaN, like a model overflowing on one clip."""

    def embed(self, audio, rows):
        vectors = super().embed(audio, rows)
        vectors[rows == 3] = np.nan
        return vectors


def test_non_finite_embeddings_become_failures():
    embeddings, failures = extract(
        PoisonedRandom("random", {"seed": 1, "dim": 4}), ["a", "b", "c", "d", "e"], progress=False
    )
    assert failures["row"].tolist() == [3] and failures["reason"].tolist() == [NON_FINITE_REASON]
    assert np.isnan(embeddings[3]).all() and np.isfinite(np.delete(embeddings, 3, axis=0)).all()


class WrongShape(RandomBackbone):
    def embed(self, audio, rows):
        return super().embed(audio, rows)[:, :3]


def test_a_wrong_output_shape_stops_the_loop():
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\), expected \(2, 4\)"):
        extract(WrongShape("random", {"seed": 1, "dim": 4}), ["a", "b"], progress=False)


class TwoLayerRandom(RandomBackbone):
    """Multi-layer output: the random vector of each row, split into two 'layers'."""

    @property
    def output_shape(self):
        return (2, self.dim // 2)

    def embed(self, audio, rows):
        return super().embed(audio, rows).reshape(len(rows), 2, self.dim // 2)


def test_multi_layer_embeddings_keep_their_layer_axis():
    backbone = TwoLayerRandom("random_layers", {"plugin": "random", "seed": 2, "dim": 6})
    embeddings, _ = extract(backbone, ["a", "b", "c"], progress=False)
    assert embeddings.shape == (3, 2, 3)
    assert backbone.describe()["output_shape"] == [2, 3] and backbone.describe()["dim"] == 3
    np.testing.assert_array_equal(merge_shards([embeddings[:1], embeddings[1:]], 3), embeddings)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"seconds": -1}, "seconds"),
        ({"seconds": "30"}, "seconds"),
        ({"workers": -1}, "workers"),
        ({"device": "tpu"}, "device"),
        ({"precision": "fp16"}, "precision"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"seed": -3}, "seed"),
    ],
)
def test_common_options_are_validated(options, key):
    with pytest.raises(ValueError, match=f"backbone 'mfcc' \\(plug-in 'mfcc'\\): option '{key}'"):
        load_backbone("mfcc", options)


def test_common_options_reach_the_backbone():
    backbone = load_backbone(
        "mfcc", {"seconds": 10, "batch_size": 3, "workers": 0, "device": "cpu", "precision": "fp32", "shards": 4}
    )
    assert backbone.settings.seconds == 10.0 and backbone.settings.batch_size == 3 and backbone.settings.workers == 0
    assert backbone.precision == "fp32" and backbone.describe()["seconds"] == 10.0


@pytest.mark.parametrize("n_tracks, n_shards", [(10, 3), (7, 7), (2, 4), (0, 2), (56512, 8)])
def test_shards_tile_the_track_list(n_tracks, n_shards):
    slices = [shard_slice(n_tracks, n_shards, i) for i in range(n_shards)]
    assert slices[0].start == 0 and slices[-1].stop == n_tracks
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))
    sizes = [s.stop - s.start for s in slices]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_shard_index_out_of_range():
    with pytest.raises(ValueError, match="shard 3 of 3"):
        shard_slice(10, 3, 3)


def test_merge_shards_checks_shapes_and_total():
    a, b = np.zeros((3, 4), np.float32), np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(merge_shards([a, b], 5), np.r_[a, b])
    with pytest.raises(ValueError, match="per-track shape"):
        merge_shards([a, np.ones((2, 5), np.float32)])
    with pytest.raises(ValueError, match="catalogue has 6 tracks"):
        merge_shards([a, b], 6)
    with pytest.raises(ValueError, match="float32"):
        merge_shards([a, b.astype(np.float64)])


def test_shard_metadata_must_agree_and_tile():
    describe = {"backbone": "mfcc", "dim": 104}
    metas = [{"describe": describe, "rows": [0, 4]}, {"describe": describe, "rows": [4, 7]}]
    assert merge_shard_metadata(metas, 7) == describe
    with pytest.raises(ValueError, match="starts at row 5"):
        merge_shard_metadata([metas[0], {"describe": describe, "rows": [5, 7]}], 7)
    with pytest.raises(ValueError, match=r"different settings than shard 0: \['dim'\]"):
        merge_shard_metadata([metas[0], {"describe": {**describe, "dim": 52}, "rows": [4, 7]}], 7)
    with pytest.raises(ValueError, match="catalogue has 8 tracks"):
        merge_shard_metadata(metas, 8)


def test_fail_policy_names_tracks_and_reasons():
    failures = pd.DataFrame(
        {"track_idx": [4, 9], "track_id": ["t04", "t09"], "reason": ["missing file", "silent: peak 0"]}
    )
    apply_bad_audio_policy(failures, "skip", "musicnn")
    apply_bad_audio_policy(failures.iloc[:0], "fail", "musicnn")
    with pytest.raises(BadAudioError, match="2 track") as error:
        apply_bad_audio_policy(failures, "fail", "musicnn")
    assert "t04: missing file" in str(error.value) and "t09: silent" in str(error.value)
    with pytest.raises(ValueError, match="on_bad_audio"):
        apply_bad_audio_policy(failures, "ignore", "musicnn")


def test_registry():
    assert {"musicnn", "mfcc", "random"} <= set(available_backbones())
    assert backbone_class("mfcc") is MfccBackbone
    with pytest.raises(ValueError, match="unknown backbone plug-in 'mert2'"):
        load_backbone("mert2", {})
    with pytest.raises(ValueError, match=r"backbone 'rand' \(plug-in 'random'\): unknown option\(s\) \['dims'\]"):
        load_backbone("rand", {"plugin": "random", "seed": 1, "dims": 3})


def test_registry_imports_no_framework_until_a_plugin_is_used():
    code = (
        "import sys; from musicrec.backbones import available_backbones, load_backbone; available_backbones(); "
        "load_backbone('random', {'seed': 1}); load_backbone('mfcc', {}); "
        "print(sorted(m for m in ('tensorflow', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---- the workflow scripts, run in-process with the object Snakemake would inject ----


class Namedlist(list):
    """A list whose items are also attributes, like Snakemake's input/output/log."""

    def __init__(self, **items):
        super().__init__(items.values())
        self.__dict__.update(items)


def run_script(name: str, monkeypatch, **sections):
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the script redirects stderr to its log; restore it afterwards
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # and installs a console hook
    snakemake = type("Snakemake", (), {"threads": 2, **sections})()
    runpy.run_path(str(REPO / "workflow" / "scripts" / name), init_globals={"snakemake": snakemake})


@pytest.fixture
def catalogue(tmp_path, audio_files):
    path = tmp_path / "catalogue.parquet"
    pd.DataFrame({"track_id": [f"id{i:02d}" for i in range(7)], "audio_path": audio_files}).to_parquet(path)
    return str(path)


def extract_shards(tmp_path, monkeypatch, catalogue, options, policy, n_shards=2, max_bad_fraction=0.5):
    outputs = []
    for shard in range(n_shards):
        out = {k: str(tmp_path / f"shard-{shard}.{k}") for k in ("npy", "failed.tsv", "json", "log")}
        run_script(
            "extract_embeddings.py",
            monkeypatch,
            input=Namedlist(catalogue=catalogue),
            output=Namedlist(embeddings=out["npy"], failures=out["failed.tsv"], meta=out["json"]),
            params=Namedlist(
                backbone="mfcc_small",
                options=options,
                shard=shard,
                shards=n_shards,
                on_bad_audio=policy,
                max_bad_fraction=max_bad_fraction,
                seed=5,
            ),
            log=Namedlist(log=out["log"]),
        )
        outputs.append(out)
    return outputs


def test_scripts_extract_shards_and_merge_them(tmp_path, monkeypatch, catalogue, audio_files):
    options = {"plugin": "mfcc", "n_mfcc": 13, "shards": 2, "workers": 1}
    shards = extract_shards(tmp_path, monkeypatch, catalogue, options, "skip")
    merged = {k: str(tmp_path / f"merged.{k}") for k in ("npy", "json", "failed.tsv", "log")}
    run_script(
        "merge_shards.py",
        monkeypatch,
        input=Namedlist(
            catalogue=catalogue,
            shards=[s["npy"] for s in shards],
            failures=[s["failed.tsv"] for s in shards],
            metas=[s["json"] for s in shards],
        ),
        output=Namedlist(embeddings=merged["npy"], sidecar=merged["json"], failures=merged["failed.tsv"]),
        params=Namedlist(backbone="mfcc_small"),
        log=Namedlist(log=merged["log"]),
    )
    matrix = np.load(merged["npy"])
    expected, _ = extract(load_backbone("mfcc_small", options), audio_files, progress=False)
    np.testing.assert_allclose(matrix, expected, rtol=1e-5, atol=1e-4)
    assert np.isnan(matrix[[2, 5]]).all()

    failures = pd.read_csv(merged["failed.tsv"], sep="\t")
    assert list(failures.columns) == ["track_idx", "track_id", "reason", "audio_path"]
    assert failures["track_idx"].tolist() == [2, 5] and failures["track_id"].tolist() == ["id02", "id05"]
    assert failures["audio_path"].tolist() == [audio_files[2], audio_files[5]]
    sidecar = json.loads(Path(merged["json"]).read_text())
    assert sidecar["backbone"] == "mfcc_small" and sidecar["plugin"] == "mfcc"
    assert sidecar["dim"] == 26 and sidecar["n_tracks"] == 7 and sidecar["n_failed"] == 2 and sidecar["shards"] == 2
    assert sidecar["sample_rate"] == RATE and sidecar["seconds"] == 30.0 and sidecar["on_bad_audio"] == "skip"
    assert not list(tmp_path.glob(".tmp-*"))


def test_fail_policy_stops_the_shard_and_logs_the_table(tmp_path, monkeypatch, catalogue):
    with pytest.raises(BadAudioError, match="id02: missing file"):
        extract_shards(tmp_path, monkeypatch, catalogue, {"plugin": "mfcc", "n_mfcc": 13}, "fail", n_shards=1)
    log = (tmp_path / "shard-0.log").read_text()
    assert "id02" in log and "id05" in log and "silent" in log
    assert not (tmp_path / "shard-0.npy").exists()


# ---- a misconfigured audio folder stops early, naming the folder; reasons reach the console ----


def test_too_much_bad_audio_stops_early_naming_the_folder(tmp_path, audio_files):
    wrong_folder = tmp_path / "not-the-audio"
    paths = [str(wrong_folder / Path(path).name) for path in audio_files]
    backbone = RecordingMfcc("mfcc", {"n_mfcc": 13})
    with pytest.raises(TooMuchBadAudioError) as error:
        extract(backbone, paths, workers=0, max_bad_fraction=0.5, progress=False)
    message = str(error.value)
    assert "4 of 7 tracks failed" in message and "max_bad_fraction = 0.5 allows (3)" in message
    assert f"4 of the failed files are in the audio folder {wrong_folder}" in message
    assert "4 x 'missing file'" in message
    assert backbone.batch_shapes == []  # stopped after the 4th of 7 files, before anything was embedded
    # Under the threshold the bad files stay NaN rows, as before.
    embeddings, failures = extract(backbone, audio_files, workers=0, max_bad_fraction=0.5, progress=False)
    assert failures["row"].tolist() == [2, 5] and np.isnan(embeddings[[2, 5]]).all()


def test_the_extraction_job_stops_above_the_bad_fraction_with_skip(tmp_path, monkeypatch, audio_files):
    catalogue = tmp_path / "wrong.parquet"
    missing = [str(tmp_path / "elsewhere" / Path(path).name) for path in audio_files]
    pd.DataFrame({"track_id": [f"id{i:02d}" for i in range(7)], "audio_path": missing}).to_parquet(catalogue)
    with pytest.raises(BadAudioError, match=f"failed.*audio folder {tmp_path / 'elsewhere'}"):
        extract_shards(tmp_path, monkeypatch, str(catalogue), {"plugin": "mfcc", "n_mfcc": 13}, "skip", n_shards=1)
    assert not (tmp_path / "shard-0.npy").exists()


def test_offset_moves_the_window_and_is_in_the_description(tmp_path):
    t = np.arange(4 * RATE) / RATE
    first_half = 0.5 * np.sin(2 * np.pi * 220 * t[: 2 * RATE])
    second_half = 0.5 * np.sign(np.sin(2 * np.pi * 1500 * t[2 * RATE :]))
    path = tmp_path / "two-parts.wav"
    soundfile.write(path, np.r_[first_half, second_half].astype(np.float32), RATE, subtype="FLOAT")
    start = load_backbone("mfcc", {"seconds": 1.5})
    middle = load_backbone("mfcc", {"seconds": 1.5, "offset": "50%"})
    late = load_backbone("mfcc", {"seconds": 1.5, "offset": 2})
    (from_start,), _ = extract(start, [str(path)], workers=0, progress=False)
    (from_middle,), _ = extract(middle, [str(path)], workers=0, progress=False)
    (from_late,), _ = extract(late, [str(path)], workers=0, progress=False)
    assert not np.allclose(from_start, from_middle)
    np.testing.assert_array_equal(from_middle, from_late)  # 50 % of 4 s is 2 s
    assert start.describe()["offset"] == 0.0 and start.describe()["crop"] == "first `seconds` of each file"
    assert middle.describe()["offset"] == "50%" and "from 50% into each file" in middle.describe()["crop"]
    with pytest.raises(ValueError, match=r"backbone 'mfcc': option 'offset' = '50'"):
        load_backbone("mfcc", {"offset": "50"})
