"""Comparison table and its bar plot, built from real summaries of per-user metrics."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from musicrec.evaluation.intervals import summarise
from musicrec.evaluation.metrics import metric_columns
from musicrec.evaluation.plots import bar_plot, model_comparison_plot, run_labels, training_curves_plot
from musicrec.evaluation.tables import make_table, stack_runs, table_columns

K = 10


def summary_of(hit_probability: float, seed: int, n_users: int = 40) -> pd.DataFrame:
    """A test summary of random per-user metrics whose hit rate is about ``hit_probability``."""
    rng = np.random.default_rng(seed)
    hits = (rng.random(n_users) < hit_probability).astype(float)
    per_user = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)]})
    for column in metric_columns(K):
        per_user[column] = hits * rng.random(n_users) if not column.startswith("hitrate") else hits
    return summarise(per_user, 0.95)


@pytest.fixture
def summaries():
    return {"mfcc": summary_of(0.3, 0), "musicnn": summary_of(0.8, 1), "random": summary_of(0.1, 2)}


@pytest.fixture
def table(summaries):
    return make_table(summaries, {"mfcc": 40, "musicnn": 200, "random": 200}, {"mfcc": 0, "musicnn": 2, "random": 0}, K)


def test_one_row_per_backbone_best_hitrate_first(table, summaries):
    assert list(table.columns) == table_columns(K)
    assert table["backbone"].tolist() == ["musicnn", "mfcc", "random"]
    assert table["hitrate@10"].is_monotonic_decreasing
    assert table["dim"].tolist() == [200, 40, 200]
    assert table["n_failed"].tolist() == [2, 0, 0]
    musicnn = table.set_index("backbone").loc["musicnn"]
    source = summaries["musicnn"].set_index("metric")
    for metric in metric_columns(K):
        assert musicnn[metric] == source.at[metric, "mean"]
        assert musicnn[f"{metric}_lower"] == source.at[metric, "lower"]
        assert musicnn[f"{metric}_upper"] == source.at[metric, "upper"]


def test_ties_keep_the_given_order(summaries):
    same = {"b": summaries["mfcc"], "a": summaries["mfcc"]}
    table = make_table(same, {"a": 1, "b": 1}, {"a": 0, "b": 0}, K)
    assert table["backbone"].tolist() == ["b", "a"]


def test_table_round_trips_through_csv(table):
    read_back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    pd.testing.assert_frame_equal(read_back, table, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, d, f: (s, {"mfcc": 40}, f), "dims cover backbones"),
        (lambda s, d, f: (s, d, {**f, "extra": 1}), "failures cover backbones"),
        (lambda s, d, f: ({**s, "mfcc": s["mfcc"].iloc[1:]}, d, f), "'mfcc' lacks metric.*'hitrate@10'"),
        (lambda s, d, f: ({**s, "mfcc": s["mfcc"].drop(columns="upper")}, d, f), "lacks column.*'upper'"),
        (
            lambda s, d, f: ({**s, "mfcc": pd.concat([s["mfcc"], s["mfcc"].iloc[:1]])}, d, f),
            "'hitrate@10' twice",
        ),
    ],
)
def test_inconsistent_inputs_are_rejected(summaries, change, message):
    dims = {"mfcc": 40, "musicnn": 200, "random": 200}
    failures = {"mfcc": 0, "musicnn": 2, "random": 0}
    with pytest.raises(ValueError, match=message):
        make_table(*change(summaries, dims, failures), K)


def test_summary_at_another_k_is_rejected(summaries):
    with pytest.raises(ValueError, match="another k"):
        make_table(summaries, {b: 1 for b in summaries}, {b: 0 for b in summaries}, 50)


def test_bar_plot_draws_means_with_intervals(table):
    metrics = metric_columns(K)
    figure = bar_plot(table, metrics, "knn")

    assert isinstance(figure, Figure)
    assert [ax.get_title() for ax in figure.axes] == metrics
    for ax, metric in zip(figure.axes, metrics):
        heights = [bar.get_height() for bar in ax.patches]
        np.testing.assert_allclose(heights, table[metric].to_numpy())
        assert [label.get_text() for label in ax.get_xticklabels()] == table["backbone"].tolist()
        # The error bar of each backbone spans exactly its interval.
        (segments,) = [c for c in ax.collections if len(c.get_segments()) == len(table)]
        spans = np.array([[segment[:, 1].min(), segment[:, 1].max()] for segment in segments.get_segments()])
        np.testing.assert_allclose(spans, table[[f"{metric}_lower", f"{metric}_upper"]].to_numpy())

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


def test_bar_plot_without_interval_draws_no_error_bar(table):
    table = table.assign(**{"ndcg@10_lower": np.nan, "ndcg@10_upper": np.nan})
    figure = bar_plot(table, ["ndcg@10"], "one user each")
    (segments,) = [c for c in figure.axes[0].collections if len(c.get_segments()) == len(table)]
    assert all(np.ptp(segment[:, 1]) == 0 for segment in segments.get_segments())


def test_bar_plot_names_missing_columns(table):
    with pytest.raises(ValueError, match="'mrr@10_upper'"):
        bar_plot(table.drop(columns="mrr@10_upper"), ["mrr@10"], "broken")


def test_stack_runs_keeps_each_runs_ranking_under_a_model_column(table):
    other = table.iloc[::-1].reset_index(drop=True)
    stacked = stack_runs({"shallow-embedding": table, "shallow-interaction": other})
    assert list(stacked.columns) == ["model", *table.columns]
    assert stacked["model"].tolist() == ["shallow-embedding"] * 3 + ["shallow-interaction"] * 3
    assert stacked["backbone"].tolist() == table["backbone"].tolist() + other["backbone"].tolist()
    with pytest.raises(ValueError):
        stack_runs({})


def test_run_labels_name_the_run_only_when_runs_share_a_table(table):
    single = stack_runs({"knn": table})
    assert run_labels(single)["backbone"].tolist() == table["backbone"].tolist()
    double = run_labels(stack_runs({"a": table, "b": table}))
    assert double["backbone"].tolist()[0] == "musicnn (a)" and double["backbone"].tolist()[-1] == "random (b)"


def test_model_comparison_plot_groups_runs_per_backbone_and_leaves_gaps(table):
    partial = table[table["backbone"] != "random"]
    stacked = stack_runs({"knn": table, "bert4rec": partial})
    figure = model_comparison_plot(stacked, [f"hitrate@{K}"], "t")
    bars = [patch for patch in figure.axes[0].patches]
    assert len(bars) == 6  # 3 backbones x 2 runs, the missing one drawn as a NaN-height gap
    heights = [bar.get_height() for bar in bars]
    assert np.isnan(heights).sum() == 1
    musicnn_knn = table.set_index("backbone").loc["musicnn", f"hitrate@{K}"]
    assert musicnn_knn in heights


def test_training_curves_plot_draws_val_and_train_per_backbone():
    curves = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [np.nan, 0.5, 0.4], "val_loss": [0.6, 0.5, 0.45]})
    figure = training_curves_plot({"musicnn": curves, "random": curves}, "t")
    assert len(figure.axes[0].lines) == 4
    with pytest.raises(ValueError, match="lack"):
        training_curves_plot({"x": curves.drop(columns="val_loss")}, "t")
