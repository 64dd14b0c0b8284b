"""The nested, artist-grouped, vectorised probe: planted signals, noise, grouping, sklearn parity."""

import numpy as np
import pandas as pd
import pytest

from musicrec.layers.folds import group_folds, nested_splits
from musicrec.layers.probe import (
    ProbeSettings,
    blas_threads,
    nested_logistic,
    nested_ridge,
    probe_layers,
    probe_table,
    ridge_path_scores,
)

ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0)


@pytest.fixture(autouse=True)
def one_blas_thread():
    # As the probe jobs run: thousands of small products are fastest on one thread.
    with blas_threads(1):
        yield


def artists_of(n, per_artist=4):
    return np.array([f"artist-{i // per_artist}" for i in range(n)])


def test_folds_never_split_an_artist():
    rng = np.random.default_rng(3)
    artists = rng.integers(0, 23, size=200).astype(str)
    for train, test, inner in nested_splits(artists, 5, 3, seed=11):
        assert not set(artists[train]) & set(artists[test])
        for fit, val in inner:
            assert not set(artists[train][fit]) & set(artists[train][val])
            assert len(np.intersect1d(train[fit], test)) == 0
    folds = group_folds(artists, 5, seed=11)
    assert np.array_equal(folds, group_folds(artists, 5, seed=11))  # deterministic
    assert np.bincount(folds).min() > 0.6 * np.bincount(folds).max()  # balanced


def test_too_few_artists_for_the_folds():
    with pytest.raises(ValueError, match="3 distinct groups"):
        group_folds(np.array(["a", "b", "c", "a"]), 5, seed=0)


def test_planted_linear_target_is_recovered_and_noise_is_not():
    rng = np.random.default_rng(0)
    n, d = 240, 20
    x = rng.standard_normal((n, d))
    y = np.stack([x @ rng.standard_normal(d) + 0.01 * rng.standard_normal(n), rng.standard_normal(n)], axis=1)
    splits = nested_splits(artists_of(n), 5, 3, seed=0)
    scores, alphas = nested_ridge(x, y, splits, ALPHAS)
    assert scores[:, 0].min() > 0.99  # the planted target
    assert scores[:, 1].mean() < 0.02  # noise: nothing beyond the training mean
    assert set(alphas[:, 0]) <= set(ALPHAS)
    shuffled, _ = nested_ridge(x, y, splits, ALPHAS, permutation_seed=5)
    assert shuffled[:, 0].mean() < 0.1  # the shuffled-target control loses the planted signal


def test_vectorised_ridge_equals_sklearn_nested_loop():
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    for n, d in ((120, 30), (60, 90)):  # both Gram sides (n > d and n < d)
        x = rng.standard_normal((n, d)) * rng.uniform(0.1, 10, size=d)
        y = np.stack([x[:, :3].sum(axis=1) + rng.standard_normal(n), rng.standard_normal(n)], axis=1) * 50 + 7
        splits = nested_splits(artists_of(n, 3), 3, 3, seed=2)
        scores, alphas = nested_ridge(x, y, splits, ALPHAS)
        for target in range(2):
            for k, (train, test, inner) in enumerate(splits):
                search = GridSearchCV(
                    make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": list(ALPHAS)}, cv=inner, scoring="r2"
                ).fit(x[train], y[train, target])
                assert search.best_params_["ridge__alpha"] == alphas[k, target]
                assert r2_score(y[test, target], search.predict(x[test])) == pytest.approx(scores[k, target], abs=1e-6)


def test_ridge_path_is_invariant_to_target_scale():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((50, 8)), rng.standard_normal((50, 2))
    a = ridge_path_scores(x[:40], y[:40], x[40:], y[40:], np.array(ALPHAS))
    b = ridge_path_scores(x[:40], y[:40] * 1e4 + 3, x[40:], y[40:] * 1e4 + 3, np.array(ALPHAS))
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_logistic_probe_finds_a_planted_genre():
    rng = np.random.default_rng(5)
    n = 160
    artists = artists_of(n, 4)
    genre = np.array([int(a.split("-")[1]) % 4 for a in artists])  # genre is a property of the artist
    x = rng.standard_normal((n, 12))
    x[:, :4] += 5.0 * np.eye(4)[genre]
    splits = nested_splits(artists, 4, 3, seed=0)
    accuracy, chance, chosen = nested_logistic(x, genre, splits, (1e-2, 1e-1, 1.0), max_iter=50)
    assert accuracy.mean() > 0.9 and chance.mean() < 0.5
    noise, _, _ = nested_logistic(rng.standard_normal((n, 12)), genre, splits, (1e-2, 1e-1, 1.0), max_iter=50)
    assert noise.mean() < 0.5


def test_probe_layers_table_with_controls():
    rng = np.random.default_rng(6)
    n = 120
    artists = artists_of(n, 4)
    signal = rng.standard_normal(n)
    informative = np.column_stack([signal, rng.standard_normal((n, 5))])
    useless = rng.standard_normal((n, 6))
    targets = pd.DataFrame({"track_idx": np.arange(n), "track_id": [f"t{i}" for i in range(n)], "brightness": signal})
    targets.loc[3, "brightness"] = np.nan  # an undefined target cell: that track leaves this target only
    labels = pd.DataFrame({"artist": artists, "album": artists, "genre": [a[-1] for a in artists]})
    settings = ProbeSettings(outer_folds=4, inner_folds=3, alphas=ALPHAS, penalties=(0.1, 1.0), max_iter=20)
    real = probe_layers([informative, useless], ["good", "bad"], targets, labels, settings)
    control = probe_layers([useless, useless], ["good", "bad"], targets, labels, settings)
    table = probe_table(real, control, confidence=0.95)
    row = table[(table["layer"] == "good") & (table["target"] == "brightness")].iloc[0]
    assert row["mean"] > 0.95 and row["lower"] <= row["mean"] <= row["upper"]
    assert row["selectivity_shuffled"] > 0.9 and row["selectivity_random"] > 0.9
    bad = table[(table["layer"] == "bad") & (table["target"] == "brightness")].iloc[0]
    assert bad["mean"] < 0.1
    assert set(table["metric"]) == {"r2", "accuracy"}
    assert table.loc[table["task"] == "classification", "chance"].notna().all()
