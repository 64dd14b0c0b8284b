"""The layers artefact: which blocks are multi-layer, where they go, and the sidecar's layer layout."""

import numpy as np
import pytest

from musicrec import paths
from musicrec.extraction import (
    check_layer_padding,
    describe_merged,
    is_multi_layer,
    layer_layout,
    merged_outputs,
    unpad_layer,
)


def padded_layers(n_tracks=4, dims=(3, 5, 2), seed=0):
    rng = np.random.default_rng(seed)
    stacked = np.zeros((n_tracks, len(dims), max(dims)), dtype=np.float32)
    for index, dim in enumerate(dims):
        stacked[:, index, :dim] = rng.normal(size=(n_tracks, dim))
    return stacked


def description(**fields):
    return {"backbone": "demo", "output_shape": [3, 5], "layer": ["a", "b", "c"], **fields}


@pytest.mark.parametrize(
    "block, multi",
    [
        ({"layer": "all"}, True),
        ({"layer": [0, 3]}, True),
        ({"layer": -1}, False),
        ({}, False),
        ({"layer": "cnn1"}, False),
    ],
)
def test_all_or_a_list_of_layers_is_a_multi_layer_block(block, multi):
    assert is_multi_layer(block) is multi


def test_multi_layer_blocks_go_to_layers_never_to_embeddings():
    assert merged_outputs("musicnn_layers", {"layer": "all"}) == {
        "matrix": paths.fill(paths.LAYERS, backbone="musicnn_layers"),
        "sidecar": paths.fill(paths.LAYERS_SIDECAR, backbone="musicnn_layers"),
        "failures": paths.fill(paths.LAYERS_FAILURES, backbone="musicnn_layers"),
    }
    single = merged_outputs("musicnn", {"layer": "penultimate"})
    assert single["matrix"].startswith("embeddings/") and single["matrix"].endswith("musicnn.npy")
    assert paths.LAYERS == "layers/{backbone}.npy" and paths.LAYERS_SIDECAR == "layers/{backbone}.json"


def test_sidecar_gets_layer_names_and_dims_and_unpadding_recovers_each_layer():
    stacked = padded_layers()
    stacked[1] = np.nan  # a failed track: exempt from the padding check
    sidecar = describe_merged(description(layer_names=["a", "b", "c"], layer_dims=[3, 5, 2]), stacked)
    assert sidecar["layer_names"] == ["a", "b", "c"] and sidecar["layer_dims"] == [3, 5, 2]
    assert sidecar["n_layers"] == 3 and sidecar["backbone"] == "demo"
    np.testing.assert_array_equal(
        unpad_layer(stacked, sidecar["layer_names"], sidecar["layer_dims"], "c"), stacked[:, 2, :2]
    )
    with pytest.raises(ValueError, match="'d' is not in this extraction"):
        unpad_layer(stacked, sidecar["layer_names"], sidecar["layer_dims"], "d")


def test_equal_width_layers_default_to_their_indices():
    names, dims = layer_layout({"backbone": "mert", "output_shape": [3, 8], "layer": [0, 1, 2]})
    assert names == ["0", "1", "2"] and dims == [8, 8, 8]


def test_a_single_layer_description_is_returned_unchanged():
    single = {"backbone": "musicnn", "output_shape": [5], "layer": "penultimate"}
    assert describe_merged(single, np.zeros((2, 5), dtype=np.float32)) == single


def test_non_zero_padding_names_the_layer_and_row():
    stacked = padded_layers()
    stacked[2, 0, 4] = 1.0
    with pytest.raises(ValueError, match="layer 0 is 3 wide, but row 2 has non-zero values"):
        check_layer_padding(stacked, [3, 5, 2], "demo")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"layer_dims": [3, 4, 2]}, "the widest 5"),
        ({"layer_dims": [3, 5]}, "3 widths"),
        ({"layer_names": ["a", "a", "b"]}, "3 distinct names"),
        ({"output_shape": [5]}, "not \\(n_layers, d_max\\)"),
    ],
)
def test_inconsistent_layouts_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        layer_layout(description(**fields))


def test_a_merged_matrix_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="per-track shape \\(3, 4\\)"):
        describe_merged(description(), np.zeros((2, 3, 4), dtype=np.float32))
