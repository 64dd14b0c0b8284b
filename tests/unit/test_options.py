"""Recommender options (torch-free): one type and one range check per option, and the runs a config asks for."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from musicrec.recommenders.options import (
    WORKFLOW_KEYS,
    Bert4RecOptions,
    KnnOptions,
    OptionsError,
    PopularityOptions,
    ShallowOptions,
    options_from_mapping,
    parse_options,
    split_block,
)
from musicrec.recommenders.registry import NO_EMBEDDING, RECOMMENDERS, configured_runs

OPTION_TYPES = (KnnOptions, PopularityOptions, ShallowOptions, Bert4RecOptions)
WRONG_TYPE = {"int": "3", "float": "0.1", "bool": 1, "str": 3}  # YAML mistakes: quoted numbers, 1 for true


def typed_fields() -> list:
    return [
        pytest.param(cls, field.name, field.type, id=f"{cls.__name__}.{field.name}")
        for cls in OPTION_TYPES
        for field in dataclasses.fields(cls)
    ]


def test_options_modules_do_not_import_torch():
    # The workflow checks options at start-up, where torch may not be installed.
    assert "musicrec.recommenders.options" in sys.modules
    if "torch" in sys.modules:  # another test module of this session imported it: check in a fresh process
        import subprocess

        code = (
            "import sys, musicrec.recommenders.options, musicrec.recommenders.registry; "
            "sys.exit('torch' in sys.modules)"
        )
        assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("cls", OPTION_TYPES)
def test_defaults_pass_their_own_checks(cls):
    assert parse_options(cls, {}, "test") == cls()
    assert parse_options(cls, None, "test") == cls()


@pytest.mark.parametrize(("cls", "name", "expected"), typed_fields())
def test_every_option_rejects_a_value_of_the_wrong_type(cls, name, expected):
    value = WRONG_TYPE[expected]
    with pytest.raises(OptionsError, match=rf"^config x: option {name} = {value!r} should be of type {expected}$"):
        parse_options(cls, {name: value}, "config x")


@pytest.mark.parametrize("cls", [ShallowOptions, Bert4RecOptions])
def test_booleans_are_not_integers_and_floats_take_integers(cls):
    with pytest.raises(OptionsError, match="option batch_size = True should be of type int"):
        parse_options(cls, {"batch_size": True}, "x")
    with pytest.raises(OptionsError, match="option batch_size = 1.5 should be of type int"):
        parse_options(cls, {"batch_size": 1.5}, "x")
    parsed = parse_options(cls, {"lr": 1, "batch_size": np.int64(7)}, "x")
    assert parsed.lr == 1.0 and isinstance(parsed.lr, float) and parsed.batch_size == 7


# (options type, option, a bad value, what the message says is expected, the value at the boundary that passes)
RANGES = [
    (ShallowOptions, "hidden_dim", -1, ">= 0", 0),
    (ShallowOptions, "user_init", "zeros", "mean or random", "random"),
    (ShallowOptions, "sample_type", "both", "item or user", "user"),
    (ShallowOptions, "neg_samples", 0, ">= 1", 1),
    (ShallowOptions, "margin", -0.1, ">= 0", 0.0),
    (ShallowOptions, "l2", -1e-9, ">= 0", 0.0),
    (ShallowOptions, "batch_size", 0, ">= 1", 1),
    (ShallowOptions, "lr", 0.0, "> 0", 1e-9),
    (ShallowOptions, "max_epochs", 0, ">= 1", 1),
    (ShallowOptions, "patience", 0, ">= 1", 1),
    (ShallowOptions, "lr_patience", 0, ">= 1", 1),
    (Bert4RecOptions, "max_seq_len", 1, "an integer >= 2", 2),
    (Bert4RecOptions, "mlm_probability", 0.0, r"in \(0, 1\]", 1.0),
    (Bert4RecOptions, "mlm_probability", 1.01, r"in \(0, 1\]", 1e-6),
    (Bert4RecOptions, "force_last_item_masking_prob", -0.01, r"in \[0, 1\]", 0.0),
    (Bert4RecOptions, "force_last_item_masking_prob", 1.5, r"in \[0, 1\]", 1.0),
    (Bert4RecOptions, "num_layers", 0, ">= 1", 1),
    (Bert4RecOptions, "num_heads", 0, ">= 1", 1),
    (Bert4RecOptions, "intermediate_size", 0, ">= 1", 1),
    (Bert4RecOptions, "dropout", 1.0, r"in \[0, 1\)", 0.0),
    (Bert4RecOptions, "dropout", -0.1, r"in \[0, 1\)", 0.999),
    (Bert4RecOptions, "hidden_dim", -4, ">= 0", 0),
    (Bert4RecOptions, "batch_size", 0, ">= 1", 1),
    (Bert4RecOptions, "lr", -1e-3, "> 0", 1e-9),
    (Bert4RecOptions, "max_epochs", 0, ">= 1", 1),
    (Bert4RecOptions, "patience", 0, ">= 1", 1),
    (Bert4RecOptions, "lr_patience", 0, ">= 1", 1),
    (PopularityOptions, "by", "streams", "listeners or plays", "plays"),
]


@pytest.mark.parametrize(
    ("cls", "name", "bad", "expected", "good"), RANGES, ids=[f"{c.__name__}.{n}={b}" for c, n, b, *_ in RANGES]
)
def test_every_range_check_names_the_key_and_what_was_expected(cls, name, bad, expected, good):
    with pytest.raises(OptionsError, match=rf"^config recommenders.x: {name} = {bad!r}; expected {expected}"):
        parse_options(cls, {name: bad}, "config recommenders.x")
    assert getattr(parse_options(cls, {name: good}, "config recommenders.x"), name) == good


def test_every_ranged_option_of_the_trained_models_is_covered():
    covered = {(cls, name) for cls, name, *_ in RANGES}
    free = {"use_confidence", "freeze_items", "freeze_users", "paper_compat", "learn_logit_scale"}  # booleans
    for cls in (ShallowOptions, Bert4RecOptions, PopularityOptions):
        for field in dataclasses.fields(cls):
            assert field.name in free or (cls, field.name) in covered, f"{cls.__name__}.{field.name} has no range test"


def test_an_options_error_is_a_value_error():
    assert issubclass(OptionsError, ValueError)


def test_an_unknown_key_gets_a_did_you_mean_hint_and_the_known_keys():
    hint = r"config recommenders.shallow: unknown option 'neg_sample' \(did you mean 'neg_samples'\?\); known: \["
    with pytest.raises(OptionsError, match=hint):
        parse_options(ShallowOptions, {"neg_sample": 20}, "config recommenders.shallow")
    with pytest.raises(OptionsError, match=r"unknown option 'max_seq_length' \(did you mean 'max_seq_len'\?\)"):
        parse_options(Bert4RecOptions, {"max_seq_length": 50}, "b")
    with pytest.raises(OptionsError, match=r"^k: unknown option 'zzz'; known: \[\]$"):  # KNN has no options
        parse_options(KnnOptions, {"zzz": 1}, "k")


def test_workflow_keys_are_not_model_options():
    # top_n is evaluation.top_n (one default, in the schema); a recommender block may not restate it.
    with pytest.raises(OptionsError, match="unknown option 'top_n'"):
        options_from_mapping(ShallowOptions, {"top_n": 100}, "config recommenders.shallow")
    for key in WORKFLOW_KEYS:
        with pytest.raises(OptionsError, match=f"unknown option '{key}'"):
            parse_options(ShallowOptions, {key: True}, "s")


def test_split_block_separates_workflow_keys_from_model_options():
    block = {
        "enabled": True,
        "variants": ["embedding"],
        "embeddings": ["musicnn"],
        "resources": {"mem_mb": 1},
        "lr": 0.01,
        "margin": 0.3,
    }
    workflow, options = split_block(block)
    assert workflow == {
        "enabled": True,
        "variants": ["embedding"],
        "embeddings": ["musicnn"],
        "resources": {"mem_mb": 1},
    }
    assert options == {"lr": 0.01, "margin": 0.3}
    assert block["enabled"] is True and "lr" in block, "split_block must not change the config it is given"
    assert split_block(None) == ({}, {})
    assert split_block({"lr": 1}) == ({}, {"lr": 1})


# --- the runs a config asks for ---------------------------------------------------------


def test_default_variants_registry_order_and_run_fields():
    runs = configured_runs(
        {
            "seeds": [1, 2],
            "bert4rec": {"max_seq_len": 8},
            "shallow": {"neg_samples": 5, "resources": {"runtime": 10}},
            "popularity": {},
            "knn": None,
        }
    )
    assert [run.name for run in runs] == [
        "knn",
        "popularity",
        "shallow-embedding",
        "shallow-interaction",
        "bert4rec",
    ]
    by_name = {run.name: run for run in runs}
    interaction = by_name["shallow-interaction"]
    assert interaction.family == "shallow" and interaction.variant == "interaction" and interaction.trained
    assert interaction.options == {"neg_samples": 5} and interaction.resources == {"runtime": 10}
    assert by_name["bert4rec"].options == {"max_seq_len": 8} and by_name["bert4rec"].variant is None
    assert not by_name["knn"].trained and by_name["knn"].options == {}
    assert all(run.embeddings is None for run in runs)  # every embedding unless the block lists some
    assert not by_name["popularity"].recommender.needs_embedding and by_name["knn"].recommender.needs_embedding
    assert NO_EMBEDDING == "none"


def test_listed_variants_only_and_disabled_recommenders_are_skipped():
    runs = configured_runs(
        {"knn": {"enabled": False}, "shallow": {"variants": ["interaction"]}, "bert4rec": {"enabled": False}}
    )
    assert [(run.name, run.variant) for run in runs] == [("shallow-interaction", "interaction")]
    assert configured_runs({"knn": {"enabled": True}})[0].name == "knn"


def test_a_run_may_be_restricted_to_some_embeddings():
    runs = configured_runs({"knn": {"embeddings": ["musicnn", "mfcc"]}, "shallow": {"embeddings": ["musicnn"]}})
    assert {run.name: run.embeddings for run in runs} == {
        "knn": ("musicnn", "mfcc"),
        "shallow-embedding": ("musicnn",),
        "shallow-interaction": ("musicnn",),
    }
    assert all(run.options == {} for run in runs)  # a workflow key, not a model option


def test_every_recommender_disabled_is_an_error():
    with pytest.raises(ValueError, match="every recommender is disabled"):
        configured_runs({"knn": {"enabled": False}, "seeds": [1]})
    with pytest.raises(ValueError, match="every recommender is disabled"):
        configured_runs({})


def test_an_unknown_recommender_is_named_with_the_registered_ones():
    with pytest.raises(OptionsError, match=r"unknown recommender\(s\) \['sasrec'\]; registered: \['bert4rec', 'knn'"):
        configured_runs({"knn": {}, "sasrec": {"enabled": True}})


def test_an_unknown_variant_and_variants_of_a_recommender_without_any_are_named():
    with pytest.raises(
        OptionsError,
        match=r"recommenders.shallow.variants: unknown variant 'embeding'; expected \['embedding', 'interaction'\]",
    ):
        configured_runs({"shallow": {"variants": ["embeding"]}})
    with pytest.raises(OptionsError, match="config recommenders.knn.variants: knn has no variants"):
        configured_runs({"knn": {"variants": ["x"]}})


def test_a_bad_option_fails_at_start_up_naming_the_block():
    with pytest.raises(OptionsError, match=r"^config recommenders.bert4rec: max_seq_len = 1; expected"):
        configured_runs({"knn": {}, "bert4rec": {"max_seq_len": 1}})
    with pytest.raises(OptionsError, match=r"recommenders.shallow: unknown option 'lrr' \(did you mean 'lr'\?\)"):
        configured_runs({"shallow": {"lrr": 0.1}})
    # A disabled block is not checked: it runs nothing.
    assert [run.name for run in configured_runs({"knn": {}, "bert4rec": {"enabled": False, "max_seq_len": 1}})] == [
        "knn"
    ]


def test_registry_entries_name_their_fit_function_and_options_type():
    import musicrec.recommenders.knn as knn
    import musicrec.recommenders.popularity as popularity

    assert RECOMMENDERS["knn"].fit_function() is knn.fit_knn
    assert RECOMMENDERS["popularity"].fit_function() is popularity.fit_popularity
    assert RECOMMENDERS["shallow"].fit.endswith("shallow_training:fit_shallow")
    assert RECOMMENDERS["bert4rec"].fit.endswith("bert4rec_training:fit_bert4rec")
    assert RECOMMENDERS["shallow"].options_type is ShallowOptions
    assert RECOMMENDERS["bert4rec"].options_type is Bert4RecOptions
    assert {name for name, entry in RECOMMENDERS.items() if entry.learns_items} == {"shallow", "bert4rec"}
