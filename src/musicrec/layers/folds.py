"""Cross-validation folds grouped by artist: no artist's tracks on both sides of a split.

A track's neighbours by the same artist share production, timbre and tempo; a probe
scored on tracks whose artist it has seen in training measures artist memory, not what a
layer encodes. :func:`group_folds` assigns whole groups to folds, deterministically from a
seed and balanced by track count, like scikit-learn's ``GroupKFold`` with a seeded order.
"""

from __future__ import annotations

import numpy as np


def group_folds(groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """The fold (0..n_folds-1) of every item, whole groups at a time.

    In: ``groups`` (n,) any hashable labels (artists), ``n_folds`` >= 2, ``seed``.
    Out: (n,) int fold ids. Groups are shuffled by ``seed``, ordered by size (largest
    first, ties in shuffled order) and each goes to the fold holding the fewest items so
    far, so folds are balanced and every group lies in exactly one fold.
    Raises ValueError when there are fewer groups than folds.
    """
    groups = np.asarray(groups)
    labels, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    if len(labels) < n_folds:
        raise ValueError(
            f"{len(labels)} distinct groups (artists) cannot fill {n_folds} folds without putting a group on "
            "both sides; lower the number of folds"
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    order = order[np.argsort(-sizes[order], kind="stable")]
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of_group = np.empty(len(labels), dtype=np.int64)
    for group in order:
        fold = int(np.argmin(load))
        fold_of_group[group] = fold
        load[fold] += sizes[group]
    return fold_of_group[inverse]


def fold_splits(folds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train_indices, test_indices), ...]`` for fold ids (n,), one pair per fold in order."""
    folds = np.asarray(folds)
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(int(folds.max()) + 1)]


def nested_splits(
    groups: np.ndarray, outer_folds: int, inner_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]]:
    """Outer splits, each with inner splits of its training part, all grouped.

    Out: ``[(train, test, [(inner_train, inner_val), ...]), ...]``: ``train``/``test`` index
    the n items; inner pairs index positions *within* ``train`` (as scikit-learn's ``cv=``
    expects when fitting on ``X[train]``). Inner folds of outer fold k are seeded by
    ``(seed, k)``.
    """
    groups = np.asarray(groups)
    outer = fold_splits(group_folds(groups, outer_folds, seed))
    splits = []
    for k, (train, test) in enumerate(outer):
        inner_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        inner = fold_splits(group_folds(groups[train], inner_folds, inner_seed))
        splits.append((train, test, inner))
    return splits
