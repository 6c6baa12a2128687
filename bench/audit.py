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

Settings (environment): BESPOKE_BENCH_AUDIT_SECONDS (per configuration, default 5),
BESPOKE_BENCH_AUDIT_WRITERS (default "1,8"), BESPOKE_BENCH_AUDIT_IO_MS (default 10).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

BOOTSTRAP = False  # bench/run.py: this benchmark makes its own database

WORKLOADS = ("plain", "io_wait")


def run() -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("the audit benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    seconds = float(os.environ.get("BESPOKE_BENCH_AUDIT_SECONDS", "5"))
    writers = [int(n) for n in os.environ.get("BESPOKE_BENCH_AUDIT_WRITERS", "1,8").split(",")]
    io_ms = float(os.environ.get("BESPOKE_BENCH_AUDIT_IO_MS", "10"))
    original_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bespoke_bench_audit_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        results: dict[str, Any] = {"cores": os.cpu_count(), "seconds_each": seconds}
        for workload in WORKLOADS:
            rates = {n: _measure(writers=n, seconds=seconds, io_ms=io_ms if workload == "io_wait" else 0.0)
                     for n in writers}
            for n, rate in rates.items():
                results[f"{workload}_writers_{n}_per_s"] = round(rate, 1)
            if len(writers) > 1:
                results[f"{workload}_ratio"] = round(rates[writers[-1]] / rates[writers[0]], 2)
        results["io_ms"] = io_ms
        results.update(_chain_state())
        return results
    finally:
        from django.db import connections

        connections.close_all()
        connection.creation.destroy_test_db(original_name, verbosity=0)


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
