"""Backups: a consistent database dump, a copy of every stored object and a manifest.

A backup folder holds `database.dump` (PostgreSQL: `pg_dump -Fc`, which keeps the audit
log's append-only triggers; SQLite: the online backup API), `objects/` (every object of
the default storage, streamed through the storage API, so the filesystem and S3 alike)
and `manifest.json` (when, counts, each object's SHA-256, the audit chain's head and the
latest signed checkpoint's tree size). It is written to DIR.partial and renamed to DIR
only when complete, so a folder named DIR is always a whole backup.

What a backup deliberately leaves out lives outside the database on purpose and must
outlive it: the signed audit checkpoints and the ledger of destroyed keys
(consent.key_ledger). `bespoke.restore` reads them from where they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files.storage import Storage, default_storage
from django.db import connection
from django.utils import timezone

from audit.checkpoints import audit_log_verify
from audit.selectors import audit_chain_head
from audit.services import audit_seal
from core.secure_files import create_private_dir
from provenance.services import file_sha256

BACKUP_FORMAT = 1
MANIFEST = "manifest.json"
DATABASE_DUMP = "database.dump"
OBJECTS = "objects"
# Kept beside media when the checkpoint bucket is the media bucket; never part of a backup.
OUTSIDE_THE_BACKUP = ("audit-checkpoints", "destroyed-keys")
CHUNK = 1024 * 1024


class BackupFailed(Exception):
    """The backup could not be made; no folder named like a finished backup was left."""


@dataclass(frozen=True)
class BackupResult:
    directory: Path
    manifest: dict[str, Any]


def database_engine() -> str:
    engine = connection.settings_dict["ENGINE"]
    if engine.endswith("postgresql"):
        return "postgresql"
    if engine.endswith("sqlite3"):
        return "sqlite"
    raise BackupFailed(f"cannot back up a database of engine {engine}")


def postgres_tool(name: str) -> str:
    """pg_dump / pg_restore: on PATH, else the newest PostgreSQL install's."""
    found = shutil.which(name)
    if found:
        return found
    installs = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if installs:
        return str(installs[-1])
    raise BackupFailed(f"{name} is not installed (the PostgreSQL client tools)")


def postgres_arguments() -> tuple[list[str], dict[str, str]]:
    """Connection arguments and environment for pg_dump / pg_restore from the Django settings."""
    settings_dict = connection.settings_dict
    arguments = ["--dbname", settings_dict["NAME"]]
    if settings_dict.get("HOST"):
        arguments += ["--host", str(settings_dict["HOST"])]
    if settings_dict.get("PORT"):
        arguments += ["--port", str(settings_dict["PORT"])]
    if settings_dict.get("USER"):
        arguments += ["--username", str(settings_dict["USER"])]
    environment = {**os.environ}
    if settings_dict.get("PASSWORD"):
        environment["PGPASSWORD"] = str(settings_dict["PASSWORD"])
    return arguments, environment


def stored_names(storage: Storage = default_storage, directory: str = "") -> Iterator[str]:
    """Every object name in the storage, depth first, leaving out OUTSIDE_THE_BACKUP."""
    try:
        folders, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield f"{directory}/{name}" if directory else name
    for folder in sorted(folders):
        if not directory and folder in OUTSIDE_THE_BACKUP:
            continue
        yield from stored_names(storage, f"{directory}/{folder}" if directory else folder)


def backup_create(*, out: Path) -> BackupResult:
    """Write a backup of the database and the default storage to `out` (which must not exist)."""
    out = Path(out).absolute()
    partial = out.with_name(out.name + ".partial")
    if out.exists():
        raise BackupFailed(f"{out} already exists: name a new folder for each backup")
    if partial.exists():
        raise BackupFailed(f"{partial} exists: a backup is running or one failed there; remove it first")
    engine = database_engine()
    create_private_dir(partial)
    try:
        manifest = _write_backup(partial, engine)
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupResult(directory=out, manifest=manifest)


def _write_backup(directory: Path, engine: str) -> dict[str, Any]:
    started = timezone.now()
    audit_seal()  # committed events waiting for their seal go into the dump sealed
    verification = audit_log_verify(full=False)
    head_seq, head_hash = audit_chain_head()
    dump = directory / DATABASE_DUMP
    if engine == "postgresql":
        _dump_postgres(dump)
    else:
        _dump_sqlite(dump)
    objects = _copy_objects(directory / OBJECTS)
    manifest = {
        "format": BACKUP_FORMAT,
        "created_at": started.isoformat(),
        "finished_at": timezone.now().isoformat(),
        "database": {"engine": engine, "file": DATABASE_DUMP, "bytes": dump.stat().st_size,
                     "sha256": file_sha256(dump)},
        "counts": {"objects": len(objects), "object_bytes": sum(item["bytes"] for item in objects)},
        "objects": objects,
        "audit": {"head_seq": head_seq, "head_entry_hash": head_hash,
                  "latest_checkpoint_tree_size": verification.latest_checkpoint_seq,
                  "latest_checkpoint_at": (verification.latest_checkpoint_at.isoformat()
                                           if verification.latest_checkpoint_at else None),
                  "verified": verification.ok, "problems": list(verification.problems)},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def _dump_postgres(dump: Path) -> None:
    arguments, environment = postgres_arguments()
    command = [postgres_tool("pg_dump"), "--format=custom", "--file", str(dump), *arguments]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {result.stderr.strip() or result.returncode}")


def _dump_sqlite(dump: Path) -> None:
    connection.ensure_connection()
    target = sqlite3.connect(dump)
    try:
        connection.connection.backup(target)
    finally:
        target.close()
    os.chmod(dump, 0o600)


def _copy_objects(directory: Path) -> list[dict[str, Any]]:
    objects = []
    root = create_private_dir(directory).resolve()
    for name in stored_names():
        path = root / name
        if root not in path.resolve().parents:
            raise BackupFailed(f"the stored name {name!r} leaves the backup folder")
        create_private_dir(path.parent)
        digest, size = hashlib.sha256(), 0
        with default_storage.open(name, "rb") as source, path.open("xb") as target:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        objects.append({"name": name, "bytes": size, "sha256": digest.hexdigest()})
    return objects


def manifest_read(directory: Path) -> dict[str, Any]:
    """The manifest of a finished backup; BackupFailed when there is none or it is not one."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupFailed(f"{directory} is not a finished backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupFailed(f"{path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise BackupFailed(f"{path} is not a Bespoke backup manifest of format {BACKUP_FORMAT}")
    return manifest
