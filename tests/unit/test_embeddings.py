"""Derived embeddings (standardise, one layer, layer mean, id table) and the embedding config checks."""

from __future__ import annotations

import numpy as np
import pytest

from musicrec.embeddings import (
    derived_embeddings,
    enabled_backbones,
    id_table,
    is_multi_layer,
    layer_index,
    layer_mean,
    select_layer,
    standardise,
)

LAYER_NAMES = ["timbral", "temporal", "cnn1", "penultimate"]


# --- standardise ----------------------------------------------------------------------


def test_standardise_gives_zero_mean_unit_sd_on_finite_rows_and_keeps_failed_rows_nan():
    rng = np.random.default_rng(0)
    matrix = rng.normal(loc=[300.0, -5.0, 0.0, 7.0], scale=[50.0, 0.1, 1.0, 0.0], size=(40, 4)).astype(np.float32)
    matrix[[3, 17]] = np.nan  # failed audio
    matrix[25, 2] = np.nan  # one NaN makes the whole row a failed row
    out = standardise(matrix)
    assert out.dtype == np.float32 and out.shape == matrix.shape
    finite = np.ones(40, dtype=bool)
    finite[[3, 17, 25]] = False
    assert np.isnan(out[~finite]).all()
    assert np.isfinite(out[finite]).all()
    np.testing.assert_allclose(out[finite][:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[finite][:, :3].std(axis=0), 1.0, rtol=1e-5)
    assert (out[finite][:, 3] == 0.0).all()  # a constant dimension carries nothing: 0, not 0/0
    # The statistics are those of the finite rows only (a failed row does not shift them).
    expected = (matrix[finite, 0] - matrix[finite, 0].astype(np.float64).mean()) / matrix[finite, 0].std()
    np.testing.assert_allclose(out[finite, 0], expected, rtol=1e-4, atol=1e-5)


def test_standardise_is_an_exact_function_of_its_input():
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3) ** 2
    np.testing.assert_array_equal(standardise(matrix), standardise(matrix.copy()))
    np.testing.assert_allclose(standardise(matrix * 10 + 3), standardise(matrix), atol=1e-6)  # affine-invariant


# --- layers ---------------------------------------------------------------------------


def test_layer_index_by_name_index_digits_and_negative():
    assert layer_index("temporal", LAYER_NAMES) == 1
    assert layer_index(2, LAYER_NAMES) == 2
    assert layer_index("2", LAYER_NAMES) == 2  # an index written as a string (a wildcard, a CLI value)
    assert layer_index(-1, LAYER_NAMES) == 3
    assert layer_index("-4", LAYER_NAMES) == 0


@pytest.mark.parametrize("layer", [4, -5, "7"])
def test_layer_index_out_of_range_names_the_layers(layer):
    with pytest.raises(ValueError, match=r"layer -?\d out of range: 4 layers extracted \(\['timbral', 'temporal'"):
        layer_index(layer, LAYER_NAMES)


def test_layer_index_unknown_name_names_the_layers():
    with pytest.raises(ValueError, match=r"layer 'cnn9' not among the extracted layers \['timbral'"):
        layer_index("cnn9", LAYER_NAMES)


def padded_layers(dims=(3, 5, 2), n_tracks=4, seed=0):
    """(n_tracks, n_layers, d_max) as the multi-layer extraction writes it: zero padding on the right."""
    rng = np.random.default_rng(seed)
    layers = np.zeros((n_tracks, len(dims), max(dims)), dtype=np.float32)
    for position, dim in enumerate(dims):
        layers[:, position, :dim] = rng.normal(size=(n_tracks, dim)) + 1.0
    return layers, list(dims)


def test_select_layer_cuts_the_padding():
    layers, dims = padded_layers()
    for index, dim in enumerate(dims):
        chosen = select_layer(layers, dims, index)
        assert chosen.shape == (4, dim) and chosen.dtype == np.float32 and chosen.flags.c_contiguous
        np.testing.assert_array_equal(chosen, layers[:, index, :dim])
        assert (chosen != 0).all()  # no padding column kept
    np.testing.assert_array_equal(select_layer(layers, dims, layer_index(-1, ["a", "b", "c"])), layers[:, 2, :2])


def test_layer_mean_of_equal_widths_and_refusal_of_mixed_widths():
    layers, dims = padded_layers(dims=(3, 3, 3))
    np.testing.assert_allclose(layer_mean(layers, dims), layers.mean(axis=1), rtol=1e-6)
    assert layer_mean(layers, dims).shape == (4, 3) and layer_mean(layers, dims).dtype == np.float32
    mixed, mixed_dims = padded_layers(dims=(3, 5, 2))
    with pytest.raises(ValueError, match=r"layers of different widths \[3, 5, 2\] have no plain mean"):
        layer_mean(mixed, mixed_dims)


# --- the id table -----------------------------------------------------------------------


def test_id_table_is_seeded_and_scaled():
    table = id_table(500, 64, seed=3)
    assert table.shape == (500, 64) and table.dtype == np.float32
    np.testing.assert_array_equal(table, id_table(500, 64, seed=3))
    assert not np.array_equal(table, id_table(500, 64, seed=4))
    # N(0, 1/dim): rows of about unit norm whatever the width.
    assert np.linalg.norm(table, axis=1).mean() == pytest.approx(1.0, abs=0.05)
    assert np.linalg.norm(id_table(500, 8, seed=3), axis=1).mean() == pytest.approx(1.0, abs=0.1)


# --- config checks --------------------------------------------------------------------

BACKBONES = {"musicnn": {"weights": "MSD_musicnn"}, "mfcc": {}, "mert": {"layer": "all"}, "jl": {"layer": [1, 2]}}


def test_is_multi_layer():
    assert is_multi_layer({"layer": "all"}) and is_multi_layer({"layer": [3, 6]})
    assert not is_multi_layer({}) and not is_multi_layer({"layer": 6}) and not is_multi_layer({"layer": "taggram"})


def test_derived_embeddings_accepts_every_kind():
    blocks = {
        "mfcc-z": {"derive": "standardise", "source": "mfcc"},
        "mfcc-z-z": {"derive": "standardise", "source": "mfcc-z"},  # a derived source is an embedding too
        "mert@6": {"derive": "layer", "source": "mert", "layer": 6},
        "jl-mean": {"derive": "layer_mean", "source": "jl"},
        "ids": {"derive": "ids", "dim": 32},
    }
    checked = derived_embeddings(blocks, BACKBONES)
    assert checked == blocks and checked is not blocks
    assert derived_embeddings(None, BACKBONES) == {}


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ({"mfcc": {"derive": "standardise", "source": "musicnn"}}, r"config embeddings.mfcc: the name is already"),
        ({"x": {"derive": "pca", "source": "mfcc"}}, r"config embeddings.x.derive: 'pca'; expected one of"),
        ({"x": {"source": "mfcc"}}, r"config embeddings.x.derive: None"),
        ({"x": {"derive": "standardise", "source": "mert"}}, r"config embeddings.x.source: 'mert' is not an embedding"),
        ({"x": {"derive": "standardise", "source": "x"}}, r"config embeddings.x.source: 'x' is not an embedding"),
        ({"x": {"derive": "standardise"}}, r"config embeddings.x.source: None is not an embedding"),
        (
            {"x": {"derive": "layer", "source": "musicnn", "layer": 2}},
            r"config embeddings.x.source: 'musicnn' is not an enabled multi-layer backbone.*\['jl', 'mert'\]",
        ),
        ({"x": {"derive": "layer_mean", "source": "nope"}}, r"config embeddings.x.source: 'nope' is not an enabled"),
        ({"x": {"derive": "layer", "source": "mert"}}, r"config embeddings.x: a layer embedding needs 'layer'"),
        ({"x": {"derive": "ids"}}, r"config embeddings.x.dim: None; the id table needs an integer width >= 1"),
        ({"x": {"derive": "ids", "dim": 0}}, r"config embeddings.x.dim: 0;"),
        ({"x": {"derive": "ids", "dim": "32"}}, r"config embeddings.x.dim: '32';"),
        ({"x": {"derive": "ids", "dim": 8.0}}, r"config embeddings.x.dim: 8.0;"),
        ({"x": {"derive": "ids", "dim": True}}, r"config embeddings.x.dim: True;"),
    ],
)
def test_derived_embedding_errors_name_the_key(blocks, message):
    with pytest.raises(ValueError, match=message):
        derived_embeddings(blocks, BACKBONES)


def test_enabled_backbones_fill_the_plugin_and_skip_disabled_ones():
    config = {
        "musicnn": {"weights": "MSD_musicnn"},
        "musicnn-big": {"plugin": "musicnn", "weights": "MTT_musicnn"},
        "mert": {"enabled": False},
    }
    blocks = enabled_backbones(config, ["musicnn", "mert", "mfcc"])
    assert blocks == {
        "musicnn": {"weights": "MSD_musicnn", "plugin": "musicnn"},
        "musicnn-big": {"plugin": "musicnn", "weights": "MTT_musicnn"},
    }
    assert config["musicnn"] == {"weights": "MSD_musicnn"} and "enabled" in config["mert"]  # input unchanged


def test_enabled_backbones_errors_name_the_key():
    with pytest.raises(ValueError, match=r"config extraction.backbones.wav2vec.plugin: unknown plug-in 'wav2vec'"):
        enabled_backbones({"wav2vec": {}}, ["musicnn"])
    with pytest.raises(ValueError, match=r"config extraction.backbones.x.plugin: unknown plug-in 'mertt'"):
        enabled_backbones({"x": {"plugin": "mertt"}}, ["mert"])
    with pytest.raises(ValueError, match="every backbone is disabled"):
        enabled_backbones({"musicnn": {"enabled": False}}, ["musicnn"])


def test_derived_sources_may_not_form_a_cycle():
    blocks = {"a": {"derive": "standardise", "source": "b"}, "b": {"derive": "standardise", "source": "a"}}
    with pytest.raises(ValueError, match=r"config embeddings.a.source: the sources form a cycle \(a -> b -> a\)"):
        derived_embeddings(blocks, BACKBONES)


def test_standardising_a_matrix_without_a_finite_row_is_an_error():
    with pytest.raises(ValueError, match="every row is NaN"):
        standardise(np.full((3, 2), np.nan))
