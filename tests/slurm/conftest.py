"""The local SLURM test bed as a session fixture: set up once, stopped at the end if we started it.

The tests skip, saying why, where the test bed cannot exist: not root, or neither SLURM nor
apt-get installed, or MUSICREC_SKIP_SLURM=1.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTBED = Path(__file__).with_name("testbed.py")
SETUP_TIMEOUT_S = 600  # apt-get on a fresh machine; about 15 s on a warm one


def _skip_reason() -> str | None:
    if os.environ.get("MUSICREC_SKIP_SLURM") == "1":
        return "MUSICREC_SKIP_SLURM=1"
    if os.geteuid() != 0:
        return "the SLURM test bed needs root (it installs packages and starts daemons)"
    if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is not there to install it"
    if not (Path(sys.executable).parent / "snakemake").exists():
        return f"no snakemake next to {sys.executable}"
    return None


def _testbed(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TESTBED), command], capture_output=True,
                          text=True, timeout=SETUP_TIMEOUT_S)


@pytest.fixture(scope="session")
def slurm_cluster():
    """Bring the test bed up; yield the seconds setup took. Fails with the test bed's own
    message (which names the log to read) when it cannot start."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    already_running = _testbed("status").returncode == 0
    started = time.monotonic()
    setup = _testbed("setup")
    setup_seconds = time.monotonic() - started
    if setup.returncode != 0:
        pytest.fail(f"SLURM test bed setup failed:\n{setup.stdout}{setup.stderr}")
    print(f"\nSLURM test bed ready in {setup_seconds:.1f} s")
    yield setup_seconds
    if not already_running:
        _testbed("stop")
