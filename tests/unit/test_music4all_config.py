"""configs/music4all.yaml states the paper's training settings itself, whatever the demo sets."""

from pathlib import Path

import yaml

from musicrec.config_checks import check_config

REPO = Path(__file__).resolve().parents[2]
# The published runs (background/paper-pipeline-architecture.md: train.py and train_bert.py).
PAPER = {
    "shallow": {"batch_size": 10000, "neg_samples": 20, "max_epochs": 100, "patience": 16},
    "bert4rec": {"max_seq_len": 300, "batch_size": 128, "max_epochs": 200, "patience": 16},
}


def merged(base: dict, overlay: dict) -> dict:
    """Snakemake's merge of --configfile overlays: nested dicts update key by key."""
    result = dict(base)
    for key, value in overlay.items():
        result[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return result


def test_music4all_overrides_every_demo_shortcut_with_the_papers_value():
    demo = yaml.safe_load((REPO / "config.yaml").read_text())
    paper = yaml.safe_load((REPO / "configs" / "music4all.yaml").read_text())
    config = merged(demo, paper)
    for family, settings in PAPER.items():
        for key, value in settings.items():
            assert paper["recommenders"][family][key] == value, (family, key)  # stated in the file itself
            assert config["recommenders"][family][key] == value, (family, key)
    check_config(config)


def test_the_paper_settings_are_valid_model_options():
    from musicrec.recommenders.options import Bert4RecOptions, ShallowOptions, parse_options, split_block

    paper = yaml.safe_load((REPO / "configs" / "music4all.yaml").read_text())["recommenders"]
    for family, cls in (("shallow", ShallowOptions), ("bert4rec", Bert4RecOptions)):
        _, options = split_block(paper[family])
        parsed = parse_options(cls, options, f"configs/music4all.yaml recommenders.{family}")
        assert all(getattr(parsed, key) == value for key, value in PAPER[family].items())
