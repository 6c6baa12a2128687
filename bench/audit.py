"""Audited writes per second on PostgreSQL, with 1 and with 8 concurrent writers.

A write is what most services do: one transaction that locks and changes a row and
appends one audit event. Each writer is a process with its own connection and its own
row, so the only thing the writers share is the audit chain. The benchmark makes a
throwaway database (Django's test-database machinery), migrates it, runs each
configuration for a fixed time, checks the chain, and drops the database.

Two workloads: `plain` (the transaction does nothing else) and `io_wait` (it also waits
BESPOKE_BENCH_AUDIT_IO_MS, 10 ms by default, after the append, as a transaction does that
stores a file or calls another service before it commits). A plain write keeps a core
busy (client and server), so on a machine with few cores more writers cannot write much
faster whatever the design; writers that wait are what an audit lock held until commit
serialises.

Then verification: BESPOKE_BENCH_AUDIT_VERIFY_EVENTS events (default 100,000) are
written in bulk, already sealed, with a signed checkpoint over all but the last
BESPOKE_BENCH_AUDIT_VERIFY_TAIL (default 1,000). It reports events per second for
`audit_verify --full` (every event, every checkpoint's Merkle root) and for the default
run (from the checkpoint), the milliseconds the portal's audit page spends on the log's
status: cold (from the checkpoint) and after a previous load (the events appended since),
the milliseconds of the whole page as a studio's legal staff load it, the same two ways
(goal: under 300 ms at 1,000,000 events), and the seconds a new checkpoint takes. The
table is vacuumed first, as autovacuum has long done for a deployment's. On SQLite only
this part runs.

Last, checkpoint signing at scale: the log is grown to BESPOKE_BENCH_AUDIT_CHECKPOINT_EVENTS
events (default 1,000,000) and signed into an empty checkpoint folder (the first checkpoint
reads every event), then BESPOKE_BENCH_AUDIT_CHECKPOINT_TAIL more (default 1,000) are
signed (the next one resumes from the Merkle frontier stored beside the first and reads
only those); `audit_verify --full` then recomputes both roots from every event.

Settings (environment): BESPOKE_BENCH_AUDIT_SECONDS (per configuration, default 5),
BESPOKE_BENCH_AUDIT_WRITERS (default "1,8"), BESPOKE_BENCH_AUDIT_IO_MS (default 10),
BESPOKE_BENCH_AUDIT_VERIFY_EVENTS, BESPOKE_BENCH_AUDIT_VERIFY_TAIL,
BESPOKE_BENCH_AUDIT_CHECKPOINT_EVENTS, BESPOKE_BENCH_AUDIT_CHECKPOINT_TAIL.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.throwaway_db import throwaway_database, vacuum_analyze

BOOTSTRAP = False  # bench/run.py: this benchmark makes its own database

WORKLOADS = ("plain", "io_wait")
PAGE_GOAL_MS = 300  # the portal's audit page at a million events


def run() -> dict[str, Any]:
    from django.conf import settings

    postgresql = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    seconds = float(os.environ.get("BESPOKE_BENCH_AUDIT_SECONDS", "5"))
    writers = [int(n) for n in os.environ.get("BESPOKE_BENCH_AUDIT_WRITERS", "1,8").split(",")]
    io_ms = float(os.environ.get("BESPOKE_BENCH_AUDIT_IO_MS", "10"))
    checkpoints = tempfile.mkdtemp(prefix="bespoke-bench-checkpoints-")
    settings.BESPOKE_AUDIT_CHECKPOINT_DIR = Path(checkpoints) / "audit-checkpoints"
    settings.BESPOKE_AUDIT_CHECKPOINT_KEY = Path(checkpoints) / "keys" / "audit-checkpoint.key"
    settings.BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY = None
    settings.BESPOKE_S3_CHECKPOINT_BUCKET = None  # the folder: what is measured is reading the log, not the store
    try:
        with throwaway_database("audit"):
            return _run(postgresql=postgresql, seconds=seconds, writers=writers, io_ms=io_ms)
    finally:
        shutil.rmtree(checkpoints, ignore_errors=True)


def _run(*, postgresql: bool, seconds: float, writers: list[int], io_ms: float) -> dict[str, Any]:
    from django.db import connection

    results: dict[str, Any] = {"cores": os.cpu_count(), "database": connection.vendor}
    if not postgresql:  # concurrent writers measure PostgreSQL; verification runs on either
        results.update(_verification())
        results.update(_checkpoint_scaling())
        return results
    results["seconds_each"] = seconds
    for workload in WORKLOADS:
        rates = {n: _measure(writers=n, seconds=seconds, io_ms=io_ms if workload == "io_wait" else 0.0)
                 for n in writers}
        for n, rate in rates.items():
            results[f"{workload}_writers_{n}_per_s"] = round(rate, 1)
        if len(writers) > 1:
            results[f"{workload}_ratio"] = round(rates[writers[-1]] / rates[writers[0]], 2)
    results["io_ms"] = io_ms
    results.update(_chain_state())
    results.update(_verification())
    results.update(_checkpoint_scaling())
    return results


def _chain_state() -> dict[str, Any]:
    from audit.checkpoints import audit_log_verify

    verification = audit_log_verify()
    return {"events": verification.events, "chain_ok": verification.ok}


def _measure(*, writers: int, seconds: float, io_ms: float) -> float:
    from django.contrib.auth.models import User
    from django.db import connections

    users = [User.objects.create(username=f"bench-writer-{writers}-{io_ms}-{n}-{time.monotonic_ns()}").pk
             for n in range(writers)]
    connections.close_all()  # each child opens its own connection
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(writers + 1)
    counts = context.Queue()
    children = [context.Process(target=_writer, args=(pk, seconds, io_ms, ready, counts)) for pk in users]
    for child in children:
        child.start()
    ready.wait(timeout=120)
    total = sum(counts.get(timeout=seconds + 120) for _ in children)
    for child in children:
        child.join(timeout=60)
        if child.exitcode != 0:
            raise RuntimeError(f"a benchmark writer failed (exit code {child.exitcode})")
    return total / seconds


def _writer(user_pk: int, seconds: float, io_ms: float, ready: Any, counts: Any) -> None:
    from django.db import connections

    connections.close_all()
    for _ in range(20):  # warm up: connection, imports, query compilation
        _audited_write(user_pk, io_ms)
    ready.wait(timeout=120)
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        _audited_write(user_pk, io_ms)
        done += 1
    counts.put(done)
    connections.close_all()


def _audited_write(user_pk: int, io_ms: float) -> None:
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from audit.services import audit_append

    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_pk)
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])
        audit_append(action="bench.write", actor="system:bench", subject=f"user:{user_pk}", data={"pk": user_pk})
        if io_ms:
            time.sleep(io_ms / 1000)


# --- Verification -------------------------------------------------------------------------------


def _verification() -> dict[str, Any]:
    from audit.checkpoints import audit_checkpoint_write, audit_log_verify
    from audit.models import AuditEvent, AuditVerifiedPosition
    from bespoke.portal.audit_scope import audit_chain_status

    total = int(os.environ.get("BESPOKE_BENCH_AUDIT_VERIFY_EVENTS", "100000"))
    tail = min(int(os.environ.get("BESPOKE_BENCH_AUDIT_VERIFY_TAIL", "1000")), total)
    started = time.perf_counter()
    page = _audit_page_reader()  # its studio's events come first, the million after them
    _seed_sealed(total - tail)
    audit_checkpoint_write()
    _seed_sealed(tail)
    vacuum_analyze(AuditEvent)
    seeded_s = time.perf_counter() - started
    full_s, full = _timed(lambda: audit_log_verify(full=True))
    default_s, default = _timed(lambda: audit_log_verify(full=False))
    AuditVerifiedPosition.objects.all().delete()
    cold_s, cold = _timed(audit_chain_status)  # walks from the checkpoint, records where it got to
    _seed_sealed(100)
    warm_s, warm = _timed(audit_chain_status)  # walks the 100 events appended since
    page()  # the serving process warmed up (templates, URLs), as a gunicorn worker is
    AuditVerifiedPosition.objects.all().delete()
    page_cold_s, _ = _timed(page)  # the whole page as legal staff load it: status, count, rows, template
    _seed_sealed(100)
    page_warm_s, _ = _timed(page)
    checkpoint_s, checkpoint = _timed(audit_checkpoint_write)  # beat's signature over the log as it stands
    if not (full.ok and default.ok and cold.ok and warm.ok and checkpoint is not None):
        raise RuntimeError(f"the seeded log does not verify: {full.problems or default.problems}")
    return {
        "verify_events": full.events, "verify_seeded_s": round(seeded_s, 1),
        "verify_full_s": round(full_s, 2), "verify_full_events_per_s": round(full.events / full_s),
        "verify_default_events_walked": default.head_seq - default.checked_from,
        "verify_default_s": round(default_s, 3),
        "verify_default_events_per_s": round((default.head_seq - default.checked_from) / default_s),
        "portal_status_cold_ms": round(cold_s * 1000, 1), "portal_status_after_100_new_ms": round(warm_s * 1000, 1),
        "portal_page_cold_ms": round(page_cold_s * 1000, 1),
        "portal_page_after_100_new_ms": round(page_warm_s * 1000, 1), "portal_page_goal_ms": PAGE_GOAL_MS,
        "checkpoint_write_s": round(checkpoint_s, 2),
    }


def _checkpoint_scaling() -> dict[str, Any]:
    """The first checkpoint of a large log (every event read) against the next one (only the
    events after the first), then a full verification that recomputes both roots."""
    from django.conf import settings

    from audit.checkpoints import audit_checkpoint_write, audit_log_verify
    from audit.models import AuditChainHead

    total = int(os.environ.get("BESPOKE_BENCH_AUDIT_CHECKPOINT_EVENTS", "1000000"))
    tail = int(os.environ.get("BESPOKE_BENCH_AUDIT_CHECKPOINT_TAIL", "1000"))
    started = time.perf_counter()
    _seed_sealed(max(0, total - AuditChainHead.objects.get(pk=1).seq))
    seeded_s = time.perf_counter() - started
    settings.BESPOKE_AUDIT_CHECKPOINT_DIR = Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR).with_name("scaling-checkpoints")
    first_s, first = _timed(audit_checkpoint_write)
    _seed_sealed(tail)
    next_s, following = _timed(audit_checkpoint_write)
    verify_s, verified = _timed(lambda: audit_log_verify(full=True))
    if first is None or following is None or not verified.ok or verified.checkpoints_checked != 2:
        raise RuntimeError(f"the checkpoints of the grown log do not verify: {verified.problems}")
    return {
        "checkpoint_events": first.checkpoint.tree_size, "checkpoint_seeded_s": round(seeded_s, 1),
        "checkpoint_first_s": round(first_s, 2), "checkpoint_first_events_read": first.events_read,
        "checkpoint_next_s": round(next_s, 3), "checkpoint_next_events_read": following.events_read,
        "checkpoint_speedup": round(first_s / max(next_s, 1e-6), 1),
        "checkpoint_roots_verified_full_s": round(verify_s, 2),
    }


def _audit_page_reader() -> Callable[[], None]:
    """A studio with legal staff (an authenticator enrolled, as the portal requires) and a
    page of audit events about it; returns a call that loads the portal's audit page as
    that reader and checks that the page shows the chain verified."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from accounts.services import totp_enrol
    from audit.services import audit_append
    from consent.models import Membership, Organization

    studio = Organization.objects.create(name="Bench Studios")
    reader = get_user_model().objects.create_user(username="bench-legal", password=None)
    Membership.objects.create(user=reader, organization=studio, role=Membership.Role.LEGAL)
    totp_enrol(user=reader)
    for n in range(60):
        audit_append(action="bench.studio", actor="system:bench", subject=f"organization:{studio.pk}", data={"n": n})
    client = Client()
    client.force_login(reader)

    def load() -> None:
        response = client.get(reverse("portal-audit-log"))
        if response.status_code != 200 or b"Chain verified" not in response.content:
            raise RuntimeError(f"the audit page answered {response.status_code} without a verified chain")

    return load


def _timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _seed_sealed(count: int, batch: int = 5000) -> None:
    """Append `count` sealed events in bulk, as the seal would have left them. The bodies are
    written with the C encoder: for these (ASCII, integers) it is the RFC 8785 form, which
    verification checks."""
    from django.db import transaction
    from django.utils import timezone

    from audit.models import AuditChainHead, AuditEvent

    head, _ = AuditChainHead.objects.get_or_create(pk=1)
    seq, prev = head.seq, head.entry_hash
    start = timezone.now() - timedelta(days=1)
    encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    while count > 0:
        rows = []
        for _ in range(min(batch, count)):
            seq += 1
            at = start + timedelta(microseconds=seq)
            subject = f"license:{seq % 997:08d}-0000-4000-8000-000000000000"
            body = encode({"v": 2, "at": at.isoformat(timespec="microseconds"), "action": "license.used",
                           "actor": "system:bench", "subject": subject,
                           "data": {"job": f"render:{seq:08d}-0000-4000-8000-000000000000", "seconds": seq % 60,
                                    "output_sha256": hashlib.sha256(str(seq).encode()).hexdigest(),
                                    "model": f"likeness_model:{seq % 89:08d}-0000-4000-8000-000000000000",
                                    "status": "succeeded"}})
            leaf = hashlib.sha256(b"\x00" + body.encode()).hexdigest()
            entry = hashlib.sha256(bytes.fromhex(prev) + bytes.fromhex(leaf)).hexdigest()
            rows.append(AuditEvent(seq=seq, occurred_at=at, action="license.used", actor="system:bench",
                                   subject=subject, body=body, leaf_hash=leaf, prev_hash=prev, entry_hash=entry))
            prev = entry
        with transaction.atomic():
            AuditEvent.objects.bulk_create(rows)
            AuditChainHead.objects.filter(pk=1).update(seq=seq, entry_hash=prev)
        count -= len(rows)
