# Start-up: make the musicrec package importable (here and in every job, conda envs
# included), validate the config, build the embedding and recommender registries, and hold
# every target/input function. Everything a config alone can show to be wrong fails here.

import os
import sys
from pathlib import Path

from snakemake.utils import validate

# The library lives in src/; jobs inherit PYTHONPATH, so scripts import musicrec
# in the local venv and inside per-rule conda envs alike, without installing it.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)
)

from musicrec import paths
from musicrec.backbones import available_backbones
from musicrec.config_checks import check_config
from musicrec.embeddings import derived_embeddings, enabled_backbones, is_multi_layer
from musicrec.recommenders.registry import NO_EMBEDDING, configured_runs

validate(config, "../schemas/config.schema.yaml")
check_config(config)

RESULTS = config["results"]
EVALUATION = config["evaluation"]
if EVALUATION["top_n"] < EVALUATION["k"]:
    raise ValueError(
        f"config evaluation.top_n = {EVALUATION['top_n']} is smaller than evaluation.k = "
        f"{EVALUATION['k']}: every evaluated user needs at least k recommendations"
    )


def out(template, **fields):
    """A path under the results root; unformatted fields stay Snakemake wildcards."""
    return paths.under(RESULTS, template, **fields)


def log_file(rule_name, name="{embedding}"):
    return out(paths.LOG, rule=rule_name, name=name)


def bench_file(rule_name, name="{embedding}"):
    """The rule's ``benchmark:`` file: seconds, peak memory, I/O of each job (cost table)."""
    return out(paths.BENCHMARK, rule=rule_name, name=name)


# ---- the embedding registry -------------------------------------------------------

BACKBONES = enabled_backbones(config["extraction"]["backbones"], available_backbones())
LAYERED_BACKBONES = [name for name, block in BACKBONES.items() if is_multi_layer(block)]
EXTRACTED = [name for name in BACKBONES if name not in LAYERED_BACKBONES]
DERIVED = derived_embeddings(config["embeddings"], BACKBONES)

# name -> {"kind", "source", "trainable"}: every embedding the recommenders, evaluation,
# tables and tests take. Stage files add theirs with declare_embedding().
EMBEDDINGS = {
    name: {"kind": "extracted", "source": None, "trainable": False}
    for name in EXTRACTED
}
for _name, _block in DERIVED.items():
    EMBEDDINGS[_name] = {
        "kind": _block["derive"],
        "source": _block.get("source"),
        "trainable": _block["derive"] == "ids",
    }


def declare_embedding(name, kind="derived", source=None, trainable=False):
    """A derived embedding a stage's rule writes at out(paths.EMBEDDING, embedding=name)."""
    if name in EMBEDDINGS or name == NO_EMBEDDING:
        raise ValueError(f"embedding {name!r} is declared twice")
    EMBEDDINGS[name] = {"kind": kind, "source": source, "trainable": trainable}


# ---- the recommender registry -----------------------------------------------------

RUNS = {run.name: run for run in configured_runs(config["recommenders"])}
TRAINING_SEEDS = config["recommenders"].get("seeds") or [config["seed"]]
# Runs a stage writes itself (its own rule): run -> {"family", "embeddings", "seeds"}.
DECLARED_RUNS = {}


def declare_run(run, family, embeddings, seeds=None):
    """A recommender run whose recs a stage's rule writes at out(paths.RECOMMENDATIONS, ...)."""
    if run in RUNS or run in DECLARED_RUNS:
        raise ValueError(f"recommender run {run!r} is declared twice")
    DECLARED_RUNS[run] = {
        "family": family,
        "embeddings": list(embeddings),
        "seeds": list(seeds or [config["seed"]]),
    }


def run_names():
    return [*RUNS, *DECLARED_RUNS]


def run_family(run):
    return RUNS[run].family if run in RUNS else DECLARED_RUNS[run]["family"]


def families():
    return list(dict.fromkeys(run_family(run) for run in run_names()))


def family_runs(family):
    return [run for run in run_names() if run_family(run) == family]


def run_embeddings(run):
    """The embeddings a run scores: every one, less id tables for models that cannot learn them."""
    if run in DECLARED_RUNS:
        return DECLARED_RUNS[run]["embeddings"]
    recommender, only = RUNS[run].recommender, RUNS[run].embeddings
    if not recommender.needs_embedding:
        return [NO_EMBEDDING]
    if only is not None:
        unknown = sorted(set(only) - set(EMBEDDINGS))
        if unknown:
            raise ValueError(
                f"config recommenders.{recommender.name}.embeddings: {unknown} are not embeddings; "
                f"known: {sorted(EMBEDDINGS)}"
            )
    return [
        name
        for name, spec in EMBEDDINGS.items()
        if (not spec["trainable"] or recommender.learns_items)
        and (only is None or name in only)
    ]


def run_seeds(run):
    if run in DECLARED_RUNS:
        return DECLARED_RUNS[run]["seeds"]
    return TRAINING_SEEDS if RUNS[run].trained else [config["seed"]]


def trained_runs():
    return [run for run in RUNS if RUNS[run].trained]


def untrained_runs():
    return [run for run in RUNS if not RUNS[run].trained]


def run_options(wildcards):
    return RUNS[wildcards.run].options


# Extra targets of stage files (their tables and plots).
STAGE_TARGETS = []


def add_targets(targets):
    STAGE_TARGETS.extend(targets)


wildcard_constraints:
    backbone="|".join(BACKBONES),
    embedding=r"[^/]+",
    run=r"[^/]+",
    family=r"[^/.]+",
    seed=r"\d+",
    part="|".join(paths.EVALUATED_PARTS),
    shard=r"\d+",


def regex_of(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    import re

    return "|".join(re.escape(name) for name in names) or "(?!)"


# ---- data set ---------------------------------------------------------------------


def dataset_file(name):
    """A Music4All / Onion file: generated by the demo rule, or from the configured root."""
    if config["dataset"]["source"] == "demo":
        return out(paths.DEMO_FILE, name=name)
    music4all = config["dataset"]["music4all"]
    if name == paths.ONION_LISTENING_LOG:
        return music4all["listening_log"]
    return str(Path(music4all["root"]) / name)


def audio_dir():
    if config["dataset"]["source"] == "demo":
        return out(paths.DEMO_FILE, name=paths.MUSIC4ALL_AUDIO_DIR)
    music4all = config["dataset"]["music4all"]
    return str(Path(music4all["root"]) / music4all["audio_dir"])


def audio_ext():
    if config["dataset"]["source"] == "demo":
        return config["dataset"]["demo"]["audio_format"]
    return config["dataset"]["music4all"]["audio_ext"]


def catalogue_inputs(wildcards):
    inputs = {
        "information": dataset_file(paths.MUSIC4ALL_INFORMATION),
        "genres": dataset_file(paths.MUSIC4ALL_GENRES),
        "tags": dataset_file(paths.MUSIC4ALL_TAGS),
    }
    if config["dataset"]["source"] == "demo":
        # The demo's audio is made by the same job; real audio is checked per
        # track at extraction, where a missing file is reported, not fatal here.
        inputs["audio"] = audio_dir()
    return inputs


# ---- extraction -------------------------------------------------------------------


def shard_indices(backbone):
    return range(BACKBONES[backbone]["shards"])


def shard_files(template):
    def files(wildcards):
        return [
            out(template, backbone=wildcards.backbone, shard=i)
            for i in shard_indices(wildcards.backbone)
        ]

    return files


def backbone_env(wildcards):
    return f"../envs/{BACKBONES[wildcards.backbone]['plugin']}.yaml"


def backbone_resource(key, default):
    def value(wildcards):
        return BACKBONES[wildcards.backbone].get("resources", {}).get(key, default)

    return value


def run_resource(key, default):
    """A trained run's resource (recommenders.<name>.resources), per job."""

    def value(wildcards):
        return RUNS[wildcards.run].resources.get(key, default)

    return value


def embedding_file(name):
    return out(paths.EMBEDDING, embedding=name)


def embedding_sidecar(name):
    return out(paths.EMBEDDING_SIDECAR, embedding=name)


def all_sidecars():
    return [embedding_sidecar(name) for name in EMBEDDINGS]


def derivation_inputs(wildcards):
    block = DERIVED[wildcards.embedding]
    if block["derive"] == "standardise":
        return {
            "embeddings": embedding_file(block["source"]),
            "sidecar": embedding_sidecar(block["source"]),
        }
    if block["derive"] == "ids":
        return {"track_ids": out(paths.TRACK_IDS)}
    return {
        "embeddings": out(paths.LAYERS, backbone=block["source"]),
        "sidecar": out(paths.LAYERS_SIDECAR, backbone=block["source"]),
    }


# ---- the layers stage (rules/layers.smk; LAYER_STUDY is set there) ---------------


def layer_stack(wildcards):
    return {
        "stack": out(paths.LAYERS, backbone=wildcards.layered),
        "stack_sidecar": out(paths.LAYERS_SIDECAR, backbone=wildcards.layered),
        "track_ids": out(paths.TRACK_IDS),
    }


def probe_inputs(wildcards):
    inputs = {"targets": out(paths.LAYER_TARGETS), **layer_stack(wildcards)}
    control = LAYER_STUDY[wildcards.layered]["control"]
    if control is not None:
        inputs["control"] = out(paths.LAYERS, backbone=control)
        inputs["control_sidecar"] = out(paths.LAYERS_SIDECAR, backbone=control)
    return inputs


def select_inputs(wildcards):
    inputs = layer_stack(wildcards)
    if wildcards.pick == "best":
        inputs["table"] = out(paths.PROBE_TABLE, backbone=wildcards.layered)
    return inputs


def fusion_inputs(wildcards):
    inputs = {"targets": out(paths.LAYER_TARGETS), **layer_stack(wildcards)}
    if LAYERS["fusion"]["triplets"] == "colistening":
        inputs["train"] = out(paths.SPLIT, part="train")
    return inputs


def searched_embeddings(wildcards):
    return {
        "fused": out(paths.EMBEDDING, embedding=f"{wildcards.layered}-fused"),
        "mean": out(paths.EMBEDDING, embedding=f"{wildcards.layered}-mean"),
    }


# ---- recommenders -----------------------------------------------------------------


def recommender_inputs(wildcards):
    """A run's inputs: the split, and its embedding (or the track list, without one)."""
    inputs = {part: out(paths.SPLIT, part=part) for part in ("train", "val", "test")}
    inputs["track_ids"] = out(paths.TRACK_IDS)
    if wildcards.embedding != NO_EMBEDDING:
        inputs["embeddings"] = embedding_file(wildcards.embedding)
        inputs["sidecar"] = embedding_sidecar(wildcards.embedding)
    return inputs


def is_trainable(wildcards):
    return EMBEDDINGS[wildcards.embedding]["trainable"]


# ---- evaluation and targets -------------------------------------------------------


def seed_recs(wildcards):
    return [
        out(
            paths.RECOMMENDATIONS,
            run=wildcards.run,
            embedding=wildcards.embedding,
            seed=s,
        )
        for s in run_seeds(wildcards.run)
    ]


def seed_curves(wildcards):
    if wildcards.run not in RUNS or not RUNS[wildcards.run].trained:
        return []
    return [
        out(
            paths.MODEL_CURVES, run=wildcards.run, embedding=wildcards.embedding, seed=s
        )
        for s in run_seeds(wildcards.run)
    ]


def item_set_sidecars(wildcards):
    """Sidecars whose failed tracks leave the evaluated item set (evaluation.item_set)."""
    if EVALUATION["item_set"] == "common":
        return all_sidecars()
    if wildcards.embedding == NO_EMBEDDING:
        return []
    return [embedding_sidecar(wildcards.embedding)]


def family_cells(family):
    """(run, embedding) pairs of a family's table, with the popularity baseline's rows."""
    cells = [(run, e) for run in family_runs(family) for e in run_embeddings(run)]
    if family != "popularity":
        cells += [
            (run, NO_EMBEDDING)
            for run in RUNS
            if not RUNS[run].recommender.needs_embedding
        ]
    return cells


def family_summaries(wildcards):
    return [
        out(paths.METRICS_SUMMARY, run=run, embedding=e, part="test")
        for run, e in family_cells(wildcards.family)
    ]


def family_reports(wildcards):
    return [
        out(paths.EVALUATION_REPORT, run=run, embedding=e, part="test")
        for run, e in family_cells(wildcards.family)
    ]


def compared_cells(run):
    """What a run's significance tests compare: its embeddings and the popularity baseline."""
    cells = [(run, e) for e in run_embeddings(run)]
    if run in RUNS and not RUNS[run].recommender.needs_embedding:
        return cells
    return cells + [
        (r, NO_EMBEDDING) for r in RUNS if not RUNS[r].recommender.needs_embedding
    ]


def compared_metrics(wildcards):
    return [
        out(paths.METRICS_PER_USER, run=r, embedding=e, part="test")
        for r, e in compared_cells(wildcards.run)
    ]


def compared_reports(wildcards):
    return [
        out(paths.EVALUATION_REPORT, run=r, embedding=e, part="test")
        for r, e in compared_cells(wildcards.run)
    ]


def significance_runs():
    """Runs with at least two things to compare."""
    return [run for run in run_names() if len(compared_cells(run)) >= 2]


def training_curves(wildcards):
    return [
        out(paths.MODEL_CURVES, run=wildcards.run, embedding=e, seed=s)
        for e in run_embeddings(wildcards.run)
        for s in run_seeds(wildcards.run)
    ]


def final_outputs():
    targets = [
        out(paths.COMPARISON_PLOT),
        out(paths.VERDICT),
        out(paths.COSTS),
        out(paths.DATA_QUALITY),
    ]
    for family in families():
        targets += [out(paths.TABLE, family=family), out(paths.PLOT, family=family)]
    for run in run_names():
        targets += [
            out(paths.METRICS_SUMMARY, run=run, embedding=e, part=part)
            for e in run_embeddings(run)
            for part in paths.EVALUATED_PARTS
        ]
    for run in significance_runs():
        targets += [
            out(paths.SIGNIFICANCE, run=run),
            out(paths.SIGNIFICANCE_PLOT, run=run),
        ]
    targets += [out(paths.CURVES_PLOT, run=run) for run in trained_runs()]
    return targets + STAGE_TARGETS
