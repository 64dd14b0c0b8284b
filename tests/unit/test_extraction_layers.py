"""The layers artefact's sidecar: layer names and widths, and the zero padding of narrower layers."""

import numpy as np
import pytest

from musicrec.embeddings import layer_index, select_layer
from musicrec.extraction import check_layer_padding, describe_merged, layer_layout


def padded_layers(n_tracks=4, dims=(3, 5, 2), seed=0):
    rng = np.random.default_rng(seed)
    stacked = np.zeros((n_tracks, len(dims), max(dims)), dtype=np.float32)
    for index, dim in enumerate(dims):
        stacked[:, index, :dim] = rng.normal(size=(n_tracks, dim))
    return stacked


def description(**fields):
    return {"backbone": "demo", "output_shape": [3, 5], "layer": ["a", "b", "c"], **fields}


def test_sidecar_gets_layer_names_and_dims_and_each_layer_comes_back_unpadded():
    stacked = padded_layers()
    stacked[1] = np.nan  # a failed track: exempt from the padding check
    sidecar = describe_merged(description(layer_names=["a", "b", "c"], layer_dims=[3, 5, 2]), stacked)
    assert sidecar["layer_names"] == ["a", "b", "c"] and sidecar["layer_dims"] == [3, 5, 2]
    assert sidecar["n_layers"] == 3 and sidecar["backbone"] == "demo"
    index = layer_index("c", sidecar["layer_names"])
    np.testing.assert_array_equal(select_layer(stacked, sidecar["layer_dims"], index), stacked[:, 2, :2])


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
