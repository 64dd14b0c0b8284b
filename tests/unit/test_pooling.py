import numpy as np
import pytest

from musicrec.pooling import (
    average_windows,
    channel_mean,
    is_single_layer,
    resolve_layers,
    split_into_windows,
    time_mean,
    window_starts,
)


def test_resolve_layers_accepts_int_list_all_and_negative():
    assert resolve_layers(3, 25) == [3]
    assert resolve_layers(-1, 25) == [24]
    assert resolve_layers([0, 6, -1], 13) == [0, 6, 12]
    assert resolve_layers("all", 4) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "spec, message",
    [
        (25, "layer 25 does not exist"),
        ("last", "expected an integer"),
        ([], "empty"),
        ([1, -24], "twice"),
        ([1.5], "integers"),
        ([True], "integers"),
    ],
)
def test_resolve_layers_names_the_key_and_the_problem(spec, message):
    with pytest.raises(ValueError, match=message) as error:
        resolve_layers(spec, 25, key="extraction.backbones.mert.layer")
    assert "extraction.backbones.mert.layer" in str(error.value)


def test_single_layer_means_an_int_only():
    assert is_single_layer(7) and is_single_layer(np.int64(7))
    assert not is_single_layer([7]) and not is_single_layer("all") and not is_single_layer(True)


def test_time_mean_keeps_the_layer_axis():
    frames = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # batch, layers, time, dim
    pooled = time_mean(frames)
    assert pooled.shape == (2, 3, 5)
    np.testing.assert_allclose(pooled[1, 2], frames[1, 2].mean(0))


def test_channel_mean_gives_one_value_per_frame():
    frames = np.arange(2 * 750 * 4, dtype=np.float32).reshape(2, 750, 4)
    out = channel_mean(frames)
    assert out.shape == (2, 750)
    np.testing.assert_allclose(out[0, :2], [1.5, 5.5])


def test_windows_are_back_to_back_when_the_clip_is_a_multiple():
    assert window_starts(30, 5).tolist() == [0, 5, 10, 15, 20, 25]
    batch = np.arange(2 * 30).reshape(2, 30)
    windows = split_into_windows(batch, 5)
    assert windows.shape == (12, 5)
    np.testing.assert_array_equal(windows[1], batch[0, 5:10])
    np.testing.assert_array_equal(windows[6], batch[1, :5])


def test_windows_overlap_rather_than_drop_a_short_tail():
    starts = window_starts(12, 5)
    assert starts.tolist() == [0, 4, 7]  # three windows, the last ends on sample 11
    windows = split_into_windows(np.arange(12)[None, :], 5)
    assert windows[-1, -1] == 11
    assert set(np.unique(windows)) == set(range(12))


def test_no_windowing_or_short_clip_keeps_the_batch():
    batch = np.zeros((3, 4))
    assert split_into_windows(batch, None) is batch
    assert split_into_windows(batch, 4) is batch
    assert split_into_windows(batch, 10) is batch
    with pytest.raises(ValueError, match="positive"):
        window_starts(10, 0)


def test_average_windows_groups_consecutive_rows():
    pooled = np.array([[1.0], [3.0], [5.0], [10.0], [20.0], [30.0]])  # 2 clips x 3 windows
    np.testing.assert_allclose(average_windows(pooled, 3), [[3.0], [20.0]])
    with pytest.raises(ValueError, match="groups of 4"):
        average_windows(pooled, 4)


def test_window_then_average_equals_mean_of_window_means():
    rng = np.random.default_rng(2)
    clip = rng.normal(size=(2, 3 * 4, 5))  # frames of 2 clips, 3 windows of 4 frames each
    per_window = time_mean(clip.reshape(6, 4, 5))
    np.testing.assert_allclose(average_windows(per_window, 3), time_mean(clip))


def test_pooling_runs_on_torch_tensors():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    frames = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    np.testing.assert_allclose(time_mean(frames).numpy(), time_mean(frames.numpy()))
    np.testing.assert_allclose(channel_mean(frames).numpy(), channel_mean(frames.numpy()))
    averaged = average_windows(torch.arange(12, dtype=torch.float32).reshape(4, 3), 2)
    np.testing.assert_allclose(averaged.numpy(), [[1.5, 2.5, 3.5], [7.5, 8.5, 9.5]])
