"""Benchmark the layer probe and the fusion training.

    python benchmarks/bench_probe.py            # 600 tracks, 7 layers x 512, 15 targets
    python benchmarks/bench_probe.py --quick    # 120 tracks, 2 layers x 32, 15 targets

Probe: the vectorised nested ridge probe (:func:`musicrec.layers.probe.nested_ridge`: one Gram
eigendecomposition per layer per fold, every alpha and target at once) against the straightforward
scikit-learn loop over the same protocol: for every layer x target x outer fold,
``GridSearchCV(make_pipeline(StandardScaler(), Ridge()), alphas, cv=<the same inner folds>)``
refitted on the outer training part and scored with ``r2_score`` on the outer test part. (RidgeCV
cannot standardise inside each inner fold, so it would not be the same nested protocol.) Both
run on one BLAS thread on the same synthetic data (artist-grouped tracks, layers mixing planted
linear signals with noise). The loop is timed on ``--sklearn-layers`` of the layers and the ratio
is per layer. Checks: every outer-fold R² equal to 1e-6, the same alpha chosen.

Fusion: triplet training throughput (anchor tracks per second, forward + backward + Adam) of the
softmax and attention fusions on the same layers, on one torch thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from musicrec.layers.folds import nested_splits  # noqa: E402
from musicrec.layers.probe import ProbeSettings, blas_threads, nested_ridge  # noqa: E402

N_TARGETS = 15


def synthetic(n_tracks: int, n_layers: int, width: int, seed: int = 0):
    """Layers (n, L, d) float32, targets (n, 15), artists (n,): target t is linear in layer-specific mixtures."""
    rng = np.random.default_rng(seed)
    artists = np.repeat(np.arange(n_tracks // 5 + 1), 5)[:n_tracks].astype(str)
    latent = rng.standard_normal((n_tracks, N_TARGETS))
    targets = latent * rng.uniform(0.5, 50, size=N_TARGETS) + rng.uniform(-10, 10, size=N_TARGETS)
    layers = np.empty((n_tracks, n_layers, width), dtype=np.float32)
    for index in range(n_layers):
        strength = rng.uniform(0, 1, size=N_TARGETS)  # how much of each target this layer carries
        mixing = rng.standard_normal((N_TARGETS, width))
        layers[:, index] = (latent * strength) @ mixing + 2.0 * rng.standard_normal((n_tracks, width))
    return layers, targets, artists


def sklearn_nested(x: np.ndarray, y: np.ndarray, splits, alphas) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = np.empty((len(splits), y.shape[1]))
    chosen = np.empty((len(splits), y.shape[1]))
    for target in range(y.shape[1]):
        for k, (train, test, inner) in enumerate(splits):
            search = GridSearchCV(
                make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": list(alphas)}, cv=inner, scoring="r2"
            ).fit(x[train], y[train, target])
            scores[k, target] = r2_score(y[test, target], search.predict(x[test]))
            chosen[k, target] = search.best_params_["ridge__alpha"]
    return scores, chosen


def fusion_throughput(layers: np.ndarray, artists: np.ndarray, kind: str, epochs: int) -> tuple[float, int]:
    import torch

    from musicrec.layers.fusion_training import FusionOptions, train_fusion
    from musicrec.layers.stack import check_stack

    torch.set_num_threads(1)
    stack = check_stack(
        layers, {"layer_names": [f"l{i}" for i in range(layers.shape[1])], "layer_dims": [layers.shape[2]] * layers.shape[1]},
        "synthetic",
    )
    options = FusionOptions(kind=kind, max_epochs=epochs, patience=epochs, val_triplets=500)
    result = train_fusion(stack, artists, artists, options, seed=0)
    return result.train_anchors * result.outcome.trained_epochs / result.seconds, result.train_anchors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--sklearn-layers", type=int, default=None, help="layers the scikit-learn loop is timed on")
    args = parser.parse_args()
    n_tracks, n_layers, width = (120, 2, 32) if args.quick else (600, 7, 512)
    sklearn_layers = args.sklearn_layers or (1 if args.quick else 2)
    settings = ProbeSettings()
    layers, targets, artists = synthetic(n_tracks, n_layers, width)
    splits = nested_splits(artists, settings.outer_folds, settings.inner_folds, seed=0)
    print(
        f"probe: {n_tracks} tracks, {n_layers} layers x {width}, {N_TARGETS} targets, "
        f"{settings.outer_folds} outer x {settings.inner_folds} inner folds, {len(settings.alphas)} alphas"
    )
    with blas_threads(1):
        started = time.perf_counter()
        fast = [nested_ridge(layers[:, i].astype(np.float64), targets, splits, settings.alphas) for i in range(n_layers)]
        fast_seconds = time.perf_counter() - started
        started = time.perf_counter()
        slow = [
            sklearn_nested(layers[:, i].astype(np.float64), targets, splits, settings.alphas)
            for i in range(sklearn_layers)
        ]
        slow_seconds = time.perf_counter() - started
    worst = max(float(np.abs(fast[i][0] - slow[i][0]).max()) for i in range(sklearn_layers))
    same_alpha = all(np.array_equal(fast[i][1], slow[i][1]) for i in range(sklearn_layers))
    per_fast, per_slow = fast_seconds / n_layers, slow_seconds / sklearn_layers
    rows = [
        ("vectorised (one decomposition per layer x fold)", per_fast, n_layers * per_fast),
        ("scikit-learn GridSearchCV loop (layer x target x fold)", per_slow, n_layers * per_slow),
    ]
    print(f"{'method':58s} {'s / layer':>10s} {'s, all layers':>14s}")
    for name, per_layer, total in rows:
        print(f"{name:58s} {per_layer:10.3f} {total:14.2f}")
    ratio = per_slow / per_fast
    print(f"speed ratio: {ratio:.1f}x (target >= 10x); max |R² difference| {worst:.2e} (must be <= 1e-6); "
          f"same alphas chosen: {same_alpha}  [sklearn timed on {sklearn_layers} layer(s)]")
    ok = worst <= 1e-6 and same_alpha
    print("\nfusion training throughput (one torch thread):")
    print(f"{'fusion':12s} {'anchors/s':>10s} {'anchors/epoch':>14s}")
    fusion_throughput(layers, artists, "softmax", epochs=1)  # warm-up: torch's first-call costs
    for kind in ("softmax", "attention"):
        rate, anchors = fusion_throughput(layers, artists, kind, epochs=2 if args.quick else 3)
        print(f"{kind:12s} {rate:10.0f} {anchors:14d}")
    if not ok:
        print("FAILED: the vectorised probe disagrees with scikit-learn", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
