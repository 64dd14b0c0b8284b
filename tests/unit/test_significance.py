"""Paired tests between embeddings: against scipy, exact enumeration, a plain loop, and hand examples."""

import io
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from scipy import stats

from musicrec.evaluation.intervals import bootstrap_bounds, bootstrap_means, mean_acceleration
from musicrec.evaluation.plots import PINNED_COLOURS, embedding_colours
from musicrec.evaluation.significance import (
    SPREAD_COLUMNS,
    TEST_COLUMNS,
    VERDICT_COLUMNS,
    holm,
    mean_over_seeds,
    paired_tests,
    resampling_generators,
    seed_spread,
    shared_means,
    sign_flip_blocks,
    verdict,
)
from musicrec.evaluation.significance_plots import LABEL_TINT, difference_matrix, significance_heatmap

METRICS = ["hitrate@10", "ndcg@10"]


def scored_users(hit_probability: float, n_users: int, rng: np.random.Generator, users=None) -> pd.DataFrame:
    """Per-user HitRate and an NDCG-like value that is 0 without a hit, as evaluate returns them."""
    hits = (rng.random(n_users) < hit_probability).astype(float)
    return pd.DataFrame(
        {
            "user_id": users if users is not None else [f"u{i}" for i in range(n_users)],
            "hitrate@10": hits,
            "ndcg@10": hits * rng.random(n_users),
        }
    )


@pytest.fixture
def run_of_four():
    rng = np.random.default_rng(7)
    return {
        "musicnn": scored_users(0.6, 80, rng),
        "mfcc": scored_users(0.5, 80, rng),
        "ids": scored_users(0.55, 80, rng),
        "random": scored_users(0.15, 80, rng),
    }


def test_columns_pairs_and_means(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95, n_perm=2000)
    assert list(tests.columns) == list(TEST_COLUMNS)
    assert len(tests) == 2 * 6
    assert tests["metric"].tolist() == ["hitrate@10"] * 6 + ["ndcg@10"] * 6
    assert list(zip(tests["a"][:6], tests["b"][:6])) == list(itertools.combinations(run_of_four, 2))
    assert (tests["run"] == "knn").all() and (tests["n_users"] == 80).all()
    for row in tests.itertuples():
        a, b = run_of_four[row.a][row.metric].to_numpy(), run_of_four[row.b][row.metric].to_numpy()
        assert row.mean_a == pytest.approx(a.mean(), rel=1e-12)
        assert row.diff == pytest.approx((a - b).mean(), rel=1e-12, abs=1e-15)
        assert row.diff_lower <= row.diff <= row.diff_upper
        assert row.effect_lower <= row.effect_size <= row.effect_upper
        assert 0 < row.p_randomisation <= 1 and row.p_randomisation_holm >= row.p_randomisation


def test_t_test_equals_scipy_ttest_rel(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95, n_perm=200)
    for row in tests.itertuples():
        a, b = run_of_four[row.a][row.metric].to_numpy(), run_of_four[row.b][row.metric].to_numpy()
        reference = stats.ttest_rel(a, b)
        assert row.p_t == pytest.approx(reference.pvalue, rel=1e-12)
        d = a - b
        assert row.effect_size == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-12)


def exact_randomisation_p(d: np.ndarray) -> float:
    """The share of all 2^n sign flips whose |mean| reaches the observed |mean|, ties included."""
    flips = np.array(list(itertools.product([1.0, -1.0], repeat=len(d))))
    observed = abs(d.mean())
    return float(np.mean(np.abs(flips @ d / len(d)) >= observed - 1e-12))


def test_randomisation_p_matches_the_exact_enumeration_of_all_sign_flips():
    rng = np.random.default_rng(3)
    n_users, n_perm = 11, 40_000
    per_user = {
        "good": scored_users(0.8, n_users, rng),
        "bad": scored_users(0.3, n_users, rng),
        "other": scored_users(0.5, n_users, rng),
    }
    tests = paired_tests(per_user, "knn", 0.95, n_perm=n_perm)
    exact = []
    for row in tests.itertuples():
        d = per_user[row.a][row.metric].to_numpy() - per_user[row.b][row.metric].to_numpy()
        exact.append(exact_randomisation_p(d))
    exact = np.array(exact)
    # HitRate differences are in {-1, 0, 1}: many exact ties, which must count as extreme.
    assert (exact > 0.01).any() and (exact < 0.2).any()
    # Monte Carlo against exact: within 4 standard errors (plus the +1 of the estimator) for every pair.
    standard_error = np.sqrt(exact * (1 - exact) / n_perm) + 1 / n_perm
    assert (np.abs(tests["p_randomisation"].to_numpy() - exact) < 4 * standard_error).all()


def test_holm_on_a_hand_example():
    # Sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> raised to 0.06.
    assert holm(np.array([0.01, 0.04, 0.03, 0.005])) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capped at 1, NaN kept out of the count, each column on its own.
    adjusted = holm(np.array([[0.5, 0.01], [np.nan, 0.02], [0.2, 0.04]]))
    assert adjusted[:, 0][[0, 2]] == pytest.approx([0.5, 0.4]) and np.isnan(adjusted[1, 0])
    assert adjusted[:, 1] == pytest.approx([0.03, 0.04, 0.04])
    assert (holm(np.array([0.6, 0.7])) == 1.0).all()


def test_identical_embeddings_differ_by_nothing(run_of_four):
    per_user = {"random": run_of_four["random"], "copy": run_of_four["random"].copy()}
    row = paired_tests(per_user, "knn", 0.95, n_perm=500)
    assert (row["diff"] == 0).all()
    assert (row["diff_lower"] == 0).all() and (row["diff_upper"] == 0).all()
    assert (row["effect_size"] == 0).all() and (row["effect_lower"] == 0).all() and (row["effect_upper"] == 0).all()
    assert (row["p_randomisation"] == 1).all() and (row["p_t"] == 1).all()
    assert not row["significant"].any()


def test_the_same_difference_for_every_user_is_certain_for_the_t_test():
    users = [f"u{i}" for i in range(20)]
    per_user = {
        "a": pd.DataFrame({"user_id": users, "ndcg@10": np.full(20, 0.5)}),
        "b": pd.DataFrame({"user_id": users, "ndcg@10": np.full(20, 0.25)}),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = paired_tests(per_user, "knn", 0.95, n_perm=500).iloc[0]
    assert row["diff"] == 0.25 and row["diff_lower"] == row["diff_upper"] == 0.25
    assert row["p_t"] == 0.0 and row["effect_size"] == np.inf
    assert row["p_randomisation"] == 1 / 501  # all 20 signs equal: never in 500 random flips


def test_a_clearly_better_embedding_is_significant_after_holm(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95)
    against_random = tests[(tests["b"] == "random") & (tests["a"] == "musicnn")]
    assert against_random["significant"].all()
    assert (against_random["p_randomisation_holm"] < 0.01).all() and (against_random["p_t_holm"] < 0.01).all()
    assert (against_random["diff_lower"] > 0).all() and (against_random["effect_lower"] > 0).all()
    # Two close ones are not told apart by 80 users.
    close = tests[(tests["a"] == "musicnn") & (tests["b"] == "ids")]
    assert not close["significant"].any()


def test_same_seed_same_numbers(run_of_four):
    first = paired_tests(run_of_four, "knn", 0.9, n_boot=300, n_perm=300, seed=1)
    pd.testing.assert_frame_equal(first, paired_tests(run_of_four, "knn", 0.9, n_boot=300, n_perm=300, seed=1))
    other = paired_tests(run_of_four, "knn", 0.9, n_boot=300, n_perm=300, seed=2)
    assert not np.array_equal(first["p_randomisation"], other["p_randomisation"])
    assert not np.array_equal(first["diff_lower"], other["diff_lower"])
    pd.testing.assert_series_equal(first["p_t"], other["p_t"])


def loop_reference(per_user, confidence, n_boot, n_perm, seed):
    """The same statistics pair by pair and metric by metric: scipy's t-test, the same signs and resamples."""
    names = list(per_user)
    rows = []
    for metric in METRICS:
        for a, b in itertools.combinations(names, 2):
            d = per_user[a][metric].to_numpy() - per_user[b][metric].to_numpy()
            n = len(d)
            boot_rng, flip_rng = resampling_generators(seed)
            boot = bootstrap_means(d[:, None], n_boot, boot_rng)
            centred = d - d.mean()
            acceleration = mean_acceleration(np.array([np.sum(centred**2)]), np.array([np.sum(centred**3)]))
            scale = np.abs(per_user[a][metric]).mean() + np.abs(per_user[b][metric]).mean()
            lower, upper = bootstrap_bounds(np.array([d.mean()]), boot, confidence, acceleration, 1e-9 * scale)
            extreme = sum(
                int(np.sum(np.abs(signs @ d / n) >= abs(d.mean()) - 1e-9 * scale))
                for signs in sign_flip_blocks(n, n_perm, flip_rng)
            )
            rows.append(
                {
                    "diff": d.mean(),
                    "diff_lower": lower[0],
                    "diff_upper": upper[0],
                    "p_randomisation": (1 + extreme) / (1 + n_perm),
                    "p_t": stats.ttest_rel(per_user[a][metric], per_user[b][metric]).pvalue,
                }
            )
    return pd.DataFrame(rows)


def test_vectorised_equals_a_plain_loop_over_pairs(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95, n_boot=500, n_perm=3000, seed=4)
    reference = loop_reference(run_of_four, 0.95, n_boot=500, n_perm=3000, seed=4)
    for column in reference.columns:
        np.testing.assert_allclose(tests[column], reference[column], rtol=1e-10, atol=1e-14, err_msg=column)
    np.testing.assert_allclose(
        tests["p_randomisation_holm"],
        np.concatenate([holm(reference["p_randomisation"][:6]), holm(reference["p_randomisation"][6:])]),
    )


def test_effect_size_interval_matches_a_bootstrap_of_d_z():
    rng = np.random.default_rng(11)
    per_user = {"a": scored_users(0.5, 2000, rng), "b": scored_users(0.42, 2000, rng)}
    row = paired_tests(per_user, "knn", 0.95, n_perm=200).set_index("metric").loc["ndcg@10"]
    d = per_user["a"]["ndcg@10"].to_numpy() - per_user["b"]["ndcg@10"].to_numpy()
    resamples = d[rng.integers(0, len(d), (4000, len(d)))]
    d_z = resamples.mean(axis=1) / resamples.std(axis=1, ddof=1)
    low, high = np.quantile(d_z, [0.025, 0.975])
    width = high - low
    assert row["effect_lower"] == pytest.approx(low, abs=0.08 * width)
    assert row["effect_upper"] == pytest.approx(high, abs=0.08 * width)


def test_effect_size_interval_is_the_normal_theory_one_for_normal_differences():
    rng = np.random.default_rng(12)
    n = 5000
    base = rng.random(n) * 0.5
    shifted = np.clip(base + 0.1 + rng.normal(0, 0.02, n), 0, 1)  # d ~ N(0.1, 0.02): d_z about 5
    users = np.arange(n)
    row = paired_tests(
        {"a": pd.DataFrame({"user_id": users, "m": shifted}), "b": pd.DataFrame({"user_id": users, "m": base})},
        "r",
        0.95,
        n_perm=200,
        n_boot=200,
    ).iloc[0]
    d_z = row["effect_size"]
    half = stats.norm.ppf(0.975) * np.sqrt((1 + d_z**2 / 2) / n)
    assert (row["effect_upper"] - row["effect_lower"]) / 2 == pytest.approx(half, rel=0.1)


def test_users_are_compared_on_the_intersection_and_counted(run_of_four):
    per_user = dict(run_of_four)
    per_user["mfcc"] = per_user["mfcc"].iloc[:-1].sample(frac=1.0, random_state=0)  # one user fewer, shuffled
    with pytest.warns(
        UserWarning,
        match=r"left out: 'musicnn' 1 of 80 \(e.g. 'u79'\), 'ids' 1 of 80 \(e.g. 'u79'\), 'random' 1 of 80 \(e.g. 'u79'\); 79 users are compared",
    ):
        tests = paired_tests(per_user, "knn", 0.95, n_perm=200, max_dropped_fraction=0.05)
    assert (tests["n_users"] == 79).all()
    row = tests[(tests["a"] == "musicnn") & (tests["b"] == "mfcc") & (tests["metric"] == "ndcg@10")].iloc[0]
    expected = run_of_four["musicnn"]["ndcg@10"][:79].to_numpy() - run_of_four["mfcc"]["ndcg@10"][:79].to_numpy()
    assert row["diff"] == pytest.approx(expected.mean(), rel=1e-12)
    assert row["p_t"] == pytest.approx(
        stats.ttest_rel(run_of_four["musicnn"]["ndcg@10"][:79], run_of_four["mfcc"]["ndcg@10"][:79]).pvalue, rel=1e-12
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p.update(mfcc=p["mfcc"].iloc[:70]),
            r"'musicnn' has 10 of its 80 users \(e.g. 'u70'\).*same ground truth",
        ),
        (lambda p: p.update(mfcc=p["mfcc"].assign(user_id=range(80))), "share no user"),
        (lambda p: p.update(mfcc=p["mfcc"].drop(columns="ndcg@10")), r"'mfcc' lack metric column 'ndcg@10'"),
        (lambda p: p.update(mfcc=pd.concat([p["mfcc"], p["mfcc"].iloc[:1]])), "'mfcc' list user 'u0' twice"),
        (
            lambda p: p.update(ids=p["ids"].assign(**{"ndcg@10": np.r_[np.nan, p["ids"]["ndcg@10"][1:]]})),
            r"'ids'.*'ndcg@10' is missing for user 'u0'",
        ),
        (lambda p: p.update(ids=p["ids"].drop(columns="user_id")), "'ids' lack a user_id column"),
    ],
)
def test_bad_input_is_rejected_clearly(run_of_four, change, message):
    per_user = dict(run_of_four)
    change(per_user)
    with pytest.raises(ValueError, match=message):
        paired_tests(per_user, "knn", 0.95, n_perm=200)


def test_bad_settings_are_rejected(run_of_four):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        paired_tests(run_of_four, "knn", 1.0)
    with pytest.raises(ValueError, match="n_perm must be an integer >= 100"):
        paired_tests(run_of_four, "knn", 0.95, n_perm=10)


def test_too_few_permutations_for_holm_are_flagged(run_of_four):
    with pytest.warns(UserWarning, match=r"no pair can reach alpha=0.05; use n_perm >= 120"):
        paired_tests(run_of_four, "knn", 0.95, n_perm=100)


def test_one_embedding_has_no_pairs_and_one_user_no_test(run_of_four):
    assert paired_tests({"musicnn": run_of_four["musicnn"]}, "knn", 0.95).empty
    single = {name: frame.iloc[:1] for name, frame in run_of_four.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the Holm warning does not matter here
        tests = paired_tests(single, "knn", 0.95, n_perm=100)
    assert tests[["diff_lower", "p_randomisation", "p_t", "effect_size"]].isna().all().all()
    assert not tests["significant"].any()


# -- seeds ------------------------------------------------------------------------------------------


def test_mean_over_seeds_averages_each_user():
    rng = np.random.default_rng(5)
    seeds = {seed: scored_users(0.5, 30, rng) for seed in (0, 1, 2)}
    seeds[2] = seeds[2].sample(frac=1.0, random_state=1)  # another user order
    averaged = mean_over_seeds(seeds)
    assert averaged["user_id"].tolist() == seeds[0]["user_id"].tolist()
    for metric in METRICS:
        expected = np.mean(
            [frame.set_index("user_id").loc[averaged["user_id"], metric] for frame in seeds.values()], axis=0
        )
        np.testing.assert_allclose(averaged[metric], expected, rtol=1e-15)


def test_seed_spread_gives_mean_sd_min_max_of_the_seed_means():
    rng = np.random.default_rng(6)
    seeds = {seed: scored_users(p, 40, rng) for seed, p in ((0, 0.3), (1, 0.5), (2, 0.6))}
    spread = seed_spread(seeds).set_index("metric")
    assert list(spread.reset_index().columns) == list(SPREAD_COLUMNS)
    means = np.array([frame["hitrate@10"].mean() for frame in seeds.values()])
    row = spread.loc["hitrate@10"]
    assert row["mean"] == pytest.approx(means.mean()) == pytest.approx(mean_over_seeds(seeds)["hitrate@10"].mean())
    assert row["sd"] == pytest.approx(means.std(ddof=1)) and row["min"] == means.min() and row["max"] == means.max()
    assert row["n_seeds"] == 3 and row["n_users"] == 40
    assert np.isnan(seed_spread({0: seeds[0]}).loc[0, "sd"])


def test_seeds_must_score_the_same_users_and_metrics():
    rng = np.random.default_rng(8)
    first = scored_users(0.5, 10, rng)
    with pytest.raises(
        ValueError,
        match=r"seed 1 scored 9 users, seed 0 10: 1 of seed 0's users are missing \(e.g. 'u9'\) and 0 are extra",
    ):
        mean_over_seeds({0: first, 1: first.iloc[:9]})
    with pytest.raises(ValueError, match=r"seed 1 scored 10 users.*missing \(e.g. 'u9'\) and 1 are extra \(e.g. 'x'\)"):
        mean_over_seeds({0: first, 1: first.assign(user_id=[*first["user_id"][:9], "x"])})
    with pytest.raises(ValueError, match=r"seed 1 has metric columns.*lacking \['ndcg@10'\]"):
        mean_over_seeds({0: first, 1: first.drop(columns="ndcg@10")})


# -- the verdict ------------------------------------------------------------------------------------


def test_verdict_names_best_tied_and_the_calls_against_random(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95)
    result = verdict(tests, shared_means(run_of_four, "knn"), summary_metric="hitrate@10")
    assert list(result.table.columns) == list(VERDICT_COLUMNS)
    table = result.table[result.table["metric"] == "hitrate@10"].set_index("embedding")
    assert table["rank"].tolist() == [1, 2, 3, 4]
    best = table.index[0]
    assert table.loc[best, "verdict"] == "best, better than random"
    assert table.loc["random", "vs_baseline"] == "baseline" and table.loc["random", "vs_best"] == "worse than best"
    assert table.loc["random", "verdict"] == "worse than best (the random baseline)"
    for name in ("musicnn", "mfcc", "ids"):
        assert table.loc[name, "vs_baseline"] == "better than random"
    # The calls follow the Holm-corrected randomisation test of each pair.
    for name in table.index[1:]:
        pair = tests[(tests["metric"] == "hitrate@10") & tests["a"].isin([name, best]) & tests["b"].isin([name, best])]
        assert (table.loc[name, "vs_best"] == "worse than best") == bool(pair["significant"].iloc[0])
    sentence = result.summaries["knn"]
    assert sentence.startswith(f"knn, hitrate@10 over 80 users: {best} is best")
    assert "better than random:" in sentence and "Holm" in sentence


def test_verdict_calls_an_embedding_no_better_than_random():
    rng = np.random.default_rng(9)
    per_user = {"musicnn": scored_users(0.7, 150, rng), "random": scored_users(0.2, 150, rng)}
    per_user["mfcc"] = per_user["random"].assign(**{"ndcg@10": per_user["random"]["ndcg@10"] * 0.999})
    per_user["popularity"] = scored_users(0.02, 150, rng)
    tests = paired_tests(per_user, "shallow", 0.95)
    result = verdict(tests, shared_means(per_user, "shallow"))
    table = result.table[result.table["metric"] == "hitrate@10"].set_index("embedding")
    assert table.loc["mfcc", "vs_baseline"] == "not better than random (tied)"
    assert table.loc["popularity", "vs_baseline"] == "not better than random (worse)"
    assert table.loc["popularity", "verdict"] == "worse than best, not better than random (worse)"
    assert result.summaries["shallow"] == (
        "shallow, hitrate@10 over 150 users: musicnn is best (0.673), ahead of every other embedding; "
        "better than random: musicnn; tied with random: mfcc; worse than random: popularity "
        "(paired randomisation test, Holm-corrected over all pairs)."
    )


def test_verdict_without_a_random_embedding_or_with_one_embedding(run_of_four):
    per_user = {name: frame for name, frame in run_of_four.items() if name != "random"}
    tests = paired_tests(per_user, "knn", 0.95, n_perm=2000)
    result = verdict(tests, shared_means(per_user, "knn"))
    assert (result.table["vs_baseline"] == "no baseline").all()
    assert result.table["verdict"].isin(["best", "tied with best", "worse than best"]).all()
    assert result.summaries["knn"].endswith(
        "there is no 'random' embedding to compare with (paired randomisation test, Holm-corrected over all pairs)."
    )
    alone = {"musicnn": run_of_four["musicnn"]}
    result = verdict(paired_tests(alone, "bert4rec", 0.95), shared_means(alone, "bert4rec"))
    assert result.table["verdict"].tolist() == ["best", "best"]
    assert "only musicnn was evaluated" in result.summaries["bert4rec"]


def test_verdict_rejects_means_that_contradict_the_tests(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95)
    means = shared_means(run_of_four, "knn")
    means.loc[means["embedding"] == "random", "mean"] = 2.0  # random ranked first, yet significantly worse
    with pytest.raises(ValueError, match="significantly better than 'random' by the tests but ranks below it"):
        verdict(tests, means)


# -- the heat map -----------------------------------------------------------------------------------


def test_difference_matrix_is_antisymmetric_and_ordered_by_mean(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95, n_perm=2000)
    diff, significant = difference_matrix(tests, "ndcg@10")
    means = shared_means(run_of_four, "knn").query("metric == 'ndcg@10'").set_index("embedding")["mean"]
    assert diff.index.tolist() == means.sort_values(ascending=False).index.tolist() == diff.columns.tolist()
    values = diff.to_numpy()
    assert np.isnan(np.diag(values)).all()
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_array_equal(values[off], -values.T[off])
    assert diff.loc["musicnn", "random"] == pytest.approx(means["musicnn"] - means["random"], rel=1e-12)
    assert significant.loc["musicnn", "random"] and significant.loc["random", "musicnn"]
    assert (significant.to_numpy() == significant.to_numpy().T).all()


def test_heatmap_prints_differences_with_stars_and_names_run_metric_and_confidence(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95, n_perm=2000)
    figure = significance_heatmap(tests, "ndcg@10", 0.95)
    ax = figure.axes[0]
    texts = {text.get_text() for text in ax.texts}
    diff, significant = difference_matrix(tests, "ndcg@10")
    assert len(ax.texts) == 4 * 3
    expected = f"{diff.loc['musicnn', 'random']:+.3f}*"
    assert expected in texts and f"{diff.loc['random', 'musicnn']:+.3f}*" in texts
    assert sum(text.endswith("*") for text in texts) == int(significant.to_numpy().sum())
    title = ax.get_title()
    assert "knn" in title and "ndcg@10" in title and "95 % confidence" in title and "80 users" in title
    assert len(figure.axes) == 2  # the heat map and its colour bar
    colours = embedding_colours(diff.index)
    tints = [label.get_bbox_patch().get_facecolor() for label in ax.get_yticklabels()]
    assert tints == [to_rgba(colours[name], LABEL_TINT) for name in diff.index]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_heatmap_needs_one_run_and_a_known_metric(run_of_four):
    tests = paired_tests(run_of_four, "knn", 0.95, n_perm=2000)
    two_runs = pd.concat([tests, tests.assign(run="shallow")])
    with pytest.raises(ValueError, match=r"hold runs \['knn', 'shallow'\]; say which one"):
        significance_heatmap(two_runs, "ndcg@10", 0.95)
    assert len(significance_heatmap(two_runs, "ndcg@10", 0.95, run="shallow").axes[0].texts) == 12
    with pytest.raises(
        ValueError, match=r"no row for run 'knn' and metric 'mrr@10' \(metrics: \['hitrate@10', 'ndcg@10'\]\)"
    ):
        significance_heatmap(tests, "mrr@10", 0.95)


def test_embedding_colours_are_pinned_and_do_not_depend_on_the_other_names():
    pinned = embedding_colours(["musicnn", "mfcc", "random", "popularity", "ids"])
    assert pinned == {name: PINNED_COLOURS[name] for name in pinned}
    assert len(set(pinned.values())) == 5
    alone = embedding_colours(["mert@6"])["mert@6"]
    assert embedding_colours(["random", "mert@6", "musicnn"])["mert@6"] == alone
    assert alone not in PINNED_COLOURS.values()
