"""Probe every layer of a multi-layer extraction for every target, with controls (rule probe_layers).

input: targets (layers/targets.parquet), stack + stack_sidecar (layers/{backbone}), optionally
control + control_sidecar (the random-weights model's stack). params: probe (layers.probe),
confidence, seed. output.table: tables/layers/{backbone}.csv (probe_table); output.folds: every
outer fold's score (real model and, with control, the control model, column "model").
"""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("probe_layers")

import time

import pandas as pd

from musicrec.io import write_csv, write_parquet
from musicrec.layers.probe import ProbeSettings, probe_layers, probe_table
from musicrec.layers.stack import read_stack
from musicrec.layers.targets import LABEL_NAMES, TARGET_NAMES

inputs, params = snakemake.input, snakemake.params  # noqa: F821
backbone = snakemake.wildcards.layered  # noqa: F821
settings = ProbeSettings.from_mapping(params.probe, params.seed)
print(f"probe settings: {settings}", file=sys.stderr)
frame = pd.read_parquet(inputs.targets)
targets = frame[["track_idx", "track_id", *TARGET_NAMES]]
labels = frame[[*LABEL_NAMES, "album"]]


def probe(npy, sidecar, model):
    stack = read_stack(npy, sidecar, n_tracks=len(frame))
    started = time.perf_counter()
    folds = probe_layers(stack.layers(), stack.names, targets, labels, settings, threads=int(snakemake.threads))  # noqa: F821
    print(
        f"{model}: {stack.n_layers} layers {list(stack.dims)} x {len(TARGET_NAMES)} targets + labels "
        f"probed in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return stack, folds


stack, real = probe(inputs.stack, inputs.stack_sidecar, backbone)
control = None
if "control" in inputs.keys():
    control_stack, control = probe(inputs.control, inputs.control_sidecar, "control")
    if control_stack.names != stack.names:
        print(
            f"warning: the control's layers {control_stack.names} differ from {stack.names}; compared by position",
            file=sys.stderr,
        )
table = probe_table(real, control, float(params.confidence))
table.insert(0, "backbone", backbone)
table["control_model"] = "none" if control is None else "random weights"
write_csv(table, snakemake.output.table)  # noqa: F821
folds = pd.concat([real.assign(model=backbone)] + ([control.assign(model="control")] if control is not None else []))
write_parquet(folds, snakemake.output.folds)  # noqa: F821
print(table.to_string(index=False, max_rows=400), file=sys.stderr)
