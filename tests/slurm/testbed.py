#!/usr/bin/env python3
"""A local single-node SLURM cluster for testing the workflow's cluster profile.

Usage (as root)::

    python3 tests/slurm/testbed.py setup    # install packages if missing, configure, start
    python3 tests/slurm/testbed.py start    # start the daemons of a configured test bed
    python3 tests/slurm/testbed.py stop     # stop them, by the PIDs in their pid files
    python3 tests/slurm/testbed.py status   # which daemons run, and the node's state

Every command is idempotent: running daemons are left alone and missing ones started;
``setup`` restarts them only when it had to change a configuration file.

The cluster is one node, ``localhost`` (address 127.0.0.1), with two partitions, ``cpu``
(the default) and ``gpu``, and eight fake GPUs: gres entries pointing at dummy character
devices, so GPU jobs schedule and get ``CUDA_VISIBLE_DEVICES``. Accounting runs through
slurmdbd backed by its own MariaDB (unix socket only), so ``sacct`` works, which is what the
Snakemake SLURM plugin uses to follow jobs; the account ``musicrec`` exists for root.

Everything lives under one state directory (``$MUSICREC_SLURM_STATE``, default
``/tmp/musicrec-slurm``): configuration, MariaDB data, spool, logs and pid files. The one
thing outside it is the symlink ``/etc/slurm/slurm.conf`` pointing at the configuration:
inside a job, Snakemake's jobstep executor starts ``srun`` with every ``SLURM_*`` variable
removed, ``SLURM_CONF`` included, so ``srun`` reads the default path. The test bed refuses to
replace a ``/etc/slurm/slurm.conf`` it did not create. Every daemon listens on loopback or
on a unix socket only, on ports 16817-16819, not SLURM's defaults.

Only the Python standard library is used, so any ``python3`` runs it.
"""

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("MUSICREC_SLURM_STATE", "/tmp/musicrec-slurm"))
CLUSTER = "musicrec"
ACCOUNT = "musicrec"
NODE = "localhost"
NODE_ADDR = "127.0.0.1"
CTLD_PORT, SLURMD_PORT, DBD_PORT = 16817, 16818, 16819
# The node advertises more than this machine may have: the scheduler only needs numbers
# that fit the profile's requests; no cgroups enforce them (TaskPlugin=task/none).
NODE_CPUS, NODE_MEMORY_MB, NODE_GPUS = 16, 256000, 8

DEBIAN_PACKAGES = ["munge", "mariadb-server", "slurmctld", "slurmd", "slurmdbd", "slurm-client"]
REQUIRED_PROGRAMS = ["munged", "mungekey", "mariadbd", "mariadb-install-db", "mariadb",
                     "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct", "sacctmgr",
                     "sinfo", "scontrol"]

ETC = STATE / "etc"
RUN = STATE / "run"
LOG = STATE / "log"
MUNGE_DIR = STATE / "munge"
MYSQL_DATA = STATE / "mysql"
MYSQL_RUN = STATE / "mysql-run"     # owned by the mysql user, who creates the socket
MYSQL_SOCKET = MYSQL_RUN / "mysqld.sock"
MUNGE_SOCKET = MUNGE_DIR / "munge.socket"
SLURM_CONF = ETC / "slurm.conf"
DEFAULT_SLURM_CONF = Path("/etc/slurm/slurm.conf")

# Start order; stop runs it backwards. Each daemon: its pid file and its process name,
# checked before signalling so that a stale pid file never hits an unrelated process.
DAEMONS = {
    "munged": (MUNGE_DIR / "munged.pid", "munged"),
    "mariadbd": (MYSQL_RUN / "mariadbd.pid", "mariadbd"),
    "slurmdbd": (RUN / "slurmdbd.pid", "slurmdbd"),
    "slurmctld": (RUN / "slurmctld.pid", "slurmctld"),
    "slurmd": (RUN / "slurmd.pid", "slurmd"),
}


class TestbedError(RuntimeError):
    """The test bed could not be brought up; the message says which step and where to look."""


def client_env() -> dict:
    """Environment for SLURM clients and daemons: the configuration and the database socket."""
    env = dict(os.environ)
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"  # the daemons live there
    env["SLURM_CONF"] = str(SLURM_CONF)
    # slurmdbd connects with a NULL socket path; the MariaDB client library then uses this.
    env["MYSQL_UNIX_PORT"] = str(MYSQL_SOCKET)
    return env


def run(cmd, check=True, user=None, **kwargs) -> subprocess.CompletedProcess:
    """Run cmd (a list) with the test bed's environment, capturing text output."""
    if user is not None:
        cmd = ["runuser", "-u", user, "--"] + list(cmd)
    result = subprocess.run(cmd, env=client_env(), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise TestbedError(f"`{' '.join(map(str, cmd))}` exited with {result.returncode}:\n"
                           f"{result.stdout}{result.stderr}")
    return result


def wait_for(what: str, probe, timeout_s: float, log: Path | None = None, alive=None) -> None:
    """Poll probe() until it returns true; raise naming what and the log to read on timeout,
    or at once when alive() (if given) says the process being waited for has exited."""
    hint = f"; see {log}" if log else ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():
            return
        if alive is not None and not alive():
            raise TestbedError(f"{what}: the process exited{hint}")
        time.sleep(0.2)
    raise TestbedError(f"timed out after {timeout_s:.0f} s waiting for {what}{hint}")


# ---------------------------------------------------------------- installation


def missing_programs() -> list[str]:
    path = client_env()["PATH"]
    return [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=path) is None]


def install_packages() -> None:
    """apt-get install the Debian packages unless every program is already there.

    A temporary policy-rc.d stops apt from starting the distribution's own munge, MariaDB and
    SLURM services on machines with an init system: the test bed runs its own instances.
    """
    if not missing_programs():
        return
    if shutil.which("apt-get") is None:
        raise TestbedError(f"missing {', '.join(missing_programs())} "
                           "and no apt-get to install them")
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\n# written by musicrec's SLURM test bed during apt-get\n"
                          "exit 101\n")
        policy.chmod(0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + DEBIAN_PACKAGES
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            # A fresh machine often has no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise TestbedError("apt-get install failed:\n"
                                   f"{result.stdout[-2000:]}{result.stderr}")
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    if missing_programs():
        raise TestbedError(f"still missing after apt-get: {', '.join(missing_programs())}")


# ---------------------------------------------------------------- configuration


def slurm_conf_text() -> str:
    return f"""\
# Written by tests/slurm/testbed.py: a single-node test cluster bound to loopback.
ClusterName={CLUSTER}
SlurmctldHost={NODE}({NODE_ADDR})
SlurmctldPort={CTLD_PORT}
SlurmdPort={SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={MUNGE_SOCKET}
CryptoType=crypto/munge
# Bind to the configured (loopback) addresses, never to all interfaces.
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation={STATE}/spool/slurmctld
SlurmdSpoolDir={STATE}/spool/slurmd
SlurmctldPidFile={DAEMONS["slurmctld"][0]}
SlurmdPidFile={DAEMONS["slurmd"][0]}
SlurmctldLogFile={LOG}/slurmctld.log
SlurmdLogFile={LOG}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: processes are tracked through /proc and tasks are not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Start jobs as soon as they arrive; look for gaps to backfill every 2 s instead of 30.
SchedulerParameters=batch_sched_delay=0,bf_interval=2
DefMemPerCPU=1000
GresTypes=gpu
# The node's advertised CPUs, memory and GPUs are taken from here, not from the hardware.
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
# Finished jobs stay visible to squeue for this long; sacct has them for good.
MinJobAge=600
KillWait=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost={NODE_ADDR}
AccountingStoragePort={DBD_PORT}
# For slurmdbd connections this names the munge socket (AuthInfo covers the rest).
AccountingStoragePass={MUNGE_SOCKET}
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu
# Keep sbatch --comment (the plugin puts the rule name there) where sacct can show it.
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
NodeName={NODE} NodeAddr={NODE_ADDR} NodeHostname={NODE} CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} Gres=gpu:{NODE_GPUS} State=UNKNOWN
PartitionName=cpu Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={NODE} Default=NO MaxTime=INFINITE State=UP
"""


def slurmdbd_conf_text() -> str:
    return f"""\
# Written by tests/slurm/testbed.py
AuthType=auth/munge
AuthInfo=socket={MUNGE_SOCKET}
DbdHost={NODE}
DbdAddr={NODE_ADDR}
DbdPort={DBD_PORT}
# Without this slurmdbd listens on every address.
CommunicationParameters=NoInAddrAny
SlurmUser=root
PidFile={DAEMONS["slurmdbd"][0]}
LogFile={LOG}/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
# "localhost" means the unix socket named by MYSQL_UNIX_PORT; MariaDB has no TCP listener.
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
"""


def gres_conf_text() -> str:
    lines = [f"NodeName={NODE} Name=gpu File={fake_gpu(i)}" for i in range(NODE_GPUS)]
    header = "# Written by tests/slurm/testbed.py: fake GPUs on dummy devices"
    return "\n".join([header] + lines) + "\n"


def fake_gpu(index: int) -> Path:
    return STATE / "dev" / f"nvidia{index}"


def write_if_changed(path: Path, text: str, mode: int) -> bool:
    """Write text to path unless it already holds it; return whether it changed."""
    changed = not path.exists() or path.read_text() != text
    if changed:
        path.write_text(text)
    path.chmod(mode)
    return changed


def configure() -> bool:
    """Create the state directory, keys, fake devices, database and configuration files.

    Returns whether a configuration file changed (running daemons then need a restart)."""
    munge = pwd.getpwnam("munge")
    mysql = pwd.getpwnam("mysql")
    for directory in (ETC, RUN, LOG, STATE / "spool" / "slurmctld", STATE / "spool" / "slurmd",
                      STATE / "dev"):
        directory.mkdir(parents=True, exist_ok=True)
    STATE.chmod(0o755)

    # munged insists on owning its directory and key; clients need to reach its socket.
    MUNGE_DIR.mkdir(exist_ok=True)
    MUNGE_DIR.chmod(0o755)
    os.chown(MUNGE_DIR, munge.pw_uid, munge.pw_gid)
    key = MUNGE_DIR / "munge.key"
    if not key.exists():
        run(["mungekey", "--create", f"--keyfile={key}"], user="munge")
    key.chmod(0o600)

    for i in range(NODE_GPUS):
        device = fake_gpu(i)
        if not device.exists():
            # A character device like /dev/null: gres only needs a device file to name.
            os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))

    for directory in (MYSQL_DATA, MYSQL_RUN):
        directory.mkdir(exist_ok=True)
        os.chown(directory, mysql.pw_uid, mysql.pw_gid)
    if not (MYSQL_DATA / "mysql").is_dir():
        run(["mariadb-install-db", "--no-defaults", f"--datadir={MYSQL_DATA}", "--user=mysql",
             "--auth-root-authentication-method=socket", "--skip-test-db"])

    changed = write_if_changed(SLURM_CONF, slurm_conf_text(), 0o644)
    changed |= write_if_changed(ETC / "gres.conf", gres_conf_text(), 0o644)
    # slurmdbd refuses a configuration (it holds storage credentials) readable by others.
    changed |= write_if_changed(ETC / "slurmdbd.conf", slurmdbd_conf_text(), 0o600)
    link_default_conf()
    return changed


def link_default_conf() -> None:
    """Point /etc/slurm/slurm.conf at the test bed's configuration, unless another is there."""
    if DEFAULT_SLURM_CONF.is_symlink() and DEFAULT_SLURM_CONF.resolve() == SLURM_CONF.resolve():
        return
    if DEFAULT_SLURM_CONF.exists() or DEFAULT_SLURM_CONF.is_symlink():
        raise TestbedError(f"{DEFAULT_SLURM_CONF} exists and is not the test bed's; this machine "
                           "seems to have its own SLURM configuration, which the test bed "
                           "will not replace")
    DEFAULT_SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    DEFAULT_SLURM_CONF.symlink_to(SLURM_CONF)


# ---------------------------------------------------------------- daemons


def running_pid(name: str) -> int | None:
    """The PID of daemon `name` if its pid file names a live process of that program."""
    pid_file, comm = DAEMONS[name]
    try:
        pid = int(pid_file.read_text().split()[0])
        actual = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    return pid if actual == comm else None


def spawn_foreground(cmd: list, log: Path) -> subprocess.Popen:
    """Start a daemon that stays in the foreground, detached from our session and output."""
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=client_env(), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def start_munged() -> None:
    if running_pid("munged"):
        return
    pid_file = DAEMONS["munged"][0]
    run(["munged", f"--key-file={MUNGE_DIR / 'munge.key'}", f"--socket={MUNGE_SOCKET}",
         f"--pid-file={pid_file}", f"--log-file={MUNGE_DIR / 'munged.log'}",
         f"--seed-file={MUNGE_DIR / 'munged.seed'}"], user="munge")
    wait_for("munged", lambda: running_pid("munged") and MUNGE_SOCKET.exists(), 10,
             MUNGE_DIR / "munged.log")


def mariadb_answers() -> bool:
    return run(["mariadb", "--no-defaults", f"--socket={MYSQL_SOCKET}", "-e", "select 1"],
               check=False).returncode == 0


def start_mariadb() -> None:
    if running_pid("mariadbd"):
        return
    LOG.joinpath("mariadb.log").touch()
    shutil.chown(LOG / "mariadb.log", "mysql", "mysql")
    server = spawn_foreground(
        ["mariadbd", "--no-defaults", f"--datadir={MYSQL_DATA}", "--user=mysql",
         f"--socket={MYSQL_SOCKET}", "--skip-networking", f"--pid-file={DAEMONS['mariadbd'][0]}",
         f"--log-error={LOG}/mariadb.log", "--innodb-buffer-pool-size=64M", "--skip-log-bin"],
        LOG / "mariadb.out")
    wait_for("MariaDB on its socket", mariadb_answers, 60, LOG / "mariadb.log",
             alive=lambda: server.poll() is None)


def start_slurmdbd() -> None:
    if running_pid("slurmdbd"):
        return
    run(["slurmdbd"])
    wait_for("slurmdbd", lambda: run(["sacctmgr", "-n", "list", "cluster"], check=False,
                                     timeout=20).returncode == 0, 60, LOG / "slurmdbd.log")


def ensure_accounts() -> None:
    """Register the cluster, the account and root's association in the accounting database."""
    def listed(*query) -> bool:
        return bool(run(["sacctmgr", "-n", "-P", "list"] + list(query)).stdout.strip())

    if not listed("cluster", CLUSTER, "format=cluster"):
        run(["sacctmgr", "-i", "add", "cluster", CLUSTER])
    if not listed("account", ACCOUNT, "format=account"):
        run(["sacctmgr", "-i", "add", "account", ACCOUNT, f"cluster={CLUSTER}",
             "description=musicrec test bed", "organization=musicrec"])
    if not listed("association", "user=root", f"account={ACCOUNT}", "format=account"):
        run(["sacctmgr", "-i", "add", "user", "root", f"account={ACCOUNT}", f"cluster={CLUSTER}"])


def node_state() -> str:
    """The node's state as sinfo names it (idle, mixed, drained, ...), or "unreachable"."""
    result = run(["sinfo", "-h", "-N", "-n", NODE, "-o", "%T"], check=False, timeout=20)
    states = sorted(set(result.stdout.split()))
    return ",".join(states) if result.returncode == 0 and states else "unreachable"


def node_accepts_jobs() -> bool:
    state = node_state()
    if state.startswith("drain"):
        # Left drained by an unclean stop; the node itself is fine.
        run(["scontrol", "update", f"nodename={NODE}", "state=resume"], check=False)
        return False
    return state in {"idle", "mixed", "allocated", "completing"}


def controller_answers() -> bool:
    ping = run(["scontrol", "ping"], check=False, timeout=20)
    return ping.returncode == 0 and "is UP" in ping.stdout


def start_slurm() -> None:
    if not running_pid("slurmctld"):
        run(["slurmctld"])
        wait_for("slurmctld", controller_answers, 30, LOG / "slurmctld.log")
    if not running_pid("slurmd"):
        run(["slurmd", "-N", NODE])
    # Until the node registers (also after a slurmctld restart) submissions would pend.
    wait_for("the node to accept jobs", node_accepts_jobs, 60, LOG / "slurmd.log")


def start() -> None:
    if not SLURM_CONF.exists():
        raise TestbedError(f"no configuration in {STATE}; run `setup` first")
    start_munged()
    start_mariadb()
    start_slurmdbd()
    ensure_accounts()
    start_slurm()


def setup() -> None:
    install_packages()
    if configure():
        stop()  # daemons still running read the old configuration
    start()


def stop() -> None:
    """Stop the daemons in reverse start order by their recorded PIDs (TERM, then KILL)."""
    for name in reversed(list(DAEMONS)):
        pid = running_pid(name)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while running_pid(name) == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        if running_pid(name) == pid:
            os.kill(pid, signal.SIGKILL)


def status() -> int:
    """Print each daemon's state and the node's; return 0 when everything runs."""
    all_up = True
    for name in DAEMONS:
        pid = running_pid(name)
        all_up &= pid is not None
        print(f"{name:10} {'running, pid ' + str(pid) if pid else 'stopped'}")
    if running_pid("slurmctld"):
        print(f"node       {NODE}: {node_state()}")
    return 0 if all_up else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["setup", "start", "stop", "status"])
    command = parser.parse_args(argv).command
    if command == "status":
        return status()
    if os.geteuid() != 0:
        print("the SLURM test bed must run as root (it installs packages and starts daemons)",
              file=sys.stderr)
        return 2
    try:
        {"setup": setup, "start": start, "stop": stop}[command]()
    except TestbedError as error:
        print(f"testbed {command}: {error}", file=sys.stderr)
        return 1
    if command != "stop":
        print(f"SLURM test bed up: {DEFAULT_SLURM_CONF} -> {SLURM_CONF}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
