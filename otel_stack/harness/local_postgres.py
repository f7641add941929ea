"""A local PostgreSQL server from Debian's `postgresql` package, for tests and benchmarks.

The server runs from a throwaway data directory on its own free port on
127.0.0.1. PostgreSQL refuses to run as root, so as root the data directory is
owned by the `postgres` user and every binary runs through `runuser` (the
server itself through `setpriv`). Without the binaries `running_postgres`
raises `PostgresNotFoundError`, saying how to install them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from otel_stack.harness import processes
from otel_stack.harness.processes import Service, ServiceSpec, StartupError
from otel_stack.harness.running import free_port

NAME = "PostgreSQL"
INSTALL_HINT = "install Debian's postgresql package: apt-get install postgresql"
BIN_DIR = Path(os.environ.get("POSTGRES_BIN_DIR", "/usr/lib/postgresql/15/bin"))
SERVICE_USER = "postgres"
START_TIMEOUT = 60.0


class PostgresNotFoundError(Exception):
    """PostgreSQL's binaries are not installed where they are looked for."""


def find_binaries(bin_dir: Path = BIN_DIR) -> Path:
    """The directory of initdb and postgres; raise PostgresNotFoundError without them."""
    if (bin_dir / "initdb").exists() and (bin_dir / "postgres").exists():
        return bin_dir
    raise PostgresNotFoundError(f"PostgreSQL binaries not found in {bin_dir}: {INSTALL_HINT}")


def _as_service_user() -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--"] if os.geteuid() == 0 else []


def _exec_as_service_user() -> list[str]:
    """A prefix that execs the server as `postgres` under root (setpriv: no child process)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups"]


def _direct(argv: list[str]) -> list[str]:
    return argv


def _here(function: Callable[[], Any]) -> Any:
    return function()


@dataclass
class PostgresServer:
    """One PostgreSQL server on this machine; `url()` names a database on it."""

    bin_dir: Path
    root: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    fsync: bool = False
    service: Service | None = None
    # Where the server runs and where clients connect from (a network namespace in tests/scale).
    wrap_command: Callable[[list[str]], list[str]] = _direct
    run_client: Callable[[Callable[[], Any]], Any] = _here

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for `database` on this server (trust authentication, user postgres)."""
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def init(self) -> None:
        """Create the data directory (initdb)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVICE_USER, SERVICE_USER)
        result = subprocess.run(
            [
                *_as_service_user(),
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            capture_output=True,
            check=False,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise StartupError(NAME, f"initdb failed: {result.stderr.strip()}")
        # Clients on the server's own subnet (other test hosts in tests/scale) are trusted too.
        with (self.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write("host all all samenet trust\n")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (StartupError if not)."""
        # Exec'd as the service user (setpriv, not runuser), so that signals
        # reach the postmaster itself.
        command = [
            *_exec_as_service_user(),
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"unix_socket_directories={self.root}",
            "-c",
            f"fsync={'on' if self.fsync else 'off'}",
            "-c",
            "max_connections=200",
        ]
        spec = ServiceSpec(
            name=NAME,
            command=self.wrap_command(command),
            env=os.environ,
            log_path=self.root / "postgres.log",
            ready=self.accepts_connections,
            ready_description=f"a connection to {self.host}:{self.port} succeeds",
            stop_signal=signal.SIGINT,  # fast shutdown: open connections are ended
        )
        # One log across restarts; the wait fails fast, with the log's end, if the server exits.
        self.service = processes.spawn(spec, append_log=True)
        processes.wait_ready(self.service, START_TIMEOUT)

    def accepts_connections(self) -> bool:
        """Whether a connection to the server succeeds now."""
        try:
            self.run_client(lambda: psycopg.connect(self.url(), connect_timeout=2).close())
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are ended)."""
        if self.service is not None:
            self.service.stop(grace=30)
        self.service = None

    def create_database(self) -> str:
        """Create an empty database; return its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"

        def create() -> None:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')

        self.run_client(create)
        return self.url(name)

    def connections(self, database_url: str) -> int:
        """How many client connections are open to the database of `database_url`."""
        database = database_url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchone()
        assert row is not None
        return int(row[0])


@contextmanager
def running_postgres(
    *,
    fsync: bool = False,
    host: str = "127.0.0.1",
    wrap_command: Callable[[list[str]], list[str]] = _direct,
    run_client: Callable[[Callable[[], Any]], Any] = _here,
) -> Iterator[PostgresServer]:
    """A PostgreSQL server in a temporary directory, stopped and removed afterwards.

    `wrap_command` and `run_client` run the server, and the probes that reach
    it, somewhere else (a network namespace whose address is `host`). Raises
    PostgresNotFoundError without the binaries.
    """
    bin_dir = find_binaries()
    root = Path(tempfile.mkdtemp(prefix="otel-pg-"))
    root.chmod(0o755)  # the service user must reach its data directory inside
    server = PostgresServer(
        bin_dir,
        root / "pg",
        host=host,
        port=free_port() if host == "127.0.0.1" else 5432,
        fsync=fsync,
        wrap_command=wrap_command,
        run_client=run_client,
    )
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
