"""One lock order, proven under real concurrency on PostgreSQL (DESIGN invariant 8).

Each round starts thirteen threads at once, each with its own connection: a revocation,
a countersignature of an amendment (which locks two licenses and supersedes the older),
an erasure of a talent (which revokes every license of theirs and destroys their
models), a publication under the license being revoked and erased, one under the license
being superseded, and eight render requests. Before the lock order, countersigning and
erasing took the audit chain head before license rows while publishing took them the
other way round: PostgreSQL found deadlocks. Now no round may meet one, and the audit
chain must verify at the end.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidTransition
from consent import gate, services as consent
from consent.models import LicenseRevocation, LicenseUse, LikenessLicense, Talent
from generation import queue
from generation.models import RenderOutput
from generation.services import render
from tests.conftest import LICENSE_TERMS, SMALL_RENDER, sign_context, verify_identity
from tests.publishing import PROMPT, publish, running_job, signed_clip

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROUNDS = 200
REQUESTS = 8
DEADLOCK = "40P01"


def _terms() -> dict:
    today = timezone.localdate()
    return {**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today, "ends_on": today + timedelta(days=300),
            "max_renders": 10_000, "excluded_categories": []}


def _executed(license: LikenessLicense, personas) -> LikenessLicense:  # type: ignore[no-untyped-def]
    license = consent.license_offer(license=license, acting_user=personas.erin)
    license = consent.license_sign(license=license, context=sign_context(license), acting_user=license.talent.user)
    return license


def _countersigned(license: LikenessLicense, personas) -> LikenessLicense:  # type: ignore[no-untyped-def]
    return consent.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)


def _new_talent(personas, django_user_model, n: int) -> Talent:  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user(username=f"talent{n}", password="pw-talent-talent")
    talent = consent.talent_enrol(user=user, display_name=f"Talent {n}", acting_user=user, invited_by=personas.studio)
    verify_identity(personas, talent)
    return talent


@dataclass
class Round:
    erased: Talent
    revoked: LikenessLicense
    publish_under_revoked: object
    amendment: LikenessLicense
    publish_under_amended: object


class Rounds:
    """Prepares each round while the one before runs. Two chains of amendments take turns,
    so the version a round supersedes was countersigned two rounds earlier."""

    def __init__(self, personas, users, chains: list[LikenessLicense]) -> None:  # type: ignore[no-untyped-def]
        self.personas, self.users, self.chains = personas, users, chains

    def prepare(self, n: int) -> Round:
        personas = self.personas
        talent = _new_talent(personas, self.users, n)
        revoked = _countersigned(_executed(consent.license_draft(
            talent=talent, licensee=personas.studio, acting_user=personas.erin, **_terms()), personas), personas)
        superseded = self.chains[n % 2]
        amendment = _executed(consent.license_amend(license=superseded, changes={"role": f"Mara {n}"},
                                                    acting_user=personas.erin), personas)
        self.chains[n % 2] = amendment
        return Round(erased=talent, revoked=revoked,
                     publish_under_revoked=running_job(license_id=str(revoked.id), producer=personas.bob),
                     amendment=amendment,
                     publish_under_amended=running_job(license_id=str(superseded.id), producer=personas.bob))


@dataclass
class Outcomes:
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, name: str, action: Callable[[], object]) -> None:
        try:
            result = action()
            outcome = "done" if result is not None else "refused"
        except (InvalidTransition, gate.ConsentRefused) as expected:
            outcome = type(expected).__name__
        except Exception as error:  # noqa: BLE001 - every other error fails the test, named
            cause = getattr(error, "__cause__", None)
            deadlock = isinstance(error, OperationalError) and getattr(cause, "sqlstate", None) == DEADLOCK
            outcome = "DEADLOCK" if deadlock else "error"
            with self.lock:
                self.failures.append(f"{name}: {type(error).__name__}: {error}")
        with self.lock:
            self.counts[f"{name}:{outcome}"] += 1


def test_revocation_countersignature_erasure_publication_and_requests_never_deadlock(
        personas, django_user_model, settings, monkeypatch):
    monkeypatch.setattr(queue, "job_enqueue", lambda task_name, job_id, **_: None)  # no worker here: the jobs are published by hand
    verify_identity(personas, personas.talent)
    chains = [_countersigned(_executed(consent.license_draft(
        talent=personas.talent, licensee=personas.studio, acting_user=personas.erin, **_terms()), personas), personas)
        for _ in range(2)]
    clip = signed_clip(Path(settings.MEDIA_ROOT).parent / "clip", license_id=str(chains[0].id))
    rounds = Rounds(personas, django_user_model, chains)
    outcomes = Outcomes()
    current: dict[str, Round] = {}
    workers = 5 + REQUESTS
    start, done = threading.Barrier(workers + 1, timeout=120), threading.Barrier(workers + 1, timeout=120)

    def actions(index: int) -> Callable[[Round], tuple[str, Callable[[], object]]]:
        if index >= 5:
            return lambda r: ("request", lambda: render.render_job_request(
                license_id=str(r.revoked.id), prompt=PROMPT, params=SMALL_RENDER, acting_user=personas.bob))
        return [
            lambda r: ("revoke", lambda: consent.license_revoke(license=r.revoked, reason="Withdrawn.",
                                                                acting_user=r.erased.user)),
            lambda r: ("countersign", lambda: _countersigned(r.amendment, personas)),
            lambda r: ("erase", lambda: consent.talent_erase(talent=r.erased, acting_user=r.erased.user)),
            lambda r: ("publish_revoked", lambda: publish(r.publish_under_revoked, clip)),
            lambda r: ("publish_amended", lambda: publish(r.publish_under_amended, clip)),
        ][index]

    def worker(index: int) -> None:
        choose = actions(index)
        try:
            for _ in range(ROUNDS):
                start.wait()
                name, action = choose(current["round"])
                outcomes.run(name, action)
                done.wait()
        except threading.BrokenBarrierError:
            pass  # the main thread stopped the rounds; its own error says why
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(workers)]
    for thread in threads:
        thread.start()
    try:
        upcoming = rounds.prepare(0)
        for n in range(ROUNDS):
            current["round"] = upcoming
            start.wait()
            if n + 1 < ROUNDS:
                upcoming = rounds.prepare(n + 1)  # while this round runs
            done.wait()
    finally:
        start.abort()  # a failed round releases the workers, which close their connections
        done.abort()
        for thread in threads:
            thread.join(timeout=30)

    assert not outcomes.failures, f"{len(outcomes.failures)} failures, first: {outcomes.failures[:3]}"
    assert sum(outcomes.counts.values()) == ROUNDS * workers
    assert outcomes.counts["countersign:done"] == ROUNDS
    assert outcomes.counts["erase:done"] == ROUNDS
    assert outcomes.counts["publish_revoked:done"] + outcomes.counts["publish_revoked:refused"] == ROUNDS
    for revocation in LicenseRevocation.objects.filter(license__talent__display_name="Erased talent"):
        published = set(RenderOutput.objects.filter(job__license_id=revocation.license_id).values_list("id", flat=True))
        assert {str(output) for output in published} == set(revocation.published_outputs)
        assert set(LicenseUse.objects.filter(license_id=revocation.license_id)
                   .values_list("output_ref", flat=True)) == set(revocation.published_outputs)
    assert not AuditEvent.objects.filter(seq__isnull=True).exists(), "every commit's seal ran"
    call_command("audit_verify")
