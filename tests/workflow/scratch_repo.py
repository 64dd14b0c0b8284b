"""A scratch copy of the repository, and Snakemake runs in it, for the workflow tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
COPIED = ["Snakefile", "config.yaml", "rules", "workflow", "schemas", "configs", "report", "envs", "src"]


def copy_repository(destination: Path) -> Path:
    """Copy what a workflow run reads (``COPIED``) into ``destination``; returns it."""
    for name in COPIED:
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, destination / name)
    return destination


def run_snakemake(workdir: Path, configfiles: list[str], *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``snakemake --cores 2 --configfile <configfiles> <args>`` in ``workdir``, output captured."""
    return subprocess.run(
        [SNAKEMAKE, "--cores", "2", "--configfile", *configfiles, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
