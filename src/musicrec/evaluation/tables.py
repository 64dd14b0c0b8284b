"""The comparison table of one recommender: one row per audio backbone."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from musicrec.evaluation.intervals import SUMMARY_COLUMNS
from musicrec.evaluation.metrics import metric_columns


def table_columns(k: int) -> list[str]:
    """The table's columns: ``backbone, dim, n_failed``, then per metric ``m``: ``m, m_lower, m_upper``."""
    columns = ["backbone", "dim", "n_failed"]
    for metric in metric_columns(k):
        columns += [metric, f"{metric}_lower", f"{metric}_upper"]
    return columns


def make_table(
    summaries: Mapping[str, pd.DataFrame],
    dims: Mapping[str, int],
    failures: Mapping[str, int],
    k: int,
) -> pd.DataFrame:
    """Gather each backbone's test summary into one row.

    Args:
        summaries: backbone -> its test summary, as
            :func:`musicrec.evaluation.intervals.summarise` returns (one row
            per metric: ``metric, mean, lower, upper, n_users``); it must
            hold every metric of :func:`metric_columns` ``(k)``.
        dims: backbone -> embedding size.
        failures: backbone -> number of tracks whose audio could not be
            embedded.
        k: the cut-off the metrics were computed at.

    Returns:
        One row per backbone with :func:`table_columns` ``(k)``, sorted by
        ``hitrate@k`` descending (ties keep the order of ``summaries``), index
        0..n-1.

    Raises:
        ValueError: when the three mappings name different backbones, or a
            summary lacks a column or a metric, or repeats a metric.
    """
    backbones = list(summaries)
    for name, mapping in (("dims", dims), ("failures", failures)):
        if set(mapping) != set(backbones):
            raise ValueError(f"{name} cover backbones {sorted(mapping)}, summaries cover {sorted(backbones)}")
    metrics = metric_columns(k)
    rows = []
    for backbone in backbones:
        summary = _indexed_summary(summaries[backbone], backbone, metrics)
        row = {"backbone": backbone, "dim": int(dims[backbone]), "n_failed": int(failures[backbone])}
        for metric in metrics:
            row[metric] = summary.at[metric, "mean"]
            row[f"{metric}_lower"] = summary.at[metric, "lower"]
            row[f"{metric}_upper"] = summary.at[metric, "upper"]
        rows.append(row)
    table = pd.DataFrame(rows, columns=table_columns(k))
    hitrate = metrics[0]  # metric_columns lists hitrate@k first
    return table.sort_values(hitrate, ascending=False, kind="stable").reset_index(drop=True)


def _indexed_summary(summary: pd.DataFrame, backbone: str, metrics: list[str]) -> pd.DataFrame:
    missing_columns = [column for column in SUMMARY_COLUMNS if column not in summary.columns]
    if missing_columns:
        raise ValueError(f"summary of backbone {backbone!r} lacks column(s) {missing_columns}")
    if summary["metric"].duplicated().any():
        repeated = summary.loc[summary["metric"].duplicated(), "metric"].iloc[0]
        raise ValueError(f"summary of backbone {backbone!r} lists metric {repeated!r} twice")
    missing_metrics = [metric for metric in metrics if metric not in set(summary["metric"])]
    if missing_metrics:
        raise ValueError(
            f"summary of backbone {backbone!r} lacks metric(s) {missing_metrics}; "
            f"it has {list(summary['metric'])} (computed at another k?)"
        )
    return summary.set_index("metric")


def stack_runs(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One family's table from its runs' tables (e.g. shallow-embedding, shallow-interaction).

    In: run name -> a :func:`make_table` result. Out: the rows of all runs with a leading
    ``model`` column, each run's rows in their own (ranked) order, runs in the given order.
    """
    if not tables:
        raise ValueError("stack_runs needs at least one run's table")
    return pd.concat(
        [table.assign(model=run)[["model", *table.columns]] for run, table in tables.items()],
        ignore_index=True,
    )
