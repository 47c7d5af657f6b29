"""A one-node SLURM cluster on this machine's loopback address, for the tests: munged, slurmctld and slurmd started
directly (no systemd), each in the foreground as a child of the test, and stopped by its PID::

    with slurm_cluster() as cluster:
        run(..., env=cluster.environment())   # sbatch, squeue, `snakemake --executor slurm` reach this cluster
        cluster.jobs()                         # every job so far, finished ones included

The node is this machine as ``slurmd -C`` reports it (CPUs, memory). The cluster has no cgroups
(``proctrack/linuxproc``, ``task/none``) and no accounting (no slurmdbd): job states come from ``squeue``, which
lists a finished job for an hour (``MinJobAge``). munged runs with a key and socket of its own.

The configuration has to be ``/etc/slurm/slurm.conf``: the job steps of snakemake-executor-plugin-slurm drop
``SLURM_CONF`` and read that default path. It is written with a marker line and removed when the cluster stops; a
slurm.conf without the marker (a real cluster's) is never touched, and the test is skipped instead. So is a test
on a machine without the daemons, as a user other than root, or where the host name does not resolve to a
loopback address (the daemons bind the address of the host name).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.servers import free_port

SLURM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# Written by tests/integration/slurm_cluster.py for a one-node test cluster; removed when it stops."
PARTITION = "test"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "srun", "scancel")
SYSTEM_BIN = "/usr/sbin:/sbin"  # where Debian puts the daemons, often off a user's PATH
STARTUP_SECONDS = 60
SHUTDOWN_SECONDS = 30


@dataclass(frozen=True)
class Node:
    """This machine as a SLURM node: its name, the address the daemons bind, and ``slurmd -C``'s hardware line."""

    name: str
    address: str
    hardware: dict[str, str]  # NodeName, CPUs, Boards, SocketsPerBoard, CoresPerSocket, ThreadsPerCore, RealMemory

    @property
    def cpus(self) -> int:
        return int(self.hardware["CPUs"])

    @property
    def memory_mb(self) -> int:
        return int(self.hardware["RealMemory"])


@dataclass(frozen=True)
class Job:
    """A job as ``squeue`` lists it; ``comment`` is what the submitter set (the plugin: ``rule_<name>…``)."""

    id: int
    state: str
    start: str  # ISO time, to the second
    end: str
    comment: str


@dataclass(frozen=True)
class Cluster:
    """The running cluster: its one node, and how long it took from launching the daemons to a first finished job
    (one with a job step, as the plugin's jobs have)."""

    node: Node
    startup_seconds: float

    def environment(self) -> dict[str, str]:
        """Variables for clients of this cluster (the daemons and job steps read the same default path)."""
        return {"SLURM_CONF": str(SLURM_CONF)}

    def jobs(self) -> list[Job]:
        listing = run_client("squeue", "--states=all", "--noheader", "--format=%i|%T|%S|%e|%k")
        jobs = []
        for line in listing.splitlines():
            job_id, state, start, end, comment = line.split("|", 4)
            jobs.append(Job(int(job_id), state, start, end, comment))
        return sorted(jobs, key=lambda job: job.id)


def tool(name: str) -> str | None:
    """The path of a SLURM or munge command, or None where it is not installed."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SYSTEM_BIN}")


def run_client(*command: str, timeout: float = 60) -> str:
    """The output of a SLURM client command (sbatch, squeue, …) run against the test cluster."""
    completed = subprocess.run(
        [tool(command[0]), *command[1:]], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "SLURM_CONF": str(SLURM_CONF)},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}: {completed.stderr.strip()}")
    return completed.stdout


def require_this_machine() -> None:
    """Skip, with the reason, where the cluster cannot run."""
    missing = [name for name in DAEMONS + CLIENTS if tool(name) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing): "
                    "apt-get install slurm-wlm slurmctld slurmd slurm-client munge")
    if os.geteuid() != 0:
        pytest.skip("the one-node SLURM cluster needs root (slurmd starts jobs as their user; /etc/slurm/slurm.conf)")
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace").splitlines()[:1]:
        pytest.skip(f"{SLURM_CONF} exists and was not written by these tests: it is left alone")


def this_node() -> Node:
    """This machine from ``slurmd -C``; skip if its host name does not resolve to a loopback address."""
    report = subprocess.run([tool("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout
    hardware = dict(field.split("=", 1) for field in report.splitlines()[0].split())
    name = hardware["NodeName"]
    try:
        address = socket.gethostbyname(name)
    except socket.gaierror:
        pytest.skip(f"the host name {name} does not resolve: SLURM's daemons bind the address of the host name")
    if not ipaddress.ip_address(address).is_loopback:
        pytest.skip(f"the host name {name} resolves to {address}, not a loopback address: SLURM's daemons bind the "
                    "address of the host name, and the test cluster must not listen on the network")
    return Node(name=name, address=address, hardware=hardware)


def slurm_conf(node: Node, runtime: Path, munge_socket: Path) -> str:
    """This machine as the controller and the only node (of partition ``test``), on free ports; state, spool,
    PID and log files under ``runtime``."""
    hardware = " ".join(f"{key}={value}" for key, value in node.hardware.items())
    return "\n".join([
        MARKER,
        "ClusterName=sgm-mlc-test",
        f"SlurmctldHost={node.name}({node.address})",
        f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}",
        "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",  # bind the host name's address, not every interface
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        "SlurmUser=root",
        f"StateSaveLocation={runtime / 'state'}",
        f"SlurmdSpoolDir={runtime / 'spool'}",
        f"SlurmctldPidFile={runtime / 'slurmctld.pid'}",
        f"SlurmdPidFile={runtime / 'slurmd.pid'}",
        f"SlurmctldLogFile={runtime / 'slurmctld.log'}",
        f"SlurmdLogFile={runtime / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "MpiDefault=none",
        "MailProg=/bin/true",
        "MinJobAge=3600",
        "ReturnToService=2",
        f"{hardware} NodeAddr={node.address} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={node.name} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


@contextmanager
def slurm_cluster() -> Iterator[Cluster]:
    """Start the cluster, wait until a first job has run, yield it; then cancel its jobs, stop the daemons, and
    remove the configuration and every file of the cluster."""
    require_this_machine()
    node = this_node()
    runtime = Path(tempfile.mkdtemp(prefix="slurm-test-"))
    runtime.chmod(0o755)  # munged serves its socket only from a folder everyone can enter
    created_conf_dir = not SLURM_CONF.parent.exists()
    daemons: list[subprocess.Popen] = []
    try:
        key, munge_socket = runtime / "munge.key", runtime / "munge.socket"
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as stream:
            stream.write(os.urandom(1024))
        for folder in ("state", "spool"):
            (runtime / folder).mkdir()
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(slurm_conf(node, runtime, munge_socket), encoding="utf-8")

        started = time.monotonic()
        daemons.append(start_daemon(runtime, "munged", "--foreground", f"--key-file={key}",
                                    f"--socket={munge_socket}", f"--pid-file={runtime / 'munged.pid'}",
                                    f"--log-file={runtime / 'munged.log'}", f"--seed-file={runtime / 'munged.seed'}"))
        wait_until(lambda: munge_socket.exists(), "munged to open its socket", runtime, daemons)
        daemons.append(start_daemon(runtime, "slurmctld", "-D"))
        daemons.append(start_daemon(runtime, "slurmd", "-D"))
        wait_until(lambda: node_state(node) == "idle", f"node {node.name} to be idle", runtime, daemons)
        first_job = run_client("sbatch", "--parsable", f"--output={runtime / 'first-job.log'}", "--wrap=srun true")
        wait_until(lambda: job_state(first_job.strip()) == "COMPLETED", "a first job to finish", runtime, daemons)
        yield Cluster(node=node, startup_seconds=time.monotonic() - started)
    finally:
        if len(daemons) == len(DAEMONS) and all(daemon.poll() is None for daemon in daemons):
            cancel_jobs()
        for daemon in reversed(daemons):
            stop(daemon)
        SLURM_CONF.unlink(missing_ok=True)
        if created_conf_dir:
            SLURM_CONF.parent.rmdir()
        shutil.rmtree(runtime, ignore_errors=True)


def start_daemon(runtime: Path, name: str, *arguments: str) -> subprocess.Popen:
    """``name`` in the foreground, as a child of this process, its output in ``runtime/<name>.out``."""
    with open(runtime / f"{name}.out", "wb") as output:
        return subprocess.Popen([tool(name), *arguments], stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, "SLURM_CONF": str(SLURM_CONF)})


def node_state(node: Node) -> str:
    """The node's state as the controller sees it (``idle``, ``down``, …), or "" while it does not answer."""
    try:
        return run_client("sinfo", "--noheader", f"--nodes={node.name}", "--format=%T", timeout=10).strip()
    except RuntimeError:  # slurmctld not answering yet
        return ""


def job_state(job_id: str) -> str:
    return run_client("squeue", f"--jobs={job_id}", "--states=all", "--noheader", "--format=%T").strip()


def wait_until(condition: Callable[[], bool], what: str, runtime: Path, daemons: list[subprocess.Popen]) -> None:
    """Poll ``condition`` until it holds; fail with the daemons' logs if one of them exits or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while not condition():
        exited = [Path(daemon.args[0]).name for daemon in daemons if daemon.poll() is not None]
        if exited or time.monotonic() > deadline:
            logs = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
                             for log in sorted(runtime.glob("*.out")) + sorted(runtime.glob("*.log")))
            raise RuntimeError(f"gave up waiting for {what} ({'exited: ' + ', '.join(exited) if exited else 'timeout'})"
                               f"\n{logs}")
        time.sleep(0.1)


def cancel_jobs() -> None:
    """Cancel whatever is still queued or running, and wait until no job step is left."""
    run_client("scancel", f"--partition={PARTITION}")
    deadline = time.monotonic() + SHUTDOWN_SECONDS
    while time.monotonic() < deadline and run_client(
        "squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING", "--format=%i"
    ).strip():
        time.sleep(0.2)


def stop(daemon: subprocess.Popen) -> None:
    daemon.terminate()
    try:
        daemon.wait(timeout=SHUTDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
