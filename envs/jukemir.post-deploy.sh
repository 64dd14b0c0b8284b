#!/usr/bin/env bash
# Runs once after Snakemake creates envs/jukemir.yaml (--sdm conda). jukemirlib and its Jukebox
# fork are not on PyPI, and the fork's requirements.txt pins packages that do not build on
# Python 3.11; their real needs are pinned in envs/jukemir.yaml, so both go in without deps.
# Commits: the newest seen in the public index (jukemirlib's README there documents
# setup_models(cache_dir=..., device=...)); the fork's is the one its requirements.txt was read at.
set -euo pipefail
python -m pip install --no-deps \
    "jukebox @ git+https://github.com/rodrigo-castellon/jukebox.git@07ca8a2624e7f81a3fc16a9265158a064d4e503a" \
    "jukemirlib @ git+https://github.com/rodrigo-castellon/jukemirlib.git@cd13edee8dccaba1767616194204f66badf304d2"
