"""Private Redis and PostgreSQL servers that a test may restart, and workers that use them.

The machine's shared servers carry other tests: a test that restarts its broker or its
database runs its own, on a free port, and restarts only those.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.integration.workers import Worker
from tests.integration.workers import worker_environment as shared_worker_environment

PG_BIN = Path(os.environ.get("BESPOKE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} does not listen on port {port}") from None
            time.sleep(0.05)


class PrivateRedis:
    """A Redis that keeps nothing on disk, so a restart loses every queued message."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        _wait_for_port(self.port, timeout=10, what="redis-server")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Kill it (as a crash would) and start an empty one on the same port."""
        self.kill()
        self.start()


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder owned by the postgres user (initdb refuses root)."""

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="bespoke-pg-"))
        self.data = self.root / "data"
        self.port = port or free_port()

    @classmethod
    def attach(cls, root: Path, port: int) -> PrivatePostgres:
        """The cluster another process started (to restart it from there)."""
        return cls(root=root, port=port)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)

    def start(self) -> PrivatePostgres:
        shutil.chown(self.root, "postgres", "postgres")
        if not self.data.exists():
            self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
                              "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                          "-l", str(self.root / "server.log"), "-w", "start")
        return self

    def restart(self, mode: str = "fast", *, down_seconds: float = 0) -> None:
        """Stop it (``fast``: every session is ended; ``immediate``: a crash, recovered at
        start), leave it down for ``down_seconds`` (connections are refused), start it again."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        time.sleep(down_seconds)
        self.start()

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                            "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def worker_environment(*, model_root: Path, **given: object) -> dict[str, str]:
    """`tests.integration.workers.worker_environment` for a process beside the private services,
    with the tiny model under ``model_root``."""
    return shared_worker_environment(model_base=model_root / "base", motion_adapter=model_root / "motion_adapter",
                                     public_url="https://bespoke.test", **given)  # type: ignore[arg-type]


class BeatWorker(Worker):
    """A `celery worker` that also runs the beat schedule (the reaper, the audit seal), as
    `manage.py serve` does: nothing but the product's own schedule rescues a lost job."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        super().__init__(name, env, log, extra=("--beat", "--schedule", str(log.parent / f"{name}-beat")))
