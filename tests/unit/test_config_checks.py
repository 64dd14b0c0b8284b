"""Start-up config checks: calendar dates, their order, backbone option typos, all without heavy imports."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from musicrec.backbones import PLUGIN_OPTION_NAMES, available_backbones, backbone_class
from musicrec.config_checks import ConfigError, check_config, parse_config_date

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def with_changes(config, **changes):
    """A deep copy of ``config`` with ``{"split.test_date": value, ...}`` set (dotted keys)."""
    config = copy.deepcopy(config)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return config


@pytest.mark.parametrize("config_file", ["config.yaml", "configs/music4all.yaml", "configs/tiny.yaml"])
def test_the_shipped_configs_pass(config_file):
    check_config(yaml.safe_load((REPO / config_file).read_text()))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("split.test_date", "2020-02-31", r"split.test_date = '2020-02-31' is not a calendar date: February 2020 has 29"),
        ("split.start_date", "2019-13-01", "there is no month 13"),
        ("split.end_date", "2020/03/20", "expected a date written YYYY-MM-DD"),
        ("split.start_date", "2020-03-01", r"split.test_date = '2020-02-20' must be after split.start_date"),
        ("split.end_date", "2020-02-20", r"split.end_date = '2020-02-20' must be after split.test_date"),
    ],
)
def test_impossible_or_misordered_dates_fail_naming_the_key(demo_config, key, value, message):
    with pytest.raises(ConfigError, match=message):
        check_config(with_changes(demo_config, **{key: value}))


def test_leap_day_and_open_end_are_fine(demo_config):
    check_config(with_changes(demo_config, **{"split.test_date": "2020-02-29", "split.end_date": None}))
    assert parse_config_date("k", "2020-02-29").day == 29


def test_a_backbone_option_typo_names_the_block_and_the_closest_key(demo_config):
    config = with_changes(demo_config, **{"extraction.backbones.musicnn.layr": "penultimate"})
    with pytest.raises(ConfigError, match=r"extraction.backbones.musicnn: unknown option 'layr' \(did you mean 'layer'\?\)"):
        check_config(config)


def test_a_common_option_typo_is_caught_in_a_renamed_block(demo_config):
    config = with_changes(demo_config, **{"extraction.backbones.mfcc_small": {"plugin": "mfcc", "secconds": 3}})
    with pytest.raises(ConfigError, match=r"mfcc_small: unknown option 'secconds' \(did you mean 'seconds'\?\)"):
        check_config(config)


def test_disabled_blocks_are_not_checked_and_every_problem_is_listed(demo_config):
    check_config(with_changes(demo_config, **{"extraction.backbones.mert.enabled": False, "extraction.backbones.mert.xx": 1}))
    config = with_changes(
        demo_config,
        **{
            "split.test_date": "2020-02-30",
            "extraction.backbones.random.dims": 3,
            "extraction.backbones.musicnn.offset": "140%",
            "extraction.backbones.rnadom": {"dim": 3},
        },
    )
    with pytest.raises(ConfigError) as error:
        check_config(config)
    message = str(error.value)
    assert "4 problem(s)" in message
    assert "'dims' (did you mean 'dim'?)" in message and "musicnn.offset = '140%'" in message
    assert "unknown plug-in 'rnadom'" in message and "did you mean 'random'?" in message


def test_check_config_imports_neither_torch_nor_tensorflow():
    code = (
        "import sys, yaml; from musicrec.config_checks import check_config; "
        f"check_config(yaml.safe_load(open({str(REPO / 'configs/music4all.yaml')!r}))); "
        "print(sorted(m for m in ('tensorflow', 'torch', 'librosa') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_option_table_lists_every_registered_plugin():
    assert sorted(PLUGIN_OPTION_NAMES) == available_backbones()


@pytest.mark.parametrize("plugin", [p for p in available_backbones() if p != "musicnn"])
def test_the_option_table_equals_each_plugins_options(plugin):
    assert set(PLUGIN_OPTION_NAMES[plugin]) == set(backbone_class(plugin).plugin_options)


@pytest.mark.tensorflow
def test_the_option_table_equals_musicnns_options():
    assert set(PLUGIN_OPTION_NAMES["musicnn"]) == set(backbone_class("musicnn").plugin_options)
