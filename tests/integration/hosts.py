"""Worker hosts as Linux network namespaces, for tests of what a network partition does.

A `HostNetwork` makes a few `Host`s on this machine. Each is a network namespace
``bsp-<run>-<n>`` (address ``10.<x>.<n>.6``) behind a router namespace ``bsp-<run>-<n>r``,
joined to this machine by veth pairs; this machine's end is ``10.<x>.<n>.1``. The
machine's services listen on 127.0.0.1 only, so each host reaches them through its own
TCP forwarders (socat) listening on ``10.<x>.<n>.1`` on the service's own port: a process
in the host finds PostgreSQL at ``10.<x>.<n>.1:5432`` (`Host.reach` rewrites a
``127.0.0.1`` URL that way).

What a test can break, for one host only:

- `Host.cut` partitions it: its router drops every packet both ways, so packets vanish as
  in a real partition, and neither end is told (the link stays up, open connections hang
  with their data unacknowledged, new ones time out); `Host.restore` ends it, and what was
  in flight gets through. (Taking a veth down instead would tell both kernels: new
  connections would fail at once and the forwarders would drop theirs.)
- `Host.block` stops one forwarder (its open connections are closed, new ones refused):
  that one service is unreachable from that host; `Host.unblock` starts it again.

`HostWorker` runs a real ``celery worker`` inside a host; `worker_environment` builds its
environment. Everything is torn down by `HostNetwork.close` (a context manager, so also on
failure), and `sweep_stale` removes what a run that was killed left behind (namespaces,
links, forwarders, the processes inside). Needs root and iproute2's ``ip`` and ``tc``;
`unavailable` says why not, when not.

    with HostNetwork(hosts=2, services={"postgres": 5432, "redis": 6379}) as network:
        one, two = network.hosts
        worker = HostWorker(one, "one", env=worker_environment(one, ...), log=path)
        one.cut(); ...; one.restore()
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from tests.integration.workers import Worker
from tests.integration.workers import worker_environment as shared_worker_environment

SOCAT = "/usr/bin/socat"
NAME_PREFIX = "bsp-"
# One file per live run (its owner's pid, its subnet, its forwarders), so a sweep tells a
# run that is still going (another test session on this machine) from one that was killed.
RUNS_DIR = Path("/run/bespoke-test-hosts")
_NAME = re.compile(r"^bsp-([0-9a-f]{4})-(\d+)r?$")

T = TypeVar("T")


def unavailable() -> str | None:
    """Why hosts cannot be made here (not root, no ``ip netns`` or ``tc``, no socat), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2's `ip` and `tc` are not installed"
    if not Path(SOCAT).exists():
        return f"{SOCAT} is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def wait_for(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ip", *args], check=check)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Forwarder:
    """A TCP forwarder (socat, one process per connection in its own process group) from
    ``listen`` on this machine to ``target``; `stop` also closes its open connections."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], on_start: Callable[[int], None]) -> None:
        self.listen = listen
        self.target = target
        self._on_start = on_start
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        address, port = self.listen
        self.process = subprocess.Popen(
            [SOCAT, f"TCP-LISTEN:{port},bind={address},reuseaddr,fork,backlog=64",
             f"TCP:{self.target[0]}:{self.target[1]},nodelay"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self._on_start(self.process.pid)
        wait_for(lambda: self._listening() or not self.running, timeout=10, what=f"socat on {address}:{port}")
        if not self.running:
            raise RuntimeError(f"socat could not listen on {address}:{port}")

    def _listening(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(self.listen) == 0

    def stop(self) -> None:
        if self.process is None:
            return
        _kill_group(self.process.pid)
        self.process.wait(timeout=10)
        self.process = None


class Host:
    """One worker host: a network namespace behind its own router namespace (the network
    between it and this machine, where a cut drops packets), and its forwarders."""

    def __init__(self, network: HostNetwork, index: int, subnet: int) -> None:
        self.network = network
        self.index = index
        self.name = f"{NAME_PREFIX}{network.run}-{index}"
        self.router = f"{self.name}r"
        self.link = self.name  # this machine's end of the link to the router
        self.gateway = f"10.{subnet}.{index}.1"  # where the forwarders listen
        self.address = f"10.{subnet}.{index}.6"
        self._router_up, self._router_down = f"10.{subnet}.{index}.2", f"10.{subnet}.{index}.5"
        self.forwarders: dict[str, Forwarder] = {}

    def create(self, services: Mapping[str, int]) -> None:
        subnet = self.gateway.rsplit(".", 1)[0]
        _ip("netns", "add", self.router)
        _ip("netns", "add", self.name)
        _ip("link", "add", "name", self.link, "type", "veth", "peer", "name", "uplink", "netns", self.router)
        _ip("-n", self.router, "link", "add", "name", "downlink", "type", "veth", "peer", "name", "eth0",
            "netns", self.name)
        _ip("addr", "add", f"{self.gateway}/30", "dev", self.link)
        _ip("link", "set", self.link, "up")
        _ip("route", "add", f"{subnet}.4/30", "via", self._router_up, "dev", self.link)
        for command in (["link", "set", "lo", "up"], ["addr", "add", f"{self._router_up}/30", "dev", "uplink"],
                        ["addr", "add", f"{self._router_down}/30", "dev", "downlink"],
                        ["link", "set", "uplink", "up"], ["link", "set", "downlink", "up"]):
            _ip("-n", self.router, *command)
        _run(["ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        for command in (["link", "set", "lo", "up"], ["addr", "add", f"{self.address}/30", "dev", "eth0"],
                        ["link", "set", "eth0", "up"], ["route", "add", "default", "via", self._router_down]):
            _ip("-n", self.name, *command)
        for service, port in services.items():
            forwarder = Forwarder((self.gateway, port), ("127.0.0.1", port), on_start=self.network.record_forwarder)
            forwarder.start()
            self.forwarders[service] = forwarder

    def reach(self, url: str) -> str:
        """``url`` (pointing at 127.0.0.1 or localhost) as a process in this host reaches it: its
        host part becomes this host's gateway, whose forwarder on that port leads there."""
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
            raise ValueError(f"{url!r} does not name a port on 127.0.0.1")
        if parts.port not in {f.listen[1] for f in self.forwarders.values()}:
            raise ValueError(f"no forwarder for port {parts.port} on {self.name}")
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@{self.gateway}:{parts.port}" if credentials else f"{self.gateway}:{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def cut(self) -> None:
        """Partition this host: from now on its router drops every packet, both ways,
        without telling either end (open connections hang, new ones time out)."""
        for link in ("uplink", "downlink"):
            _run(["tc", "-n", self.router, "qdisc", "replace", "dev", link, "root", "pfifo", "limit", "0"])

    def restore(self) -> None:
        """End the partition (connections that survived it carry on)."""
        for link in ("uplink", "downlink"):
            _run(["tc", "-n", self.router, "qdisc", "del", "dev", link, "root"], check=False)

    def block(self, service: str) -> None:
        """Make one service unreachable from this host only: its open connections are
        closed and new ones refused."""
        self.forwarders[service].stop()

    def unblock(self, service: str) -> None:
        self.forwarders[service].start()

    def owns(self, pid: int) -> bool:
        """Whether process ``pid`` runs inside this host."""
        return _ip("netns", "identify", str(pid), check=False).stdout.strip() == self.name

    def delete(self) -> None:
        for forwarder in self.forwarders.values():
            forwarder.stop()
        for pid in _ip("netns", "pids", self.name, check=False).stdout.split():
            _kill_group(int(pid))
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for namespace in (self.name, self.router):
            _ip("netns", "delete", namespace, check=False)
        _ip("link", "delete", self.link, check=False)  # gone with the router, unless that failed half-way


class HostNetwork:
    """``hosts`` worker hosts, each with a forwarder to every one of ``services`` (a name
    and the port it listens on at 127.0.0.1). A context manager: leaving it deletes them."""

    def __init__(self, *, hosts: int, services: Mapping[str, int]) -> None:
        if not 1 <= hosts <= 250:
            raise ValueError("between 1 and 250 hosts")
        self.services = dict(services)
        self.run = secrets.token_hex(2)
        self.subnet = _free_subnet()
        self.hosts = [Host(self, index, self.subnet) for index in range(1, hosts + 1)]
        self._record = RUNS_DIR / f"{self.run}.json"
        self._forwarder_pids: list[int] = []

    def __enter__(self) -> HostNetwork:
        sweep_stale()
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        self._write_record()
        try:
            for host in self.hosts:
                host.create(self.services)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def record_forwarder(self, pid: int) -> None:
        self._forwarder_pids.append(pid)
        self._write_record()

    def _write_record(self) -> None:
        self._record.write_text(json.dumps({"pid": os.getpid(), "subnet": self.subnet,
                                            "forwarders": self._forwarder_pids}))

    def host_of(self, pid: int) -> Host:
        """The host process ``pid`` runs in."""
        for host in self.hosts:
            if host.owns(pid):
                return host
        raise LookupError(f"process {pid} runs in none of the hosts")

    def close(self) -> None:
        """Delete every host (namespace, link, forwarders, the processes inside); safe to repeat."""
        for host in self.hosts:
            host.delete()
        self._record.unlink(missing_ok=True)


def _free_subnet() -> int:
    """An x for 10.x.0.0/16 that no address on this machine (or a live run) uses."""
    taken = {int(ipaddress.ip_interface(match).ip.packed[1])
             for match in re.findall(r"inet (10\.\d+\.\d+\.\d+/\d+)", _ip("-o", "addr", "show").stdout)}
    for record in RUNS_DIR.glob("*.json") if RUNS_DIR.exists() else ():
        try:
            taken.add(int(json.loads(record.read_text())["subnet"]))
        except (OSError, ValueError, KeyError):
            pass
    choices = [x for x in range(100, 250) if x not in taken]
    if not choices:
        raise RuntimeError("no free 10.x.0.0/16 subnet for test hosts")
    return choices[secrets.randbelow(len(choices))]


def sweep_stale() -> list[str]:
    """Delete the namespaces and links (and stop the forwarders and processes in them) that
    runs no longer going left behind; runs whose owner is alive are left alone. Returns the
    namespaces deleted."""
    live: set[str] = set()
    for record in RUNS_DIR.glob("*.json") if RUNS_DIR.exists() else ():
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("pid") and _alive(int(data["pid"])):
            live.add(record.stem)
            continue
        for pid in data.get("forwarders", []):
            if _alive(pid) and Path(f"/proc/{pid}/exe").resolve() == Path(SOCAT).resolve():
                _kill_group(pid)
        record.unlink(missing_ok=True)
    deleted = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NAME.match(name)
        if match and match.group(1) not in live:
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _ip("netns", "delete", name, check=False)
            deleted.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        fields = line.split(":")
        link = fields[1].strip().split("@")[0] if len(fields) > 1 else ""
        match = _NAME.match(link)
        if match and match.group(1) not in live:
            _ip("link", "delete", link, check=False)
    return deleted


def worker_environment(host: Host, *, settings: object, database_url: str, broker_url: str, data_dir: Path,
                       s3: Mapping[str, str] | None = None, lease_seconds: int = 3) -> dict[str, str]:
    """The environment of a worker in ``host``, as the ``start_worker`` fixture builds it for
    a worker on this machine: the test's database, broker (and object store: ``s3`` holds its
    BESPOKE_S3_* variables, the endpoint at 127.0.0.1) reached through the host's forwarders,
    the tiny model, the test PKI and keys, a short lease. ``settings`` is Django's."""
    env = shared_worker_environment(
        database_url=host.reach(database_url), broker_url=host.reach(broker_url), data_dir=data_dir,
        media_root=data_dir / "media", model_base=settings.BESPOKE_MODEL_BASE,  # type: ignore[attr-defined]
        motion_adapter=settings.BESPOKE_MOTION_ADAPTER, pki_dir=settings.BESPOKE_PKI_DIR,  # type: ignore[attr-defined]
        public_url=settings.BESPOKE_PUBLIC_URL, master_key=settings.BESPOKE_MASTER_KEY,  # type: ignore[attr-defined]
        watermark_key=settings.BESPOKE_WATERMARK_KEY.decode("utf-8"),  # type: ignore[attr-defined]
        render_lease_seconds=str(lease_seconds), gate_check_every_steps="2")
    if s3 is not None:
        env.update(s3)
        env["BESPOKE_S3_ENDPOINT_URL"] = host.reach(s3["BESPOKE_S3_ENDPOINT_URL"])
    tsa = env.pop("BESPOKE_TSA_URL", "")
    if tsa and urlsplit(tsa).port in {forwarder.listen[1] for forwarder in host.forwarders.values()}:
        env["BESPOKE_TSA_URL"] = host.reach(tsa)  # else the host signs without a time-stamp, as it is allowed to
    return env


class HostWorker(Worker):
    """A real ``celery worker`` (one pool process, the gpu and default queues) inside ``host``,
    with exactly ``env`` as its environment; its output goes to ``log``."""

    def __init__(self, host: Host, name: str, *, env: Mapping[str, str], log: Path) -> None:
        self.host = host
        super().__init__(name, env, log, wrap=host.command)
