"""Tracking servers for the tests: a throwaway PostgreSQL database and an ``mlflow server`` in front of a store.

Each listens on a free port of 127.0.0.1, lives in a temporary folder and is stopped by its own PID::

    with postgres_database() as database_uri, mlflow_server(database_uri, tmp_path / "artifacts") as server:
        ...                       # MLFLOW_TRACKING_URI=server.url
        server.stop()             # an outage
        server.start()            # back, on the same port and store

PostgreSQL is Debian's server (``initdb`` and ``postgres`` from ``/usr/lib/postgresql/<version>/bin``). It refuses
to run as root, so under root the cluster belongs to the ``postgres`` system user that Debian's package creates.
A test that needs what is missing (the binaries, that user, ``psycopg2``) is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_ROOT = Path("/usr/lib/postgresql")
POSTGRES_USER = "postgres"  # created by Debian's postgresql package
DATABASE = "mlflow"
STARTUP_SECONDS = 120
SHUTDOWN_SECONDS = 20


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path:
    """The ``bin`` folder of the newest PostgreSQL installed under /usr/lib/postgresql; skip if there is none."""
    folders = sorted(POSTGRES_ROOT.glob("*/bin/initdb"), key=lambda path: [int(n) for n in path.parts[-3].split(".")])
    if not folders:
        pytest.skip(f"no PostgreSQL server ({POSTGRES_ROOT}/<version>/bin/initdb): apt-get install postgresql")
    return folders[-1].parent


def cluster_owner() -> pwd.struct_passwd | None:
    """The user the cluster runs as: ``postgres`` under root (initdb refuses root), else the current user (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        pytest.skip(f"running as root and there is no {POSTGRES_USER!r} user to own the PostgreSQL cluster")


def stop_process(process: subprocess.Popen, signal_number: int, *, group: bool = False) -> None:
    """Send ``signal_number`` to ``process`` (to its process group, whose id is its PID, if ``group``: what is
    left of it even if the leader has exited), wait for it to exit, and kill it if it has not within
    ``SHUTDOWN_SECONDS``."""

    def send(number: int) -> None:
        if group:
            with contextlib.suppress(ProcessLookupError):  # the whole group has exited
                os.killpg(process.pid, number)
        elif process.poll() is None:
            process.send_signal(number)

    send(signal_number)
    try:
        process.wait(timeout=SHUTDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()


def run_or_fail(command: list, **options) -> None:
    """Run ``command``; fail the test with its output if it exits non-zero."""
    result = subprocess.run(command, capture_output=True, text=True, **options)
    if result.returncode != 0:
        pytest.fail(f"{command[0]} exited with {result.returncode}:\n{result.stdout}{result.stderr}")


def wait_until(ready, process: subprocess.Popen, log: Path, what: str) -> None:
    """Poll ``ready()`` until it is true; fail with ``log`` if ``process`` exits or ``STARTUP_SECONDS`` pass."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer within {STARTUP_SECONDS} s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL cluster with an empty database ``mlflow``, for the block; yields its SQLAlchemy URI
    (``postgresql+psycopg2://mlflow@127.0.0.1:<port>/mlflow``, trust authentication on loopback only).

    The cluster lives in a new folder of the system's temporary directory (the cluster's owner must be able to
    enter it, which pytest's own folders do not allow another user), listens on TCP only, and is stopped with a
    fast shutdown (SIGINT to the postmaster's PID); the folder is then removed."""
    pytest.importorskip("psycopg2", reason="MLflow reaches PostgreSQL through psycopg2 (pip install psycopg2-binary)")
    binaries = postgres_bin()
    owner = cluster_owner()
    as_owner = {} if owner is None else {"user": owner.pw_uid, "group": owner.pw_gid}
    with tempfile.TemporaryDirectory(prefix="sgm-mlc-postgres-") as folder:
        home = Path(folder)
        if owner is not None:
            os.chown(home, owner.pw_uid, owner.pw_gid)
        data, log = home / "data", home / "postgres.log"
        run_or_fail(
            [binaries / "initdb", "--pgdata", data, "--username", DATABASE, "--auth", "trust", "--encoding", "UTF8",
             "--locale", "C", "--no-sync"],
            cwd=home, **as_owner,
        )
        port = free_port()
        with log.open("w") as output:
            server = subprocess.Popen(
                [binaries / "postgres", "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                 "-c", "unix_socket_directories=", "-c", "fsync=off"],
                cwd=home, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **as_owner,
            )
        try:
            address = ["--host", "127.0.0.1", "--port", str(port), "--username", DATABASE]
            wait_until(
                lambda: subprocess.run([binaries / "pg_isready", "--quiet", *address]).returncode == 0,
                server, log, "postgres",
            )
            run_or_fail([binaries / "createdb", *address, DATABASE])
            yield f"postgresql+psycopg2://{DATABASE}@127.0.0.1:{port}/{DATABASE}"
        finally:
            stop_process(server, signal.SIGINT)  # fast shutdown: roll back open transactions, then exit


class MlflowServer:
    """``mlflow server`` on ``backend_uri`` that serves its artifacts from ``artifacts``, on one port for its
    whole life, so it can be stopped and started again under the same ``url``.

    The server forks workers: it is started in a session of its own and stopped by signalling that process
    group, whose id is the server's PID. Its output goes to ``log``. Its job runner (a pool of processes for
    MLflow's GenAI jobs, which tracking never uses) is switched off: it triples start and stop times."""

    def __init__(self, backend_uri: str, artifacts: Path, log: Path, workers: int = 2) -> None:
        self.backend_uri, self.artifacts, self.log, self.workers = backend_uri, artifacts, log, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait until its ``/health`` answers."""
        command = [
            str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", str(self.artifacts), "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
        ]
        with self.log.open("a") as output:
            self.process = subprocess.Popen(
                command, env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(self.is_healthy, self.process, self.log, "mlflow server")

    def is_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        """Stop the server and its workers (SIGTERM to its process group)."""
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM, group=True)
            self.process = None


@contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, workers: int = 2) -> Iterator[MlflowServer]:
    """A started :class:`MlflowServer` for the block (its log beside ``artifacts``), stopped at the end."""
    server = MlflowServer(backend_uri, artifacts, artifacts.parent / "mlflow-server.log", workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()
