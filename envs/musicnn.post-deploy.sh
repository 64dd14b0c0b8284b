#!/usr/bin/env bash
# Runs once after Snakemake creates envs/musicnn.yaml (--sdm conda).
set -euo pipefail
python -m pip install --no-deps musicnn==0.1.0
