import numpy as np
import pandas as pd
import pytest

from musicrec.recommenders.inputs import InputError
from musicrec.users.coldstart import CurveOptions, ablation, bootstrap_summary, check_curve_options, convergence, run_coldstart
from users_world import aligner, estimator, single_thread, world  # noqa: F401 (fixture)


def test_the_curve_the_summary_and_the_ablation_on_the_tiny_world():
    w, fit = world(), aligner()
    options = CurveOptions(n_songs=[0, 2, 8, 32], seeds=2, bootstrap=200, lambda_grid=[0.1, 1.0], permutations=200)
    result = run_coldstart(w, fit.song_vectors, fit.user_vectors, estimator().model, options, seed=0)
    per_user = result.per_user
    assert set(per_user["selection"]) == {"random", "active"}
    assert per_user.groupby(["selection", "method", "seed", "n"]).size().eq(len(w.users("test"))).all()
    summary = bootstrap_summary(per_user, options.bootstrap, options.confidence, seed=0)
    auc = summary[(summary["metric"] == "auc") & (summary["selection"] == "random")].set_index(["method", "n"])["mean"]
    # N = 0 is the prior for every method; every learner improves on it with 32 songs
    assert auc.xs(0, level="n").nunique() == 1
    for method in ("estimator/none", "ridge", "blr", "mean_liked"):
        assert auc[(method, 32)] > auc[(method, 0)] + 0.1
    inside = summary.dropna(subset=["lower"])
    assert ((inside["lower"] <= inside["mean"] + 1e-12) & (inside["mean"] <= inside["upper"] + 1e-12)).all()
    means, tests = ablation(result, options, seed=0)
    assert set(means["cell"]) == {"none", "consistency", "prior", "both"}
    assert set(tests["n"]) == {"2", "8", "32", "all"} and tests["p_randomisation_holm"].between(0, 1).all()


def test_bootstrap_of_constant_values_is_a_point_and_seeds_widen_the_interval():
    rng = np.random.default_rng(0)
    rows = [{"selection": "random", "method": m, "n": 1, "seed": s, "user": u,
             "value": 0.5 if m == "flat" else rng.normal(0.5 + 0.2 * s, 0.1)}
            for m in ("flat", "noisy") for s in range(3) for u in range(50)]
    summary = bootstrap_summary(pd.DataFrame(rows), 500, 0.9, seed=0, metrics=("value",)).set_index("method")
    assert summary.loc["flat", "lower"] == summary.loc["flat", "upper"] == 0.5
    one_seed = bootstrap_summary(pd.DataFrame([r for r in rows if r["seed"] == 1]), 500, 0.9, 0, metrics=("value",))
    width = lambda frame: float(frame["upper"].iloc[-1] - frame["lower"].iloc[-1])  # noqa: E731
    assert width(summary.loc[["noisy"]]) > 2 * width(one_seed.set_index("method").loc[["noisy"]])


def test_convergence_is_the_first_n_after_which_the_curve_stays_within_tolerance():
    summary = pd.DataFrame({
        "selection": "random", "method": "m", "metric": "auc", "n": [0, 1, 2, 4, 8],
        "mean": [0.5, 0.79, 0.75, 0.79, 0.80],
    })
    table = convergence(summary, {"auc": 0.8}, tolerance=0.02)
    assert table["converged_at"].iloc[0] == 4  # 0.79 at N=1 does not count: N=2 drops out again
    assert np.isnan(convergence(summary, {"auc": 0.9}, tolerance=0.02)["converged_at"].iloc[0])


def test_bad_n_lists_name_the_key():
    with pytest.raises(InputError, match="users.coldstart.n_songs"):
        check_curve_options(CurveOptions(n_songs=[0, 4, 2]), 48)
    with pytest.raises(InputError, match="users.coldstart.n_songs"):
        check_curve_options(CurveOptions(n_songs=[0, 64]), 48)
