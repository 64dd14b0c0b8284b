"""Comparison table of a recommender family (run x embedding) and its plots, from real summaries."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from musicrec.evaluation.intervals import summarise
from musicrec.evaluation.metrics import metric_columns
from musicrec.evaluation.plots import (
    PINNED_COLOURS,
    bar_plot,
    embedding_colours,
    model_comparison_plot,
    run_labels,
    training_curves_plot,
)
from musicrec.evaluation.tables import (
    ID_COLUMNS,
    Cell,
    display_table,
    make_table,
    narrow_catalogue_warnings,
    table_columns,
)

K = 10


def summary_of(hit_probability: float, seed: int, n_users: int = 40, seed_sd: float | None = None) -> pd.DataFrame:
    """A summary of random per-user metrics whose hit rate is about ``hit_probability``.

    With ``seed_sd`` it carries the seed columns that ``score_run`` adds (3 seeds).
    """
    rng = np.random.default_rng(seed)
    hits = (rng.random(n_users) < hit_probability).astype(float)
    per_user = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)]})
    for column in metric_columns(K):
        per_user[column] = hits * rng.random(n_users) if not column.startswith("hitrate") else hits
    summary = summarise(per_user, 0.95)
    if seed_sd is not None:
        summary = summary.assign(
            seed_sd=seed_sd * (1 + np.arange(len(summary))),
            seed_min=summary["mean"] - seed_sd,
            seed_max=summary["mean"] + seed_sd,
            n_seeds=3,
        )
    return summary


def report(removed: int = 0, reasons: tuple[str, ...] = ()) -> dict:
    return {
        "n_users": 40,
        "n_pairs_removed_by_item_set": removed,
        "collapse": {"collapsed": bool(reasons), "reasons": list(reasons)},
    }


@pytest.fixture
def cells():
    """Two runs of one family; the second run's MFCC collapsed; one embedding-free baseline."""
    return [
        Cell("shallow-embedding", "mfcc", summary_of(0.3, 0, seed_sd=0.01), report(removed=2), dim=40),
        Cell("shallow-embedding", "musicnn", summary_of(0.8, 1, seed_sd=0.02), report(removed=2), dim=200, n_failed=2),
        Cell("shallow-embedding", "random", summary_of(0.1, 2, seed_sd=0.03), report(removed=2), dim=200),
        Cell(
            "shallow-interaction",
            "mfcc",
            summary_of(0.32, 3, seed_sd=0.0),
            report(removed=2, reasons=("100% of users get the same top-10 list", "the validation loss never moved")),
            dim=40,
        ),
        Cell("shallow-interaction", "musicnn", summary_of(0.7, 4, seed_sd=0.01), report(2), dim=200, n_failed=2),
        Cell("popularity", "none", summary_of(0.5, 5), report()),
    ]


@pytest.fixture
def table(cells):
    return make_table(cells, K)


def test_columns_are_the_id_columns_then_four_per_metric():
    columns = table_columns(K)
    assert columns[: len(ID_COLUMNS)] == ["run", "embedding", "dim", "n_failed", "n_users", "n_seeds"] + [
        "pairs_removed",
        "collapsed",
        "collapse",
    ]
    assert columns[len(ID_COLUMNS) : len(ID_COLUMNS) + 4] == ["hitrate@10", "hitrate@10_lower"] + [
        "hitrate@10_upper",
        "hitrate@10_seed_sd",
    ]
    assert len(columns) == len(ID_COLUMNS) + 4 * len(metric_columns(K))


def test_one_row_per_cell_runs_in_given_order_best_hitrate_first_within_each(table):
    assert list(table.columns) == table_columns(K)
    assert table["run"].tolist() == ["shallow-embedding"] * 3 + ["shallow-interaction"] * 2 + ["popularity"]
    assert table["embedding"].tolist() == ["musicnn", "mfcc", "random", "musicnn", "mfcc", "none"]
    for _, rows in table.groupby("run", sort=False):
        assert rows["hitrate@10"].is_monotonic_decreasing
    assert table["dim"].tolist() == [200, 40, 200, 200, 40, 0]
    assert table["n_failed"].tolist() == [2, 0, 0, 2, 0, 0]


def test_values_come_from_the_summary_and_the_report(table, cells):
    indexed = table.set_index(["run", "embedding"])
    for cell in cells:
        row = indexed.loc[(cell.run, cell.embedding)]
        source = cell.summary.set_index("metric")
        for metric in metric_columns(K):
            assert row[metric] == source.at[metric, "mean"]
            assert row[f"{metric}_lower"] == source.at[metric, "lower"]
            assert row[f"{metric}_upper"] == source.at[metric, "upper"]
            expected_sd = source.at[metric, "seed_sd"] if "seed_sd" in source else 0.0
            assert row[f"{metric}_seed_sd"] == expected_sd
        assert row["n_users"] == 40
        assert row["pairs_removed"] == cell.report["n_pairs_removed_by_item_set"]
    popularity = indexed.loc[("popularity", "none")]
    assert popularity["n_seeds"] == 1 and popularity["hitrate@10_seed_sd"] == 0.0  # a summary without seeds
    assert indexed.loc[("shallow-embedding", "musicnn"), "n_seeds"] == 3


def test_a_collapsed_cell_is_kept_and_flagged_with_its_reasons(table):
    flagged = table[table["collapsed"]]
    assert flagged[["run", "embedding"]].values.tolist() == [["shallow-interaction", "mfcc"]]
    assert flagged["collapse"].iloc[0] == "100% of users get the same top-10 list; the validation loss never moved"
    assert (table.loc[~table["collapsed"], "collapse"] == "").all()


def test_ties_keep_the_given_order():
    same = summary_of(0.3, 0)
    table = make_table([Cell("knn", "b", same, report()), Cell("knn", "a", same, report())], K)
    assert table["embedding"].tolist() == ["b", "a"]


def test_table_round_trips_through_csv(table):
    read_back = pd.read_csv(io.StringIO(table.to_csv(index=False)), keep_default_na=False)
    pd.testing.assert_frame_equal(read_back, table, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.iloc[1:], "'knn/mfcc' lacks metric.*'hitrate@10'"),
        (lambda s: s.drop(columns="upper"), "lacks column.*'upper'"),
        (lambda s: pd.concat([s, s.iloc[:1]]), "'hitrate@10' twice"),
    ],
)
def test_inconsistent_summaries_are_rejected(change, message):
    good = Cell("knn", "musicnn", summary_of(0.5, 1), report())
    with pytest.raises(ValueError, match=message):
        make_table([good, Cell("knn", "mfcc", change(summary_of(0.3, 0)), report())], K)


def test_a_repeated_cell_no_cell_and_another_k_are_rejected():
    summary = summary_of(0.3, 0)
    with pytest.raises(ValueError, match="run 'knn' on embedding 'mfcc' appears twice"):
        make_table([Cell("knn", "mfcc", summary, report()), Cell("knn", "mfcc", summary, report())], K)
    with pytest.raises(ValueError, match="at least one"):
        make_table([], K)
    with pytest.raises(ValueError, match="another k"):
        make_table([Cell("knn", "mfcc", summary, report())], 50)


def test_narrow_catalogue_warnings_name_wide_embeddings_of_trained_runs_only():
    dims = {"musicnn": 200, "mfcc": 40, "edge": 80, "none": 0}
    warnings = narrow_catalogue_warnings(400, dims, trained=True)
    assert list(warnings) == ["musicnn"] and "'musicnn' is 200-d" in warnings["musicnn"]
    assert "400 tracks" in warnings["musicnn"]
    # 400 tracks = exactly 5 x 80: not narrower than five times the width, no warning.
    assert narrow_catalogue_warnings(400, {"edge": 80}, trained=True) == {}
    assert narrow_catalogue_warnings(399, {"edge": 80}, trained=True) != {}
    assert narrow_catalogue_warnings(400, dims, trained=False) == {}
    assert len(narrow_catalogue_warnings(400, dims, trained=True, factor=11)) == 3  # 0-d (no embedding) never


def test_display_table_notes_a_narrow_catalogue_in_the_report(table):
    embedding = table["embedding"].iloc[0]
    shown = display_table(table, K, narrow={embedding: "too wide"})
    assert "too wide" in shown.loc[shown.embedding == embedding, "note"].iloc[0]
    assert not shown.loc[shown.embedding != embedding, "note"].str.contains("too wide").any()


def test_display_table_puts_mean_interval_and_seed_spread_in_one_rounded_cell(table):
    shown = display_table(table, K, digits=3)
    assert list(shown.columns) == [
        "run",
        "embedding",
        "users",
        "seeds",
        "dim",
        *metric_columns(K),
        "failed tracks",
        "pairs removed",
        "note",
    ]
    assert shown[["run", "embedding"]].values.tolist() == table[["run", "embedding"]].values.tolist()
    first = table.iloc[0]  # shallow-embedding on musicnn, 3 seeds
    assert shown.at[0, "hitrate@10"] == (
        f"{first['hitrate@10']:.3f} [{first['hitrate@10_lower']:.3f}, {first['hitrate@10_upper']:.3f}]"
        f" ±{first['hitrate@10_seed_sd']:.3f}"
    )
    assert shown.at[0, "failed tracks"] == 2 and shown.at[0, "pairs removed"] == 2
    popularity = shown.index[shown["run"] == "popularity"][0]
    assert "±" not in shown.at[popularity, "mrr@10"]  # one seed: no spread to show
    collapsed = shown.index[(shown["run"] == "shallow-interaction") & (shown["embedding"] == "mfcc")][0]
    assert shown.at[collapsed, "note"].startswith("COLLAPSED: 100% of users get the same top-10 list")
    assert (shown.drop(index=collapsed)["note"] == "").all()


# --- plots ------------------------------------------------------------------------------


def test_run_labels_name_the_run_when_runs_share_a_table_and_mark_collapse(table):
    single = run_labels(table[table["run"] == "shallow-embedding"])
    assert single["label"].tolist() == ["musicnn", "mfcc", "random"]
    labelled = run_labels(table)
    assert labelled["label"].tolist() == [
        "musicnn (shallow-embedding)",
        "mfcc (shallow-embedding)",
        "random (shallow-embedding)",
        "musicnn (shallow-interaction)",
        "mfcc (shallow-interaction) COLLAPSED",
        "popularity",  # the embedding-free baseline is named by its run
    ]


def test_embedding_colours_are_stable_whatever_the_order():
    names = ["mert@6", "musicnn", "random", "student"]
    forward, backward = embedding_colours(names), embedding_colours(names[::-1])
    assert forward == backward
    assert forward["musicnn"] == PINNED_COLOURS["musicnn"] and forward["random"] == PINNED_COLOURS["random"]
    assert embedding_colours(["mert@6"]) == {"mert@6": forward["mert@6"]}


def test_bar_plot_draws_means_with_intervals_in_each_embeddings_colour(table):
    metrics = metric_columns(K)
    labelled = run_labels(table)
    figure = bar_plot(labelled, metrics, "shallow")

    assert isinstance(figure, Figure)
    assert [ax.get_title() for ax in figure.axes] == metrics
    colours = embedding_colours(table["embedding"])
    for ax, metric in zip(figure.axes, metrics):
        heights = [bar.get_height() for bar in ax.patches]
        np.testing.assert_allclose(heights, table[metric].to_numpy())
        assert [label.get_text() for label in ax.get_xticklabels()] == labelled["label"].tolist()
        assert [to_hex(bar.get_facecolor()) for bar in ax.patches] == [colours[e] for e in table["embedding"]]
        assert [bool(bar.get_hatch()) for bar in ax.patches] == table["collapsed"].tolist()
        # The error bar of each bar spans exactly its interval.
        (segments,) = [c for c in ax.collections if len(c.get_segments()) == len(table)]
        spans = np.array([[segment[:, 1].min(), segment[:, 1].max()] for segment in segments.get_segments()])
        np.testing.assert_allclose(spans, table[[f"{metric}_lower", f"{metric}_upper"]].to_numpy())

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


def test_bar_plot_without_interval_draws_no_error_bar(table):
    labelled = run_labels(table).assign(**{"ndcg@10_lower": np.nan, "ndcg@10_upper": np.nan})
    figure = bar_plot(labelled, ["ndcg@10"], "one user each")
    (segments,) = [c for c in figure.axes[0].collections if len(c.get_segments()) == len(table)]
    assert all(np.ptp(segment[:, 1]) == 0 for segment in segments.get_segments())


def test_bar_plot_names_missing_columns(table):
    labelled = run_labels(table)
    with pytest.raises(ValueError, match="'mrr@10_upper'"):
        bar_plot(labelled.drop(columns="mrr@10_upper"), ["mrr@10"], "broken")
    with pytest.raises(ValueError, match="'label'"):
        bar_plot(table, ["mrr@10"], "no labels")


def test_model_comparison_plot_groups_runs_per_embedding_and_leaves_gaps(table):
    trained = table[table["run"] != "popularity"]
    figure = model_comparison_plot(trained, [f"hitrate@{K}"], "t")
    bars = list(figure.axes[0].patches)
    assert len(bars) == 6  # 3 embeddings x 2 runs, interaction's missing random drawn as a NaN-height gap
    heights = [bar.get_height() for bar in bars]
    assert np.isnan(heights).sum() == 1
    assert [label.get_text() for label in figure.axes[0].get_xticklabels()] == ["musicnn", "mfcc", "random"]
    musicnn = trained.set_index(["run", "embedding"]).loc[("shallow-interaction", "musicnn"), f"hitrate@{K}"]
    assert heights[3] == musicnn  # second run, first embedding


def test_training_curves_plot_draws_val_and_train_per_embedding_and_seed_in_the_embeddings_colour():
    curves = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [np.nan, 0.5, 0.4], "val_loss": [0.6, 0.5, 0.45]})
    figure = training_curves_plot({("musicnn", 1): curves, ("musicnn", 2): curves, ("random", 1): curves}, "t")
    lines = figure.axes[0].lines
    assert len(lines) == 6
    colours = embedding_colours(["musicnn", "random"])
    assert [line.get_color() for line in lines] == [colours["musicnn"]] * 4 + [colours["random"]] * 2
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["musicnn val", "random val"]
    with pytest.raises(ValueError, match="lack"):
        training_curves_plot({("x", 1): curves.drop(columns="val_loss")}, "t")
