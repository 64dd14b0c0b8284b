"""The comparison table of one recommender family: one row per run × embedding.

Rows carry what a reader needs to trust a number: the mean with its interval over users,
the number of users, the spread of the mean over training seeds, the embedding's size and
failed tracks, the val/test pairs the common item set removed, and whether the run
collapsed (a collapsed row is kept, flagged, and left out of every verdict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from musicrec.evaluation.intervals import SUMMARY_COLUMNS
from musicrec.evaluation.metrics import metric_columns

ID_COLUMNS = ["run", "embedding", "dim", "n_failed", "n_users", "n_seeds", "pairs_removed", "collapsed", "collapse"]


@dataclass
class Cell:
    """One run on one embedding, as the evaluation left it."""

    run: str
    embedding: str
    summary: pd.DataFrame  # summarise() rows + seed_sd, seed_min, seed_max, n_seeds
    report: Mapping  # the evaluation report (n_users, pairs removed, collapse)
    dim: int = 0  # 0: no embedding (popularity)
    n_failed: int = 0
    extra: dict = field(default_factory=dict)


def table_columns(k: int) -> list[str]:
    """``ID_COLUMNS``, then per metric ``m``: ``m, m_lower, m_upper, m_seed_sd``."""
    columns = list(ID_COLUMNS)
    for metric in metric_columns(k):
        columns += [metric, f"{metric}_lower", f"{metric}_upper", f"{metric}_seed_sd"]
    return columns


def make_table(cells: Sequence[Cell], k: int) -> pd.DataFrame:
    """One row per cell with :func:`table_columns` ``(k)``; within each run, rows by ``hitrate@k``
    descending (ties keep the given order), runs in the given order.

    Raises ValueError when a summary lacks a column or a metric (computed at another k?),
    repeats a metric, or a (run, embedding) pair appears twice.
    """
    if not cells:
        raise ValueError("make_table needs at least one (run, embedding) cell")
    metrics = metric_columns(k)
    seen = set()
    rows = []
    for cell in cells:
        if (cell.run, cell.embedding) in seen:
            raise ValueError(f"run {cell.run!r} on embedding {cell.embedding!r} appears twice")
        seen.add((cell.run, cell.embedding))
        summary = _indexed_summary(cell.summary, f"{cell.run}/{cell.embedding}", metrics)
        collapse = cell.report.get("collapse", {})
        row = {
            "run": cell.run,
            "embedding": cell.embedding,
            "dim": int(cell.dim),
            "n_failed": int(cell.n_failed),
            "n_users": int(summary["n_users"].iloc[0]),
            "n_seeds": int(summary["n_seeds"].iloc[0]) if "n_seeds" in summary else 1,
            "pairs_removed": int(cell.report.get("n_pairs_removed_by_item_set", 0)),
            "collapsed": bool(collapse.get("collapsed", False)),
            "collapse": "; ".join(collapse.get("reasons", [])),
        }
        for metric in metrics:
            row[metric] = summary.at[metric, "mean"]
            row[f"{metric}_lower"] = summary.at[metric, "lower"]
            row[f"{metric}_upper"] = summary.at[metric, "upper"]
            row[f"{metric}_seed_sd"] = summary.at[metric, "seed_sd"] if "seed_sd" in summary else 0.0
        rows.append(row)
    table = pd.DataFrame(rows, columns=table_columns(k))
    order = {run: i for i, run in enumerate(dict.fromkeys(table["run"]))}
    table = table.assign(_run=table["run"].map(order), _row=range(len(table)))
    table = table.sort_values(["_run", metrics[0], "_row"], ascending=[True, False, True], kind="stable")
    return table.drop(columns=["_run", "_row"]).reset_index(drop=True)


def _indexed_summary(summary: pd.DataFrame, name: str, metrics: list[str]) -> pd.DataFrame:
    missing_columns = [column for column in SUMMARY_COLUMNS if column not in summary.columns]
    if missing_columns:
        raise ValueError(f"summary of {name!r} lacks column(s) {missing_columns}")
    if summary["metric"].duplicated().any():
        repeated = summary.loc[summary["metric"].duplicated(), "metric"].iloc[0]
        raise ValueError(f"summary of {name!r} lists metric {repeated!r} twice")
    missing_metrics = [metric for metric in metrics if metric not in set(summary["metric"])]
    if missing_metrics:
        raise ValueError(
            f"summary of {name!r} lacks metric(s) {missing_metrics}; it has {list(summary['metric'])} "
            "(computed at another k?)"
        )
    return summary.set_index("metric")


def narrow_catalogue_warnings(n_tracks: int, dims: Mapping[str, int], trained: bool, factor: int = 5) -> dict[str, str]:
    """embedding -> warning, for embeddings wider than 1/``factor`` of the catalogue, when a model trains on them.

    A trained model's projection and user vectors can turn that many frozen random vectors
    into free item ids, so random stops being a floor; Music4All's 56k tracks are far wider
    than any embedding.
    """
    if not trained:
        return {}
    return {
        name: f"embedding {name!r} is {dim}-d but the catalogue has only {n_tracks} tracks (< {factor}x): a trained "
        "model can learn item ids from any vectors this wide, so audio and random may not separate"
        for name, dim in dims.items()
        if dim > 0 and n_tracks < factor * dim
    }


def display_table(
    table: pd.DataFrame, k: int, digits: int = 3, narrow: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The table as a reader sees it in the report: one cell per metric, ``mean [lower, upper]``.

    Rounded to ``digits``; ``± sd`` over seeds is appended when a run has several seeds;
    a collapsed row says so in its ``note``, and so does a row whose embedding is too wide for
    the catalogue (``narrow``: embedding -> warning, see :func:`narrow_catalogue_warnings`).
    """
    narrow = dict(narrow or {})
    rows = []
    for values in table.to_dict("records"):
        row = {
            "run": values["run"],
            "embedding": values["embedding"],
            "users": values["n_users"],
            "seeds": values["n_seeds"],
            "dim": values["dim"],
        }
        for metric in metric_columns(k):
            lower, upper = values[metric + "_lower"], values[metric + "_upper"]
            interval = "no interval (one user)" if pd.isna(lower) else f"[{lower:.{digits}f}, {upper:.{digits}f}]"
            text = f"{values[metric]:.{digits}f} {interval}"
            if values["n_seeds"] > 1:
                text += f" ±{values[metric + '_seed_sd']:.{digits}f}"
            row[metric] = text
        row["failed tracks"] = values["n_failed"]
        row["pairs removed"] = values["pairs_removed"]
        notes = [f"COLLAPSED: {values['collapse']}"] if values["collapsed"] else []
        if values["embedding"] in narrow:
            notes.append(narrow[values["embedding"]])
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows)
