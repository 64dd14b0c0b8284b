"""The layer study's figures render from a real probe table and fusion weights."""

import numpy as np
import pandas as pd

from musicrec.layers.plots import fusion_weights_plot, probe_heatmap
from musicrec.layers.probe import ProbeSettings, blas_threads, probe_layers, probe_table


def test_heatmap_and_weights_figures(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    artists = np.array([f"a{i // 3}" for i in range(n)])
    targets = pd.DataFrame({"track_idx": np.arange(n), "track_id": [str(i) for i in range(n)],
                            "x": rng.standard_normal(n), "y": rng.standard_normal(n)})
    labels = pd.DataFrame({"artist": artists, "album": artists, "genre": [a[-1] for a in artists]})
    settings = ProbeSettings(outer_folds=3, inner_folds=2, alphas=(1.0, 10.0), penalties=(1.0,), max_iter=5)
    with blas_threads(1):
        folds = probe_layers([rng.standard_normal((n, 4)) for _ in range(3)], ["a", "b", "c"], targets, labels, settings)
    table = probe_table(folds, None, 0.95)
    figure = probe_heatmap(table, "toy")
    cells = [text for text in figure.axes[0].texts]
    assert len(cells) == 3 * 3  # 3 layers x (x, y, genre)
    assert all(text.get_text().endswith("s") for text in cells)  # no random control: shuffled selectivity
    weights = pd.DataFrame({"layer_index": [0, 1, 2], "layer": ["a", "b", "c"],
                            "weight_mean": [0.2, 0.3, 0.5], "weight_std": [0.0, 0.0, 0.0]})
    figure = fusion_weights_plot(weights, table, "toy")
    figure.savefig(tmp_path / "weights.png")
    assert (tmp_path / "weights.png").stat().st_size > 0
    assert [patch.get_height() for patch in figure.axes[0].patches] == [0.2, 0.3, 0.5]
