"""Real `celery worker` processes for integration tests, and what they are given: the one
way every integration test (on this host, on a namespace "host", beside a private
service) starts a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def worker_environment(*, database_url: str, broker_url: str, data_dir: Path, media_root: Path, model_base: Path,
                       motion_adapter: Path, pki_dir: Path, public_url: str, master_key: str, watermark_key: str,
                       **bespoke: str) -> dict[str, str]:
    """A worker's environment: this process's, less its Bespoke and Django settings, plus the
    database, the broker, the tiny model, the test PKI and the keys the test process seals and
    watermarks with (a deployment gives every process the same ones); ``bespoke`` adds
    BESPOKE_ settings by their names without the prefix (``render_lease_seconds="3"``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BESPOKE_", "DJANGO_"))}
    env.update({
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "BESPOKE_DATA_DIR": str(data_dir),
        "BESPOKE_MEDIA_ROOT": str(media_root),
        "BESPOKE_MODEL_BASE": str(model_base),
        "BESPOKE_MOTION_ADAPTER": str(motion_adapter),
        "BESPOKE_DEVICE": "cpu",
        "BESPOKE_TORCH_THREADS": "1",
        "BESPOKE_PKI_DIR": str(pki_dir),
        "BESPOKE_PUBLIC_URL": public_url,
        "BESPOKE_MASTER_KEY": master_key,
        "BESPOKE_WATERMARK_KEY": watermark_key,
        # The test run's dev time-stamping authority (tests/conftest.py), on this machine's loopback.
        "BESPOKE_TSA_URL": os.environ.get("BESPOKE_TSA_URL", ""),
        **{f"BESPOKE_{name.upper()}": value for name, value in bespoke.items()},
    })
    return env


class Worker:
    """One `celery worker` (one pool process, the gpu and default queues) in its own process
    group; ``wrap`` runs its command line another way (inside a network namespace), ``extra``
    adds arguments (``--beat``); its output goes to ``log``."""

    def __init__(self, name: str, env: Mapping[str, str], log: Path, *, extra: Sequence[str] = (),
                 wrap: Callable[[list[str]], list[str]] = lambda argv: argv) -> None:
        self.name = name
        self.log = log
        self._terminated = False
        self._handle = log.open("w")
        self.process = subprocess.Popen(
            wrap([sys.executable, "-m", "celery", "-A", "bespoke", "worker", "--queues", "gpu,default",
                  "--concurrency", "1", "--pool", "prefork", "--hostname", f"{name}@%h", "--without-gossip",
                  "--without-mingle", "--without-heartbeat", "--loglevel", "INFO", *extra]),
            cwd=ROOT, env=dict(env), stdout=self._handle, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.output():
            assert self.process.poll() is None, f"worker {self.name} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"worker {self.name} not ready:\n{self.output()}"
            time.sleep(0.2)

    def tasks_finished(self) -> int:
        """How many tasks this worker ended (whether they returned or raised)."""
        text = self.output()
        return text.count("] succeeded in ") + text.count("] raised unexpected")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            _signal_group(self.process.pid, sig)
        self.process.wait(timeout=30)

    def terminate(self) -> None:
        """Ask for a warm shutdown (once): the worker finishes its task, then exits."""
        if self.process.poll() is None and not self._terminated:
            _signal_group(self.process.pid, signal.SIGTERM)
            self._terminated = True

    def stop(self) -> None:
        """A warm shutdown, then SIGKILL to the whole process group after 20 s."""
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._handle.close()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
