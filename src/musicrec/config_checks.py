"""Start-up checks of a workflow config that the JSON schema cannot express.

The schema (``schemas/config.schema.yaml``) checks types and ranges key by key.
What needs several keys, the calendar, or a plug-in's own option names is
checked here, so that a mistake fails when the workflow starts, naming the key,
instead of hours later inside one job (and, with ``retries`` on a cluster, three
times). :func:`check_config` is a pure function of the config dict: it imports
neither torch nor TensorFlow, because backbone option names come from the
registry's :data:`~musicrec.backbones.PLUGIN_OPTION_NAMES`.

Checked:

- ``split.start_date``, ``split.test_date``, ``split.end_date``: real calendar
  dates written ``YYYY-MM-DD`` (``2020-02-31`` is not one), in the order
  ``start_date < test_date < end_date`` (``end_date`` may be null);
- every enabled block of ``extraction.backbones``: a registered plug-in, only
  keys that are common options or that plug-in's options (a typo is reported
  with the closest known key), and a valid ``offset``.
"""

from __future__ import annotations

import calendar
import datetime
import difflib
import re
from collections.abc import Mapping
from typing import Any

from musicrec.audio import parse_offset
from musicrec.backbones import PLUGIN_OPTION_NAMES, available_backbones
from musicrec.backbones.base import COMMON_OPTIONS

DATE_PATTERN = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
DATE_KEYS = ("start_date", "test_date", "end_date")


class ConfigError(ValueError):
    """A config that cannot run; the message lists every problem found, each naming its key."""


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``; return None if there is none.

    ``config`` is the merged workflow config (``config.yaml`` plus overlays), as
    Snakemake holds it after schema validation.
    """
    problems = [*_date_problems(config.get("split", {})), *_backbone_problems(config.get("extraction", {}))]
    if problems:
        raise ConfigError("config: " + "\n  ".join([f"{len(problems)} problem(s):", *problems]))


def parse_config_date(key: str, value: Any) -> datetime.date:
    """``"YYYY-MM-DD"`` (or a date YAML already parsed) -> ``datetime.date``; ValueError naming ``key``."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    match = DATE_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{key} = {value!r}; expected a date written YYYY-MM-DD, e.g. '2020-02-20'")
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        raise ValueError(f"{key} = {value!r}: there is no month {month}; expected YYYY-MM-DD")
    days_in_month = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days_in_month:
        raise ValueError(
            f"{key} = {value!r} is not a calendar date: {calendar.month_name[month]} {year} has "
            f"{days_in_month} days"
        )
    return datetime.date(year, month, day)


def _date_problems(split: Mapping[str, Any]) -> list[str]:
    dates, problems = {}, []
    for name in DATE_KEYS:
        if split.get(name) is None:
            continue  # required keys are the schema's business; end_date may be null
        try:
            dates[name] = parse_config_date(f"split.{name}", split[name])
        except ValueError as error:
            problems.append(str(error))
    for earlier, later in (("start_date", "test_date"), ("test_date", "end_date")):
        if earlier in dates and later in dates and not dates[earlier] < dates[later]:
            problems.append(
                f"split.{later} = {split[later]!r} must be after split.{earlier} = {split[earlier]!r} "
                "(the protocol: train in [start_date, test_date), test in [test_date, end_date))"
            )
    return problems


def _backbone_problems(extraction: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, block in (extraction.get("backbones") or {}).items():
        block = block or {}
        if not block.get("enabled", True):
            continue  # a disabled block may name a plug-in this install lacks
        where = f"extraction.backbones.{name}"
        plugin = block.get("plugin", name)
        if plugin not in available_backbones():
            problems.append(
                f"{where}: unknown plug-in {plugin!r}"
                + ("" if "plugin" in block else " (the block's key, as it sets no 'plugin')")
                + f"; expected one of {available_backbones()}{_closest(plugin, available_backbones())}"
            )
            continue
        plugin_keys = PLUGIN_OPTION_NAMES.get(plugin)
        if plugin_keys is not None:  # a plug-in missing from the table checks its keys when its job starts
            known = sorted({*COMMON_OPTIONS, *plugin_keys})
            for key in sorted(set(block) - set(known)):
                problems.append(
                    f"{where}: unknown option {key!r}{_closest(key, known)}; plug-in {plugin!r} takes "
                    f"{sorted(plugin_keys)} besides the common options {sorted(COMMON_OPTIONS)}"
                )
        if "offset" in block:
            try:
                parse_offset(block["offset"], key=f"{where}.offset")
            except ValueError as error:
                problems.append(str(error))
    return problems


def _closest(word: str, known: list[str]) -> str:
    match = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
