"""Report captions take their numbers from the config, never restate them."""

import copy
from pathlib import Path

import jinja2
import pytest
import yaml
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "schemas" / "config.schema.yaml"))  # fills the schema's defaults
    return config


def render(caption: str, config: dict) -> str:
    snakemake = type("Snakemake", (), {"config": config})
    return jinja2.Template((REPO / "report" / caption).read_text()).render(snakemake=snakemake)


def test_the_workflow_caption_states_the_configured_confidence_and_dates(config):
    changed = copy.deepcopy(config)
    changed["evaluation"]["confidence"] = 0.9
    changed["split"].update(start_date="2018-01-01", test_date="2018-06-01", end_date=None, val_fraction=0.3)
    text = render("workflow.rst", changed)
    assert "90 % intervals" in text and "95" not in text
    assert "2018-01-01" in text and "2018-06-01" in text and "to the end of the log" in text
    assert "30 % val / 70 % test" in text
    assert f"to before {config['split']['end_date']}" in render("workflow.rst", config)


def test_the_data_quality_caption_states_the_configured_dates(config):
    text = render("data_quality.rst", config)
    assert config["split"]["start_date"] in text and config["split"]["end_date"] in text
