"""Linear probes per layer x target, nested cross-validation grouped by artist, and their controls.

Regression targets (the acoustic proxies): ridge regression, ``min ||y - Xw - b||² + α||w||²``
on features and targets standardised with the *training* part's mean and standard deviation
(so nothing of the held-out part leaks in). α is chosen per target by an inner
cross-validation on the outer training part (mean inner R², first best on ties, as
scikit-learn's ``GridSearchCV``) and the probe refitted with it on the whole outer training
part is scored on the outer test part (R², ``sklearn.metrics.r2_score``'s definition: the
test part's own mean is the baseline). Every split is grouped by artist
(:mod:`musicrec.layers.folds`).

Vectorised: one decomposition per layer per (inner or outer) training part, the symmetric
eigendecomposition of the smaller Gram matrix (``X Xᵀ = U S² Uᵀ`` or ``XᵀX = V S² Vᵀ``, i.e.
the SVD ``X = U S Vᵀ``), gives the ridge solution for *every* α and *every* target at once,
``ŷ(α) = X_test V diag(s / (s² + α)) Uᵀ Y``, so a layer costs ``outer × (inner + 1)``
decompositions instead of ``targets × α × folds`` estimator fits.

Label targets (genre, artist): multinomial logistic regression with its L2 penalty chosen by
the same nested scheme, fitted in the singular basis ``Z = U S`` of the standardised training
features, which is exact for an L2 penalty (the optimum lies in X's row space) and makes each
fit ``min(n, d)``-dimensional; every penalty of the grid is fitted at once by one L-BFGS run with the
analytic gradient (:func:`softmax_regression_predict`). The majority class of the training part is the
chance level. Artist as a target cannot be grouped by artist (an unseen artist cannot be
named), so its folds are grouped by album instead (:data:`LABEL_GROUPING`). A class found
in a single group (an artist with one album) could never be predicted across grouped folds,
so only classes spanning two or more groups are probed.

Controls: a shuffled-target control (the training part's targets permuted across tracks,
scored on the true test targets: what a probe of this capacity gets from no information)
here, and the random-weights control, which is the same probe run on a randomly initialised
model's layers (:func:`probe_table` joins the two runs). Selectivity = real − control.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from musicrec.layers.folds import nested_splits

# Which catalogue column each label target's folds are grouped by.
LABEL_GROUPING = {"genre": "artist", "artist": "album"}
CONTROLS = ("none", "shuffled")
FOLD_COLUMNS = ["control", "layer_index", "layer", "target", "task", "fold", "score", "chance", "regularisation"]


@dataclass(frozen=True)
class ProbeSettings:
    """The probe's protocol: folds, grids, seed (the ``layers.probe`` config block)."""

    outer_folds: int = 5
    inner_folds: int = 3
    alphas: tuple[float, ...] = (1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5)  # ridge penalties (standardised X)
    penalties: tuple[float, ...] = (1e-2, 1e-1, 1.0)  # logistic λ (mean cross-entropy + λ/2 ||W||²)
    max_iter: int = 30  # L-BFGS iterations of a logistic fit (a probe of this capacity; each may search its line)
    shuffled_control: bool = True
    seed: int = 0

    @classmethod
    def from_mapping(cls, options: Mapping | None, seed: int) -> "ProbeSettings":
        options = dict(options or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"layers.probe: unknown key(s) {unknown}; known keys are {sorted(known)}")
        for key in ("alphas", "penalties"):
            if key in options:
                values = tuple(float(v) for v in options[key])
                if not values or min(values) <= 0:
                    raise ValueError(f"layers.probe.{key}: expected a non-empty list of positive numbers, got {values}")
                options[key] = values
        return cls(**{"seed": int(seed), **options})


@contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Cap BLAS threads (None: leave them). The probe is thousands of small products and
    decompositions; on shared cores a second BLAS thread spinning for its turn was seen to
    make them 10-20x slower, so one thread per probe job is the default."""
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(limit), user_api="blas"):
        yield


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """``train`` and ``others`` (n_i, d) minus the training mean, over its standard deviation.

    Zero-variance columns keep scale 1 (as ``StandardScaler``), so they become 0, not NaN.
    """
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    scale[scale < 10 * np.finfo(scale.dtype).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
    return [(array - mean) / scale for array in (train, *others)]


def r2_scores(truth: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """R² of predictions (..., n, T) against truth (n, T), per target: (..., T).

    A constant target gives 1 for a perfect prediction and 0 otherwise (``r2_score``'s rule).
    """
    residual = ((predictions - truth) ** 2).sum(axis=-2)
    total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = 1.0 - residual / total
    constant = total == 0
    if constant.any():
        scores[..., constant] = np.where(residual[..., constant] == 0, 1.0, 0.0)
    return scores


def ridge_path_scores(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, alphas: np.ndarray
) -> np.ndarray:
    """Test R² of ridge for every α and target from one SVD: (n_alphas, T).

    In: features (n_train, d) / (n_test, d) and targets (n_train, T) / (n_test, T), raw;
    both are standardised on the training part here. Out: R² per α (rows, in ``alphas``
    order) and target.
    """
    x_train, x_test = standardise(x_train, x_test)
    y_train_std, = standardise(y_train)
    n, d = x_train.shape
    # One symmetric eigendecomposition of the smaller Gram matrix (n x n or d x d) gives the
    # squared singular values s² and the singular vectors on the smaller side.
    if n <= d:
        s2, u = np.linalg.eigh(x_train @ x_train.T)  # X Xᵀ = U S² Uᵀ
        keep = s2 > max(s2[-1], 0.0) * 1e-12
        s2, u = s2[keep], u[:, keep]
        left = (x_test @ x_train.T) @ u  # X_test V S = X_test Xᵀ U, (n_test, r)
        right = u.T @ y_train_std  # Uᵀ Y, (r, T)
        shrink = 1.0 / (s2[None, :] + alphas[:, None])  # X_test V S (S² + α)⁻¹ Uᵀ Y
    else:
        s2, v = np.linalg.eigh(x_train.T @ x_train)  # Xᵀ X = V S² Vᵀ
        keep = s2 > max(s2[-1], 0.0) * 1e-12
        s2, v = s2[keep], v[:, keep]
        left = x_test @ v  # (n_test, r)
        right = v.T @ (x_train.T @ y_train_std)  # Vᵀ Xᵀ Y = S Uᵀ Y, (r, T)
        shrink = 1.0 / (s2[None, :] + alphas[:, None])  # X_test V (S² + α)⁻¹ S Uᵀ Y
    predictions = (left[None] * shrink[:, None, :]) @ right  # (n_alphas, n_test, T)
    y_mean, y_scale = y_train.mean(axis=0), y_train.std(axis=0)
    y_scale = np.where(y_scale > 0, y_scale, 1.0)
    return r2_scores(y_test, predictions * y_scale + y_mean)


def nested_ridge(
    x: np.ndarray,
    y: np.ndarray,
    splits: Sequence,
    alphas: Sequence[float],
    permutation_seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Outer-fold R² (n_outer, T) and chosen α (n_outer, T) of the nested ridge probe.

    In: features (n, d), targets (n, T), ``splits`` from :func:`~musicrec.layers.folds.nested_splits`
    over these n rows, the α grid. With ``permutation_seed`` the targets of each outer
    training part are permuted across its tracks first (the shuffled-target control); the
    test targets stay true.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    scores = np.empty((len(splits), y.shape[1]))
    chosen = np.empty((len(splits), y.shape[1]))
    for k, (train, test, inner) in enumerate(splits):
        x_train, y_train = x[train], y[train]
        if permutation_seed is not None:
            y_train = y_train[np.random.default_rng([permutation_seed, k]).permutation(len(train))]
        inner_scores = np.mean(
            [ridge_path_scores(x_train[fit], y_train[fit], x_train[val], y_train[val], alphas) for fit, val in inner],
            axis=0,
        )
        best = np.argmax(inner_scores, axis=0)  # first best, as GridSearchCV
        outer_scores = ridge_path_scores(x_train, y_train, x[test], y[test], alphas)
        scores[k] = outer_scores[best, np.arange(y.shape[1])]
        chosen[k] = alphas[best]
    return scores, chosen


def _kernel_basis(x_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Standardised training features and ``others`` in the training part's singular basis (n_i, r).

    ``Z = X V = U S`` from one eigendecomposition of the smaller Gram matrix; an L2-penalised
    linear model on ``Z`` equals the same model on ``X`` (its optimum lies in X's row space).
    """
    x_train, *others = standardise(x_train, *others)
    n, d = x_train.shape
    if n <= d:
        s2, u = np.linalg.eigh(x_train @ x_train.T)
        keep = s2 > max(s2[-1], 0.0) * 1e-12
        s, u = np.sqrt(s2[keep]), u[:, keep]
        return [u * s, *((other @ x_train.T) @ (u / s) for other in others)]
    s2, v = np.linalg.eigh(x_train.T @ x_train)
    v = v[:, s2 > max(s2[-1], 0.0) * 1e-12]
    return [x_train @ v, *(other @ v for other in others)]


def softmax_regression_predict(
    z_train: np.ndarray,
    labels_train: np.ndarray,
    z_eval: np.ndarray,
    penalties: Sequence[float],
    max_iter: int,
) -> np.ndarray:
    """Predicted classes (n_penalties, n_eval) of multinomial logistic regressions, one per penalty.

    Each minimises ``mean_i CE(z_i W + b, y_i) + λ/2 ||W||²`` (bias unpenalised) over the
    classes present in ``labels_train``. All penalties are solved at once as one separable
    problem by L-BFGS (scipy, analytic gradient, float64, deterministic), starting from 0.
    """
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    classes, encoded = np.unique(labels_train, return_inverse=True)
    if len(classes) == 1:
        return np.full((len(penalties), len(z_eval)), classes[0])
    z = np.ascontiguousarray(z_train, dtype=np.float64)
    n, r = z.shape
    n_grid, n_classes = len(penalties), len(classes)
    lam = np.asarray(penalties, dtype=np.float64)[:, None, None]
    one_hot = np.eye(n_classes)[encoded]  # (n, K)
    size = n_grid * r * n_classes

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        weights = flat[:size].reshape(n_grid, r, n_classes)
        bias = flat[size:].reshape(n_grid, 1, n_classes)
        log_p = log_softmax(np.matmul(z, weights) + bias, axis=-1)  # (G, n, K)
        loss = -(log_p * one_hot).sum() / n + 0.5 * (lam * weights**2).sum()
        residual = (np.exp(log_p) - one_hot) / n  # d loss / d logits
        grad_w = np.matmul(z.T, residual) + lam * weights  # (G, r, K)
        grad_b = residual.sum(axis=1)
        return float(loss), np.concatenate([grad_w.reshape(-1), grad_b.reshape(-1)])

    result = minimize(
        objective, np.zeros(size + n_grid * n_classes), jac=True, method="L-BFGS-B",
        options={"maxiter": int(max_iter), "gtol": 1e-6},
    )
    weights = result.x[:size].reshape(n_grid, r, n_classes)
    bias = result.x[size:].reshape(n_grid, 1, n_classes)
    logits = np.matmul(np.asarray(z_eval, dtype=np.float64), weights) + bias
    return classes[logits.argmax(axis=-1)]


def nested_logistic(
    x: np.ndarray,
    labels: np.ndarray,
    splits: Sequence,
    penalties: Sequence[float],
    max_iter: int = 100,
    permutation_seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outer-fold accuracy, chance accuracy and chosen penalty, each (n_outer,), of the logistic probe.

    In: features (n, d), integer labels (n,), nested splits over these rows, the λ grid.
    The penalty is chosen on mean inner accuracy (first best on ties). Chance: the training
    part's majority class predicted for every test track.
    """
    accuracy, chance, chosen = (np.empty(len(splits)) for _ in range(3))
    for k, (train, test, inner) in enumerate(splits):
        x_train, labels_train = x[train], labels[train]
        if permutation_seed is not None:
            labels_train = labels_train[np.random.default_rng([permutation_seed, k]).permutation(len(train))]
        inner_scores = np.zeros(len(penalties))
        for fit, val in inner:
            z_fit, z_val = _kernel_basis(x_train[fit], x_train[val])
            predicted = softmax_regression_predict(z_fit, labels_train[fit], z_val, penalties, max_iter)
            inner_scores += (predicted == labels_train[val]).mean(axis=1)
        best = int(np.argmax(inner_scores))
        z_train, z_test = _kernel_basis(x_train, x[test])
        predicted = softmax_regression_predict(z_train, labels_train, z_test, [penalties[best]], max_iter)[0]
        accuracy[k] = float(np.mean(predicted == labels[test]))
        values, counts = np.unique(labels_train, return_counts=True)
        chance[k] = float(np.mean(labels[test] == values[np.argmax(counts)]))
        chosen[k] = penalties[best]
    return accuracy, chance, chosen


def layer_views(stack: np.ndarray, layer_dims: Sequence[int]) -> list[np.ndarray]:
    """The layers of a zero-padded (n, L, d_max) stack, each cut to its own width: [(n, d_l), ...]."""
    if stack.ndim != 3 or stack.shape[1] != len(layer_dims):
        raise ValueError(f"expected a (n_tracks, {len(layer_dims)}, d_max) layer stack, got shape {stack.shape}")
    return [stack[:, index, : int(width)] for index, width in enumerate(layer_dims)]


def probe_layers(
    layers: Sequence[np.ndarray],
    layer_names: Sequence[str],
    targets: pd.DataFrame,
    labels: pd.DataFrame,
    settings: ProbeSettings,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Every layer x target probe, with the shuffled-target control: one row per outer fold.

    In: ``layers`` [(n, d_l), ...] (rows of failed tracks NaN), their names, ``targets``
    (n rows: one float column per regression target, NaN = undefined), ``labels`` (n rows:
    the label targets to probe plus the grouping columns ``artist`` and ``album``;
    None/NaN = no label). Out: :data:`FOLD_COLUMNS` rows; ``control`` is ``none`` or
    ``shuffled``, ``score`` is R² (regression) or accuracy (classification), ``chance``
    the majority-class accuracy (NaN for regression), ``regularisation`` the α or C chosen.

    Folds are grouped by artist (by album for the ``artist`` label) and drawn over the
    tracks valid for a target, so every layer of one run sees the same folds. ``threads``
    caps BLAS threads (:func:`blas_threads`).
    """
    with blas_threads(threads):
        return _probe_layers(layers, layer_names, targets, labels, settings)


def _probe_layers(layers, layer_names, targets, labels, settings) -> pd.DataFrame:
    if len(layers) != len(layer_names):
        raise ValueError(f"{len(layers)} layers but {len(layer_names)} layer names")
    n = len(targets)
    for frame, what in ((labels, "labels"),):
        if len(frame) != n:
            raise ValueError(f"{what} has {len(frame)} rows, targets {n}; both must list every track")
    if "artist" not in labels.columns:
        raise ValueError(f"labels: need an 'artist' column to group folds by; found {list(labels.columns)}")
    if any(layer.shape[0] != n for layer in layers):
        raise ValueError(f"every layer must have {n} rows (one per track), got {[layer.shape[0] for layer in layers]}")
    features_valid = np.logical_and.reduce([np.isfinite(layer).all(axis=1) for layer in layers])
    artists = labels["artist"].astype(str).to_numpy()
    controls = [("none", None)] + ([("shuffled", settings.seed + 1)] if settings.shuffled_control else [])
    rows = []

    regression = [c for c in targets.columns if c not in ("track_idx", "track_id")]
    values = targets[regression].to_numpy(dtype=np.float64)
    # Targets sharing a validity pattern (usually all of them) are probed in one pass.
    patterns: dict[bytes, list[int]] = {}
    for j in range(len(regression)):
        patterns.setdefault((np.isfinite(values[:, j]) & features_valid).tobytes(), []).append(j)
    for pattern, columns in patterns.items():
        valid = np.flatnonzero(np.frombuffer(pattern, dtype=bool))
        splits = nested_splits(artists[valid], settings.outer_folds, settings.inner_folds, settings.seed)
        y = values[np.ix_(valid, columns)]
        for index, (layer, name) in enumerate(zip(layers, layer_names)):
            x = np.asarray(layer[valid], dtype=np.float64)
            for control, permutation in controls:
                scores, alphas = nested_ridge(x, y, splits, settings.alphas, permutation)
                for fold in range(len(splits)):
                    for column, j in enumerate(columns):
                        rows.append((control, index, name, regression[j], "regression", fold,
                                     scores[fold, column], np.nan, alphas[fold, column]))

    for label in [c for c in LABEL_GROUPING if c in labels.columns]:
        grouping = LABEL_GROUPING[label]
        if grouping not in labels.columns:
            raise ValueError(f"labels: the {label!r} probe groups folds by {grouping!r}, which is missing")
        present = labels[label].notna().to_numpy() & features_valid
        # A class found in one group only (an artist with one album, a genre of one artist) is
        # on one side of every grouped split: never predictable, it would only deflate accuracy.
        spread = labels[present].groupby(label)[grouping].nunique()
        present &= labels[label].isin(spread.index[spread >= 2]).to_numpy()
        valid = np.flatnonzero(present)
        classes, encoded = np.unique(labels[label].to_numpy()[valid].astype(str), return_inverse=True)
        if len(classes) < 2:
            continue
        splits = nested_splits(
            labels[grouping].astype(str).to_numpy()[valid], settings.outer_folds, settings.inner_folds, settings.seed
        )
        for index, (layer, name) in enumerate(zip(layers, layer_names)):
            x = np.asarray(layer[valid], dtype=np.float64)
            for control, permutation in controls:
                accuracy, chance, chosen = nested_logistic(
                    x, encoded, splits, settings.penalties, settings.max_iter, permutation
                )
                for fold in range(len(splits)):
                    rows.append((control, index, name, label, "classification", fold,
                                 accuracy[fold], chance[fold], chosen[fold]))
    return pd.DataFrame(rows, columns=FOLD_COLUMNS)


def fold_interval(scores: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval over folds; a point interval when all folds agree."""
    scores = np.asarray(scores, dtype=np.float64)
    mean = float(scores.mean())
    if len(scores) < 2:
        return mean, np.nan, np.nan
    sem = float(scores.std(ddof=1) / np.sqrt(len(scores)))
    if sem == 0:
        return mean, mean, mean
    half = float(stats.t.ppf((1 + confidence) / 2, len(scores) - 1) * sem)
    return mean, mean - half, mean + half


def summarise_folds(folds: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """One row per control x layer x target: mean, lower, upper over folds, n_folds, chance, regularisation."""
    rows = []
    keys = ["control", "layer_index", "layer", "target", "task"]
    for key, group in folds.groupby(keys, sort=False):
        mean, lower, upper = fold_interval(group["score"].to_numpy(), confidence)
        rows.append((*key, mean, lower, upper, len(group), group["chance"].mean(), group["regularisation"].median()))
    return pd.DataFrame(rows, columns=keys + ["mean", "lower", "upper", "n_folds", "chance", "regularisation"])


def probe_table(real: pd.DataFrame, random_control: pd.DataFrame | None, confidence: float) -> pd.DataFrame:
    """The layer x target table with controls and selectivity.

    In: fold rows (:func:`probe_layers`) of the real model and, optionally, of the
    random-weights control model (same layers by position). Out: one row per layer x target:
    ``score`` (R² or accuracy) mean/lower/upper, ``chance``, the shuffled control's mean and
    ``selectivity_shuffled`` = real − shuffled, the random-weights control's mean and
    ``selectivity_random`` = real − random (NaN where there is no such control).
    """
    summary = summarise_folds(real, confidence)
    keys = ["layer_index", "target"]
    table = summary[summary["control"] == "none"].drop(columns="control").reset_index(drop=True)
    shuffled = summary[summary["control"] == "shuffled"].set_index(keys)["mean"]
    table["shuffled_mean"] = table.set_index(keys).index.map(shuffled.to_dict()).astype(float)
    table["selectivity_shuffled"] = table["mean"] - table["shuffled_mean"]
    if random_control is not None:
        control_summary = summarise_folds(random_control, confidence)
        control = control_summary[control_summary["control"] == "none"].set_index(keys)
        table["random_mean"] = table.set_index(keys).index.map(control["mean"].to_dict()).astype(float)
        table["random_lower"] = table.set_index(keys).index.map(control["lower"].to_dict()).astype(float)
        table["random_upper"] = table.set_index(keys).index.map(control["upper"].to_dict()).astype(float)
    else:
        table["random_mean"] = table["random_lower"] = table["random_upper"] = np.nan
    table["selectivity_random"] = table["mean"] - table["random_mean"]
    table.insert(table.columns.get_loc("task") + 1, "metric", np.where(table["task"] == "regression", "r2", "accuracy"))
    return table
