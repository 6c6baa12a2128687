"""Revocation racing publication on PostgreSQL, in real concurrency (DESIGN invariant 1).

Each round a revocation and a publication under the same license start together from a
barrier, on two connections, their starts staggered a few milliseconds one way or the
other. Both orders must happen, and whichever wins, no output may exist that the
revocation does not list: an output is published before the revocation commits (and the
revocation names it) or never.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from consent import services as consent
from consent.models import LicenseRevocation, LicenseUse, LikenessLicense
from generation import queue
from generation.models import RenderJob, RenderOutput
from tests.conftest import LICENSE_TERMS, sign_context, verify_identity
from tests.publishing import publish, running_job, signed_clip

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROUNDS = 60
STAGGER = 0.003  # seconds: round n delays one side by a multiple of this


def _license(personas) -> LikenessLicense:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    license = consent.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin,
                                    **{**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today,
                                       "ends_on": today + timedelta(days=30), "max_renders": 5,
                                       "excluded_categories": []})
    license = consent.license_offer(license=license, acting_user=personas.erin)
    license = consent.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    return consent.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)


def test_an_output_is_published_before_the_revocation_commits_or_never(personas, settings, monkeypatch):
    monkeypatch.setattr(queue, "job_enqueue", lambda task_name, job_id, **_: None)  # no worker here: the job is published by hand
    verify_identity(personas, personas.talent)
    clip = None
    orders: Counter = Counter()
    failures: list[str] = []
    start, done = threading.Barrier(3, timeout=60), threading.Barrier(3, timeout=60)
    current: dict[str, object] = {}

    def side(name: str) -> None:
        try:
            for n in range(ROUNDS):
                start.wait()
                delays = {"revoke": (n % 5) * STAGGER, "publish": ((n + 2) % 5) * STAGGER}
                time.sleep(delays[name])
                try:
                    if name == "revoke":
                        consent.license_revoke(license=current["license"], reason="Withdrawn.",
                                               acting_user=personas.alice)
                    else:
                        publish(current["job"], current["clip"])
                except Exception as error:  # noqa: BLE001 - named in the assertion below
                    failures.append(f"round {n} {name}: {type(error).__name__}: {error}")
                done.wait()
        except threading.BrokenBarrierError:
            pass  # the main thread stopped the rounds; its own error says why
        finally:
            connection.close()

    threads = [threading.Thread(target=side, args=(name,), daemon=True) for name in ("revoke", "publish")]
    for thread in threads:
        thread.start()
    try:
        for n in range(ROUNDS):
            license = _license(personas)
            clip = clip or signed_clip(Path(settings.MEDIA_ROOT).parent / "clip", license_id=str(license.id))
            current.update(license=LikenessLicense.objects.get(pk=license.pk), clip=clip,
                           job=running_job(license_id=str(license.id), producer=personas.bob))
            start.wait()
            done.wait()
            job = RenderJob.objects.get(pk=current["job"].pk)
            revocation = LicenseRevocation.objects.get(license=license)
            outputs = {str(pk) for pk in
                       RenderOutput.objects.filter(job__license_id=license.pk).values_list("id", flat=True)}
            uses = set(LicenseUse.objects.filter(license=license).values_list("output_ref", flat=True))
            assert outputs == set(revocation.published_outputs) == uses, f"round {n}: an output the revocation missed"
            if outputs:
                orders["published, then revoked"] += 1
                assert job.status == RenderJob.Status.SUCCEEDED
            else:
                orders["revoked, then refused"] += 1
                assert (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    finally:
        start.abort()  # a failed round releases the other side, which closes its connection
        done.abort()
        for thread in threads:
            thread.join(timeout=30)

    assert not failures, failures[:3]
    assert orders["published, then revoked"] >= 1 and orders["revoked, then refused"] >= 1, orders
    stored = [path for path in (Path(settings.MEDIA_ROOT) / "renders").rglob("*") if path.is_file()]
    assert len(stored) == orders["published, then revoked"], "a refused publication left its file behind"
    assert audit_chain_verify().ok and not AuditEvent.objects.filter(seq__isnull=True).exists()
