"""The portal under load: gunicorn against PostgreSQL at scale, driven by locust.

On a throwaway PostgreSQL database (Django's test-database machinery) with the demo data
(`bootstrap`), Alice's identity verified by the desk and two countersigned licenses with
Northlight Studios (one that asks her approval for each use), BESPOKE_BENCH_LOAD_LICENSES
(default 100,000) licenses of other talents at other studios are copied in with a render
each (bench/scale_rows.py) and 1.13 audit events each, appended and sealed by the product's
own seal so that the chain verifies, plus 200 more licenses of Alice's with Northlight, so
that the lists the personas read are full pages.

The portal then runs under gunicorn (`bespoke.wsgi:application` on 127.0.0.1, DEBUG off,
BESPOKE_BENCH_LOAD_WORKERS workers of BESPOKE_BENCH_LOAD_WORKER_CLASS, `gthread` with
BESPOKE_BENCH_LOAD_THREADS threads or `sync`, persistent database connections) and locust
drives it headless (bench/locustfile.py) with BESPOKE_BENCH_LOAD_USERS users (default 50)
for BESPOKE_BENCH_LOAD_SECONDS (default 150): producers listing licenses and renders and
requesting renders, the talent approving the uses that wait for her, legal staff reading the
audit log page, and anonymous consent-status lookups (the locustfile's docstring says who
does what, and how often). The server is warm when they start, as one that has served for a
while is: each worker connects to the broker before it serves (bespoke/gunicorn_conf.py, as
in production), and anonymous requests to every worker load the views and templates. Render requests queue their job ids on
the Redis broker; no worker runs, and the queues are purged afterwards. The consent-status
lookups are limited per client address (BESPOKE_STATUS_REQUESTS_PER_MINUTE): every simulated
client shares 127.0.0.1, so the bench's server raises that limit, and says so. Static files
are not part of it: with DEBUG off Django serves none (in production `collectstatic` fills
STATIC_ROOT for the web server in front of gunicorn), and the API and pages load without them.

It prints requests per second, p50/p95/p99 and failures per endpoint twice: over the whole
run, and in the steady state after the warm-up (BESPOKE_BENCH_LOAD_WARM_UP_SECONDS; by default
the time the users take to arrive plus 10 s, while the last of them glance at every page: a
burst of about 40 requests a second, above what the machine serves, whose queue the whole-run
p99 shows), and the goals, judged in the steady state: no failures in the whole run, p99 of
reads at most 150 ms and of writes (render requests, approvals) at most 300 ms;
also the server's CPU time per request and the load average, since on a shared machine the
latencies measure the other work as much as Bespoke. gthread is the default: on the 2-core
machine, both served the 27 requests a second 50 users ask for at load 1.5, but behind 4 sync
workers a cheap request queues behind slow ones (consent status p99 370 ms, against 97 ms);
at load 7-10 from other work, gthread served 16-24 requests a second and sync 12.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.throwaway_db import throwaway_database, vacuum_analyze

BOOTSTRAP = False  # bench/run.py: this benchmark makes its own database
ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
WORKER_CLASSES = ("gthread", "sync")
READ_P99_GOAL_MS = 150
WRITE_P99_GOAL_MS = 300
EVENTS_PER_LICENSE = 1.13  # audit events about each of the other studios' licenses
VISIBLE_LICENSES = 200  # Alice's licenses with Northlight beside the two the load renders under
STATUS_REQUESTS_PER_MINUTE = 1_000_000  # every simulated client is 127.0.0.1: one address
SIGN_IN_PREFIX = "sign-in"  # locustfile request names: once per account, outside the goals
RENDER_QUEUES = ("gpu", "default")
WARM_UP_AFTER_SPAWN_SECONDS = 10  # the last users' first look around every page, left out of the goals
KEEP_ALIVE_SECONDS = 10  # gthread workers keep idle connections this long (locust users pause 1-3 s)
def _int_setting(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}")
    return value


def _settings() -> dict[str, Any]:
    worker_class = os.environ.get("BESPOKE_BENCH_LOAD_WORKER_CLASS", "gthread")
    if worker_class not in WORKER_CLASSES:
        raise SystemExit(f"BESPOKE_BENCH_LOAD_WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)}")
    return {
        "users": _int_setting("BESPOKE_BENCH_LOAD_USERS", 50),
        "seconds": _int_setting("BESPOKE_BENCH_LOAD_SECONDS", 150),
        "warm_up_seconds": _int_setting("BESPOKE_BENCH_LOAD_WARM_UP_SECONDS", -1, minimum=-1),
        "licenses": _int_setting("BESPOKE_BENCH_LOAD_LICENSES", 100_000),
        "workers": _int_setting("BESPOKE_BENCH_LOAD_WORKERS", 4),
        "worker_class": worker_class,
        "threads": _int_setting("BESPOKE_BENCH_LOAD_THREADS", 4) if worker_class == "gthread" else 1,
    }


def _require_services() -> None:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("the load benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        raise SystemExit("the load benchmark queues render requests on Redis: set CELERY_BROKER_URL=redis://...")


def run() -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connections

    _require_services()
    options = _settings()
    with throwaway_database("load") as name:
        with open(os.devnull, "w") as quiet:
            call_command("bootstrap", verbosity=0, stdout=quiet)
        started = time.perf_counter()
        plan, seeded = _seed(licenses=options["licenses"])
        seed_s = time.perf_counter() - started
        database_url = _database_url(name)
        connections.close_all()  # the server's workers and the teardown need no connection of ours
        with tempfile.TemporaryDirectory(prefix="bespoke-load-") as work:
            results = _measure(plan=plan, database_url=database_url, work=Path(work), **options)
        return {**seeded, "seed_s": round(seed_s, 1), **results}


def _database_url(name: str) -> str:
    """DATABASE_URL with the throwaway database's name, for the server's processes."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _seed(*, licenses: int) -> tuple[dict[str, Any], dict[str, int]]:
    """Alice verified and licensed to Northlight twice (one license asks her approval for each
    use), the rows at scale, and the plan the locustfile reads: accounts, licenses, ids."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.services import totp_secret
    from audit.models import AuditEvent
    from bench.scale_rows import more_visible_rows, seed_scale
    from consent import desk, services
    from consent.license_terms import MAX_RENDERS
    from consent.models import (
        IdentityVerification,
        LikenessLicense,
        Organization,
        Talent,
    )
    from generation.models import RenderJob

    users = {user.username: user for user in get_user_model().objects.filter(
        username__in=("alice", "bob", "dana", "erin", "frank", "grace"))}
    studio = Organization.objects.get(name="Northlight Studios")
    talent = Talent.objects.get(user=users["alice"])
    verification = desk.identity_verification_request(talent=talent, method=IdentityVerification.Method.IN_PERSON,
                                                      acting_user=users["alice"])
    desk.identity_verification_decide(verification=verification, approve=True, acting_user=users["frank"],
                                      legal_name="Alice Avery", birth_date=date(1990, 4, 2))
    desk.identity_verification_decide(verification=verification, approve=True, acting_user=users["grace"])

    def countersigned(*, requires_use_approval: bool) -> LikenessLicense:
        today = timezone.localdate()
        license = services.license_draft(
            talent=talent, licensee=studio, acting_user=users["erin"], project="Night Market", role="Mara",
            use_description="Lead role 'Mara' in the short film Night Market: walking and close-up scenes.",
            permitted_media=["video"], territories=["worldwide"], languages=["en"], starts_on=today,
            ends_on=today + timedelta(days=365), max_renders=MAX_RENDERS, excluded_categories=["sexual"],
            requires_use_approval=requires_use_approval, compensation_basis="per_render",
            compensation_rate="250.00", compensation_currency="EUR")
        services.license_offer(license=license, acting_user=users["erin"])
        context = services.SignatureContext(text_sha256_seen=license.text_sha256, disclosure_accepted=True,
                                            authentication_method="mfa")
        services.license_sign(license=license, context=context, acting_user=users["alice"])
        return services.license_countersign(license=license, context=context, acting_user=users["dana"])

    plain, approval = countersigned(requires_use_approval=False), countersigned(requires_use_approval=True)
    render = RenderJob.objects.create(license_id=plain.pk, requested_by=users["bob"], params={}, max_attempts=1,
                                      prompt="A walk along the harbour")
    rows = seed_scale(license=plain, render=render, event=AuditEvent.objects.order_by("occurred_at").first(),
                      licenses=licenses, events_per_license=0)
    events = _seed_chained_events(count=round(licenses * EVENTS_PER_LICENSE), studio=studio)
    more_visible_rows(license=plain, render=render, count=VISIBLE_LICENSES)
    visible = list(LikenessLicense.objects.filter(licensee=studio).values_list("id", flat=True)[:50])
    others = list(LikenessLicense.objects.exclude(licensee=studio).values_list("id", flat=True)[:150])
    plan = {
        "accounts": {name: {"password": "bespoke-demo", "totp_secret": totp_secret(user=users[name])}
                     for name in ("alice", "bob", "dana", "erin")},
        "licenses": {"plain": str(plain.pk), "approval": str(approval.pk)},
        "status_license_ids": [str(pk) for pk in visible + others],
    }
    return plan, {"licenses": rows.licenses, "renders": rows.renders, "audit_events": events,
                  "visible_to_producer": LikenessLicense.objects.filter(licensee=studio).count()}


def _seed_chained_events(*, count: int, studio: Any) -> int:
    """`count` audit events about other studios' licenses, appended as the product appends them
    and sealed by its own seal, so that the chain stays intact: the audit page then verifies
    only the events appended since its last verification, as in a deployment, where a broken
    chain would make every load walk the whole log. Then one verification, as a first load."""
    from django.utils import timezone

    from audit import chain
    from audit.checkpoints import audit_log_verify
    from audit.models import AuditEvent
    from audit.services import audit_seal
    from consent.models import LikenessLicense

    license_ids = [str(pk) for pk in LikenessLicense.objects.exclude(licensee=studio).values_list("id", flat=True)]
    if not license_ids:
        return 0
    start = timezone.now() - timedelta(seconds=count)
    actions = ("license.drafted", "license.offered", "license.signed", "license.countersigned", "render.requested")
    for first in range(0, count, 5000):
        batch = []
        for n in range(first, min(first + 5000, count)):
            at, subject = start + timedelta(seconds=n), f"license:{license_ids[n % len(license_ids)]}"
            body = chain.canonical_body(occurred_at=at, action=actions[n % len(actions)], actor="system:scale",
                                        subject=subject, data={"n": n})
            batch.append(AuditEvent(occurred_at=at, action=actions[n % len(actions)], actor="system:scale",
                                    subject=subject, body=body, leaf_hash=chain.leaf_hash(body)))
        AuditEvent.objects.bulk_create(batch)
    while audit_seal():
        pass
    vacuum_analyze(AuditEvent)  # sealing updated every row
    verification = audit_log_verify(full=False, resume=True)
    if not verification.ok:
        raise RuntimeError(f"the seeded audit chain does not verify: {verification}")
    return count


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_environment(database_url: str) -> dict[str, str]:
    from django.conf import settings

    environment = dict(os.environ)
    environment.update(
        DATABASE_URL=database_url, DJANGO_DEBUG="0", BESPOKE_LOG_LEVEL="WARNING",
        DATABASE_CONN_MAX_AGE=os.environ.get("DATABASE_CONN_MAX_AGE", "60"),
        BESPOKE_STATUS_REQUESTS_PER_MINUTE=str(STATUS_REQUESTS_PER_MINUTE),
        # Rate limits and one-time-code reuse checks must be shared by the workers, as in production.
        BESPOKE_CACHE_URL=os.environ.get("BESPOKE_CACHE_URL") or settings.CELERY_BROKER_URL,
    )
    return environment


def _start_server(*, port: int, workers: int, worker_class: str, threads: int, database_url: str,
                  log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "bespoke.wsgi:application",
               "--config", "python:bespoke.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
               "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning", "--error-logfile", str(log),
               # Longer than a simulated user's pause: a connection the server closes just as the
               # client reuses it would be reset, an error of the test rather than of the server.
               "--keep-alive", str(KEEP_ALIVE_SECONDS)]
    return subprocess.Popen(command, cwd=ROOT, env=_server_environment(database_url), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_until_serving(server: subprocess.Popen, url: str, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer {url}/healthz within {timeout:.0f} s:\n{_tail(log)}")


def _warm_up(url: str, plan: dict[str, Any], connections: int) -> None:
    """Anonymous requests to every worker first: a worker imports the views and compiles the
    templates on its first requests, which would otherwise count as the first users' waits."""
    paths = ["/healthz", "/accounts/login/", "/verify/", "/api/v1/licenses/",
             f"/verify/consent/{plan['licenses']['plain']}"]

    def fetch(path: str) -> None:
        try:
            urllib.request.urlopen(f"{url}{path}", timeout=30).close()
        except urllib.error.HTTPError:
            pass  # the API answers 401 without a session: warm all the same

    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(fetch, paths * 2 * connections))


def _stop(process: subprocess.Popen | None, grace: float = 10.0) -> None:
    """Stop a process started in its own session, and everything it started."""
    if process is None or process.poll() is not None:
        return
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _group_cpu_seconds(group: int) -> float:
    """CPU time (user and system) used so far by the live processes of one process group:
    the server's, whose share of a busy machine the latencies alone do not show."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _purge_render_queues() -> int:
    """Drop the messages render requests and approvals queued (no worker runs here); how many."""
    from bespoke.celery import app

    purged = 0
    with app.connection_for_write() as broker:
        channel = broker.default_channel
        for name in RENDER_QUEUES:
            purged += channel.queue_purge(name) or 0
    return purged


def _measure(*, plan: dict[str, Any], database_url: str, work: Path, users: int, seconds: int, licenses: int,
             workers: int, worker_class: str, threads: int, warm_up_seconds: int) -> dict[str, Any]:
    plan_path, log, prefix, request_log = (work / "plan.json", work / "gunicorn.log", work / "locust",
                                           work / "requests.tsv")
    plan_path.write_text(json.dumps(plan))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = locust = None
    _purge_render_queues()
    load_before = os.getloadavg()
    try:
        server = _start_server(port=port, workers=workers, worker_class=worker_class, threads=threads,
                               database_url=database_url, log=log)
        _wait_until_serving(server, url, log)
        _warm_up(url, plan, connections=workers * threads)
        cpu_before = _group_cpu_seconds(server.pid)
        spawn_rate = max(5, users // 5)
        if warm_up_seconds < 0:
            warm_up_seconds = -(-users // spawn_rate) + WARM_UP_AFTER_SPAWN_SECONDS
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
                   "-r", str(spawn_rate), "-t", f"{seconds}s", "--host", url, "--csv", str(prefix),
                   "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"]
        locust = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "BESPOKE_LOAD_PLAN": str(plan_path),
                                                           "BESPOKE_LOAD_REQUEST_LOG": str(request_log)},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        output, _ = locust.communicate(timeout=seconds + 120)
        load_during = os.getloadavg()
        server_cpu_s = _group_cpu_seconds(server.pid) - cpu_before
        # locust exits 1 when a request failed: the figures below say which.
        if locust.returncode not in (0, 1) or not Path(f"{prefix}_stats.csv").exists():
            raise RuntimeError(f"locust exited with {locust.returncode}:\n{output[-3000:]}")
    finally:
        _stop(locust)
        _stop(server)
        queued = _purge_render_queues()
    # Both phases come from the one request log: locust's own stats file is written before the
    # requests still in flight at the stop have ended, so it may count fewer than the log.
    requests = _logged_requests(request_log)
    whole_run, _ = _phase_stats(requests)
    failures = _failure_messages(Path(f"{prefix}_failures.csv"))
    endpoints, steady_seconds = _steady_stats(requests, warm_up_seconds=warm_up_seconds)
    print(f"whole run, {seconds} s, the {warm_up_seconds} s warm-up included (users arriving, each glancing at "
          "every page):")
    _print_table(whole_run, [])
    print(f"steady state, {steady_seconds:.0f} s after the warm-up, {users} users (the goals are judged here):")
    _print_table(endpoints, failures)
    summary = _summary(endpoints, failures=sum(stats["failures"] for stats in whole_run.values()))
    whole_run_requests = sum(stats["requests"] for stats in whole_run.values())
    return {
        "warm_up_seconds": warm_up_seconds, "steady_seconds": round(steady_seconds, 1),
        "whole_run_endpoints": whole_run, "whole_run_requests": whole_run_requests,
        "whole_run_read_p99_max_ms": _p99_max(whole_run, writes=False),
        "whole_run_write_p99_max_ms": _p99_max(whole_run, writes=True),
        "users": users, "seconds": seconds, "server": f"gunicorn {workers} {worker_class} workers"
        + (f" x {threads} threads" if worker_class == "gthread" else ""),
        "status_requests_per_minute_raised_to": STATUS_REQUESTS_PER_MINUTE,
        "render_messages_queued_then_purged": queued,
        "load_average_before": round(load_before[0], 2), "load_average_during": round(load_during[0], 2),
        "cpu_count": os.cpu_count(), "server_cpu_s": round(server_cpu_s, 1),
        "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(whole_run_requests, 1), 1),
        **summary, "endpoints": endpoints,
        "failure_messages": failures[:5],
    }


def _failure_messages(path: Path) -> list[str]:
    if not path.exists():
        return []
    with path.open(newline="") as failures:
        return [f"{row['Method']} {row['Name']}: {row['Error']} (x{row['Occurrences']})"
                for row in csv.DictReader(failures)]


def _is_write(name: str) -> bool:
    return name.startswith("POST ")


Request = tuple[float, float, str, float, bool]  # started, ended (s), name, time taken (ms), failed


def _logged_requests(request_log: Path) -> list[Request]:
    """Every request the locustfile logged (its end and duration), sign-ins included."""
    requests = []
    with request_log.open() as log:
        for line in log:
            ended, name, taken_ms, failed = line.rstrip("\n").split("\t")
            requests.append((float(ended) - float(taken_ms) / 1000, float(ended), name, float(taken_ms), failed == "1"))
    return requests


def _phase_stats(requests: list[Request], *, since: float | None = None) -> tuple[dict[str, dict[str, float]], float]:
    """Per request name (method and route): requests, failures, rps, p50, p95, p99 (ms), and the
    length of the phase in seconds (from `since`, by default the first request's start)."""
    if not requests:
        return {}, 0.0
    start = min(request[0] for request in requests) if since is None else since
    window = max(request[1] for request in requests) - start
    by_name: dict[str, list[tuple[float, bool]]] = {}
    for _, _, name, taken_ms, failed in requests:
        by_name.setdefault(name, []).append((taken_ms, failed))
    return {name: _stats([taken for taken, _ in rows], failures=sum(failed for _, failed in rows), seconds=window)
            for name, rows in sorted(by_name.items())}, window


def _steady_stats(requests: list[Request], *, warm_up_seconds: float) -> tuple[dict[str, dict[str, float]], float]:
    """As _phase_stats, over the requests other than sign-ins started after the warm-up."""
    measured = [request for request in requests if SIGN_IN_PREFIX not in request[2]]
    if not measured:
        return {}, 0.0
    steady_from = min(request[0] for request in measured) + warm_up_seconds
    steady = [request for request in measured if request[0] >= steady_from]
    return _phase_stats(steady, since=steady_from)


def _stats(taken_ms: list[float], *, failures: int, seconds: float) -> dict[str, float]:
    """Percentiles as locust computes them (the value at or below which that share of requests fall)."""
    ordered = sorted(taken_ms)

    def percentile(share: float) -> float:
        return round(ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))])

    return {"requests": len(ordered), "failures": failures, "rps": round(len(ordered) / max(seconds, 1e-9), 2),
            "p50": percentile(0.50), "p95": percentile(0.95), "p99": percentile(0.99)}


def _p99_max(endpoints: dict[str, dict[str, float]], *, writes: bool) -> float:
    return max((stats["p99"] for name, stats in endpoints.items()
                if SIGN_IN_PREFIX not in name and _is_write(name) == writes), default=0.0)


def _summary(endpoints: dict[str, dict[str, float]], *, failures: int) -> dict[str, Any]:
    measured = {name: stats for name, stats in endpoints.items() if SIGN_IN_PREFIX not in name}
    read_p99, write_p99 = _p99_max(measured, writes=False), _p99_max(measured, writes=True)
    return {
        "requests": sum(stats["requests"] for stats in endpoints.values()), "failures": failures,
        "rps": round(sum(stats["rps"] for stats in measured.values()), 1),
        "read_p99_max_ms": read_p99, "write_p99_max_ms": write_p99,
        "read_p99_goal_ms": READ_P99_GOAL_MS, "write_p99_goal_ms": WRITE_P99_GOAL_MS,
        "goals_met": failures == 0 and read_p99 <= READ_P99_GOAL_MS and write_p99 <= WRITE_P99_GOAL_MS,
    }


def _print_table(endpoints: dict[str, dict[str, float]], failures: list[str]) -> None:
    width = max((len(name) for name in endpoints), default=8)
    print(f"{'endpoint':<{width}}  {'requests':>8}  {'failures':>8}  {'rps':>6}  {'p50':>5}  {'p95':>5}  {'p99':>5}")
    for name, stats in endpoints.items():
        print(f"{name:<{width}}  {stats['requests']:>8}  {stats['failures']:>8}  {stats['rps']:>6}  "
              f"{stats['p50']:>5.0f}  {stats['p95']:>5.0f}  {stats['p99']:>5.0f}")
    for message in failures:
        print(f"failure: {message}")
    print()
