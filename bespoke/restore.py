"""Restore a backup (bespoke.backup) into an empty database and an empty storage.

In order: check the backup (its manifest, the dump's SHA-256) and that the database and
the storage are empty, refusing with nothing changed otherwise; load the dump (the audit
log's triggers come with it); seal and verify the restored audit log against the signed
checkpoints of the configured checkpoint location; copy every object back, checking its
SHA-256; re-apply the ledger of destroyed keys (consent.key_ledger): every talent erased
after the backup is erased again, their key destroyed and their sealed objects deleted;
record an "audit.restored" event; sign a checkpoint.

Checkpoints. Checkpoints signed after the backup describe events the restored log lacks,
and the restored log then grows new, different events at the same sequence numbers. So a
restore starts a new checkpoint series: it refuses a checkpoint location that holds a
checkpoint the restored log does not match (the events after the backup are lost: the
message names them), and is run with an empty location, the old one kept untouched as
the signed record of the history up to the loss. The restored log's verification is then
against the checkpoints up to the size it restored, and the "audit.restored" event,
covered by the first checkpoint of the new series, states that size, its entry hash and
the backup's latest checkpoint, so the new series names the point where it continues the
old one.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.db import connection

from audit.checkpoints import (
    AuditVerification,
    audit_checkpoint_write,
    audit_log_verify,
)
from audit.models import AuditEvent
from audit.selectors import audit_chain_head, audit_entry_hashes_at
from audit.services import audit_append, audit_seal
from bespoke.backup import (
    DATABASE_DUMP,
    OBJECTS,
    BackupFailed,
    database_engine,
    manifest_read,
    postgres_arguments,
    postgres_tool,
    stored_names,
)
from consent.key_ledger import DestroyedKey, Ledger, configured_ledger, ledger_at
from core.object_storage import storage_save_path
from provenance.services import file_sha256

SYSTEM_RESTORE = "system:restore"


class RestoreRefused(BackupFailed):
    """The restore was refused before anything changed (or after undoing what it changed)."""


@dataclass
class RestoreReport:
    restored_tree_size: int = 0
    objects: int = 0
    erasures_reapplied: list[str] = field(default_factory=list)
    checkpoint: str = ""
    verification: AuditVerification | None = None
    notes: list[str] = field(default_factory=list)


def restore_from(*, source: Path, ledger_from: str | None = None,
                 say: Callable[[str], None] = lambda line: None) -> RestoreReport:
    """Restore the backup in `source` into the configured (empty) database and storage."""
    source = Path(source)
    manifest = manifest_read(source)
    engine = database_engine()
    if manifest["database"]["engine"] != engine:
        raise RestoreRefused(f"the backup holds a {manifest['database']['engine']} database; "
                             f"this deployment's database is {engine}")
    dump = source / DATABASE_DUMP
    if not dump.is_file() or file_sha256(dump) != manifest["database"]["sha256"]:
        raise RestoreRefused(f"{dump} is missing or does not match the manifest's SHA-256")
    missing = [item["name"] for item in manifest["objects"] if not (source / OBJECTS / item["name"]).is_file()]
    if missing:
        raise RestoreRefused(f"{len(missing)} objects of the manifest are missing from the backup, "
                             f"the first {missing[0]}")
    ledgers = [configured_ledger()] + ([ledger_at(ledger_from)] if ledger_from else [])
    entries = _ledger_entries(ledgers)  # read before anything changes: an unreadable ledger refuses
    say(f"destroyed-key ledger: {len(entries)} entries ({', '.join(str(ledger) for ledger in ledgers)})")
    if not _database_empty():
        raise RestoreRefused("the database is not empty: restore only into a new, empty database")
    if next(stored_names(), None) is not None:
        raise RestoreRefused("the storage is not empty: restore only into a new, empty bucket or media folder")

    report = RestoreReport()
    copied: list[str] = []
    _load_database(engine, dump)
    try:
        _destroy_listed_keys(entries)  # first, so no later failure leaves a listed key usable
        report.restored_tree_size, restored_entry_hash = _verify_restored_log(manifest)
        say(f"database loaded: audit log restored through #{report.restored_tree_size}")
        for item in manifest["objects"]:
            copied.append(_copy_back(source / OBJECTS / item["name"], item))
        report.objects = len(copied)
        say(f"objects copied back: {report.objects}, each matching its SHA-256")
        report.erasures_reapplied = _reapply_erasures(entries, say)
    except BaseException:
        for name in copied:
            if default_storage.exists(name):
                default_storage.delete(name)
        _empty_database(engine)
        raise
    audit_append(action="audit.restored", actor=SYSTEM_RESTORE, subject=f"backup:{manifest['created_at']}", data={
        "backup_created_at": manifest["created_at"], "restored_tree_size": report.restored_tree_size,
        "restored_entry_hash": restored_entry_hash,
        "backup_latest_checkpoint_tree_size": manifest["audit"]["latest_checkpoint_tree_size"],
        "objects": report.objects, "erasures_reapplied": len(report.erasures_reapplied)})
    audit_seal()
    report.checkpoint = _sign_checkpoint(report)
    say(report.checkpoint)
    report.verification = audit_log_verify(full=True)
    return report


def _ledger_entries(ledgers: Iterable[Ledger]) -> list[DestroyedKey]:
    by_talent: dict[str, DestroyedKey] = {}
    for ledger in ledgers:
        for entry in ledger.entries():
            by_talent.setdefault(entry.talent_id, entry)
    return list(by_talent.values())


def _database_empty() -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
        else:
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return cursor.fetchone()[0] == 0


def _load_database(engine: str, dump: Path) -> None:
    connection.close()
    if engine == "postgresql":
        arguments, environment = postgres_arguments()
        command = [postgres_tool("pg_restore"), "--exit-on-error", "--single-transaction", "--no-owner",
                   "--no-privileges", *arguments, str(dump)]
        result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
        if result.returncode != 0:  # one transaction: nothing was loaded
            raise RestoreRefused(f"pg_restore failed, nothing was loaded: {result.stderr.strip() or result.returncode}")
        return
    source, target = sqlite3.connect(dump), sqlite3.connect(connection.settings_dict["NAME"])
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _empty_database(engine: str) -> None:
    """Undo a load (the database was empty before it): drop what it created."""
    connection.close()
    with connection.cursor() as cursor:
        if engine == "postgresql":
            cursor.execute("DROP SCHEMA public CASCADE")
            cursor.execute("CREATE SCHEMA public")
            return
        cursor.execute("PRAGMA foreign_keys = OFF")
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def _verify_restored_log(manifest: dict[str, Any]) -> tuple[int, str]:
    """The restored log's head (size, entry hash), checked against the manifest and the checkpoints."""
    audit = manifest["audit"]
    head_seq = audit["head_seq"]
    if head_seq and audit_entry_hashes_at([head_seq]).get(head_seq) != audit["head_entry_hash"]:
        raise RestoreRefused(f"the dump does not hold the audit event #{head_seq} the manifest names: "
                             "it is not this backup's database")
    audit_seal()
    verification = audit_log_verify(full=True)
    if not verification.ok:
        raise RestoreRefused(
            "the restored audit log does not match the signed checkpoints here, so nothing was restored:\n  "
            + "\n  ".join(verification.problems)
            + "\nCheckpoints signed after the backup cover events it does not hold: those events are lost. A "
            "restore starts a new checkpoint series: give it an empty checkpoint location "
            "(BESPOKE_AUDIT_CHECKPOINT_DIR, or on the object store a new BESPOKE_S3_CHECKPOINT_BUCKET with "
            "--ledger-from s3://OLD-BUCKET) and keep this one as the signed record of what was lost.")
    return audit_chain_head()


def _copy_back(path: Path, item: dict[str, Any]) -> str:
    if file_sha256(path) != item["sha256"]:
        raise RestoreRefused(f"the backup's copy of {item['name']} does not match its SHA-256: nothing was restored")
    stored = storage_save_path(item["name"], path)
    if stored != item["name"]:
        default_storage.delete(stored)
        raise RestoreRefused(f"{item['name']} came back as {stored}: the storage was written to during the restore")
    return stored


def _destroy_listed_keys(entries: list[DestroyedKey]) -> None:
    from consent.keys import talent_key_destroy
    from consent.models import Talent

    for talent_id in Talent.objects.filter(pk__in=[entry.talent_id for entry in entries]).values_list("pk", flat=True):
        talent_key_destroy(talent_id=talent_id)


def _reapply_erasures(entries: list[DestroyedKey], say: Callable[[str], None]) -> list[str]:
    """Erase again every talent in the ledger whose erasure the restored database lacks."""
    from consent.keys import talent_key_destroy
    from consent.models import Talent
    from consent.services import talent_erase

    reapplied = []
    for entry in entries:
        talent = Talent.objects.select_related("user").filter(pk=entry.talent_id).first()
        if talent is None or AuditEvent.objects.filter(action="talent.erased", subject=f"talent:{talent.pk}").exists():
            continue  # made after the backup, or erased before it
        outcome = "erased again"
        try:
            talent_erase(talent=talent, acting_user=talent.user)
        except Exception as exc:  # noqa: BLE001 - the key is destroyed below whatever failed
            outcome = f"key destroyed; the rest of the erasure failed: {exc}"
        talent_key_destroy(talent_id=talent.pk)
        audit_append(action="restore.erasure_reapplied", actor=SYSTEM_RESTORE, subject=f"talent:{talent.pk}",
                     data={"key_id": entry.key_id, "destroyed_at": entry.destroyed_at, "outcome": outcome})
        reapplied.append(str(talent.pk))
        say(f"talent {talent.pk} (key {entry.key_id}, destroyed {entry.destroyed_at}): {outcome}")
    return reapplied


def _sign_checkpoint(report: RestoreReport) -> str:
    try:
        written = audit_checkpoint_write()
    except ImproperlyConfigured as exc:
        return f"no checkpoint signed here ({exc}): the checkpointing host signs the restored log"
    except Exception as exc:  # noqa: BLE001 - the restore is done; say why the checkpoint is not
        return f"no checkpoint signed: {exc}"
    if written is None:
        return "no new checkpoint needed: the latest one covers the restored log"
    return f"checkpoint signed at #{written.checkpoint.tree_size}: the restored log's checkpoint series starts here"
