"""The consent gate refuses every use that consent does not cover, and audits each refusal."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidTransition
from consent import desk, gate, services
from consent.models import LicenseUse, LikenessLicense
from tests.conftest import make_license

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _gate_compiled_afresh():
    """The gate keeps its read compiled per connection; each test compiles it from the code as it is."""
    gate.forget_compiled_statements()

PROMPT = "sks person walking along a beach at sunset"


def _check(license_id: object, *, prompt: str = PROMPT, medium: str = "video") -> gate.GateDecision:
    return gate.check(use=gate.UseRequest(str(license_id), medium, prompt), stage=gate.Stage.REQUEST,
                      actor="user:test", subject="render:test")


def _refusals() -> list[dict]:
    return [e.body for e in AuditEvent.objects.filter(action="consent.gate_refused")]


def assert_refused(decision: gate.GateDecision, reason: gate.Reason) -> None:
    assert not decision.allowed
    assert decision.reason == reason
    assert decision.message
    refusals = AuditEvent.objects.filter(action="consent.gate_refused").order_by("-seq")
    assert refusals.exists(), "every refusal writes an audit event"
    assert f'"reason":"{reason}"' in refusals.first().body


def test_an_active_license_allows_an_in_scope_use(active_license):
    decision = _check(active_license.id)
    assert decision.allowed and decision.reason is None
    assert not _refusals()


def test_unknown_license_is_refused(personas):
    assert_refused(_check(uuid.uuid4()), gate.Reason.LICENSE_NOT_FOUND)
    assert_refused(_check("not-a-uuid"), gate.Reason.LICENSE_NOT_FOUND)


def test_a_talent_whose_verification_is_no_longer_approved_is_refused(personas, active_license):
    # as after the move to the verification desk: a studio's approval waits for two verifiers
    personas.talent.verifications.update(status="pending", decided_by=None, decided_at=None)
    assert_refused(_check(active_license.id), gate.Reason.TALENT_UNVERIFIED)


def test_a_license_cannot_even_be_drafted_for_a_talent_whose_verification_was_rejected(personas):
    verification = desk.identity_verification_request(talent=personas.talent, method="document",
                                                      acting_user=personas.alice)
    desk.identity_verification_decide(verification=verification, approve=False, note="Document expired.",
                                      acting_user=personas.frank)
    with pytest.raises(InvalidTransition, match="verification desk has verified"):
        make_license(personas, verified=False)
    assert not LikenessLicense.objects.exists()


def test_unsigned_license_is_refused(personas):
    license = make_license(personas, signed=False, countersigned=False)
    assert_refused(_check(license.id), gate.Reason.NOT_SIGNED)


def test_license_without_countersignature_is_refused(personas):
    license = make_license(personas, countersigned=False)
    assert_refused(_check(license.id), gate.Reason.NOT_COUNTERSIGNED)


def test_license_not_yet_started_is_refused(personas):
    license = make_license(personas, starts_in_days=3)
    assert_refused(_check(license.id), gate.Reason.NOT_STARTED)


def test_expired_license_is_refused(personas):
    license = make_license(personas)
    yesterday = timezone.localdate() - timedelta(days=1)
    LikenessLicense.objects.filter(pk=license.pk).update(starts_on=yesterday - timedelta(days=30), ends_on=yesterday)
    assert_refused(_check(license.id), gate.Reason.EXPIRED)


def test_revoked_license_is_refused(personas, active_license):
    services.license_revoke(license=active_license, reason="Changed my mind.", acting_user=personas.alice)
    assert_refused(_check(active_license.id), gate.Reason.REVOKED)


def test_license_out_of_renders_is_refused(personas):
    license = make_license(personas, max_renders=2)
    for n in range(2):
        LicenseUse.objects.create(license=license, output_ref=f"output-{n}", job_ref=f"job-{n}")
    assert_refused(_check(license.id), gate.Reason.RENDER_LIMIT_REACHED)


def test_a_medium_the_license_does_not_permit_is_refused(active_license):
    assert_refused(_check(active_license.id, medium="image"), gate.Reason.MEDIUM_NOT_PERMITTED)


@pytest.mark.parametrize("prompt", ["sks person giving a speech at an Election rally",
                                    "sks person, NUDE, on a bed", "sks person campaigning for votes"])
def test_a_prompt_in_an_excluded_category_is_refused(active_license, prompt):
    assert_refused(_check(active_license.id, prompt=prompt), gate.Reason.EXCLUDED_CONTENT)


def test_a_category_the_talent_did_not_exclude_is_allowed(personas):
    license = make_license(personas, excluded=("sexual",))
    assert _check(license.id, prompt="sks person giving a speech at an election rally").allowed


def test_a_license_whose_text_changed_after_signing_is_refused(active_license):
    LikenessLicense.objects.filter(pk=active_license.pk).update(text=active_license.text + "\n8. Also adverts.")
    assert_refused(_check(active_license.id), gate.Reason.TEXT_CHANGED)


def test_any_error_while_deciding_is_a_refusal(active_license, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(gate, "_evaluate", broken)
    assert_refused(_check(active_license.id), gate.Reason.GATE_ERROR)


def test_publication_records_the_use_and_counts_it(personas):
    license = make_license(personas, max_renders=1)
    use = gate.UseRequest(str(license.id), "video", PROMPT)
    with transaction.atomic():
        decision = gate.authorize_publication(use=use, output_ref="out-1", job_ref="job-1", subject="render:job-1",
                                              actor="system:worker")
    assert decision.allowed
    assert list(LicenseUse.objects.filter(license=license).values_list("output_ref", flat=True)) == ["out-1"]
    with transaction.atomic():
        second = gate.authorize_publication(use=use, output_ref="out-2", job_ref="job-2", subject="render:job-2",
                                            actor="system:worker")
    assert_refused(second, gate.Reason.RENDER_LIMIT_REACHED)


def test_consent_status_reports_active_revoked_expired_without_personal_data(personas, active_license):
    status = gate.consent_status(license_id=str(active_license.id))
    assert status.state == "active"
    services.license_revoke(license=active_license, reason="No longer comfortable.", acting_user=personas.alice)
    status = gate.consent_status(license_id=str(active_license.id))
    assert status.state == "revoked" and status.since
    assert "Alice" not in str(status.as_dict()) and "No longer" not in str(status.as_dict())
    other = make_license(personas)
    assert gate.consent_status(license_id=str(other.id), today=other.ends_on + timedelta(days=1)).state == "expired"
    assert gate.consent_status(license_id=str(uuid.uuid4())).state == "unknown"


def test_generation_learns_what_a_license_excludes_only_through_the_gate(personas):
    license = make_license(personas, excluded=("violence", "sexual"))
    assert gate.excluded_categories(license_id=str(license.id)) == ("sexual", "violence")
    assert gate.excluded_categories(license_id=str(uuid.uuid4())) == ()
    assert gate.excluded_categories(license_id="not-a-license") == ()


def _publish_check(license_id: object) -> gate.GateDecision:
    return gate.check_locked(use=gate.UseRequest(str(license_id), "video", PROMPT), stage=gate.Stage.PUBLISH,
                             actor="system:test", subject="render:test")


def test_the_gate_never_locks_a_license_after_a_job_row_in_one_transaction(active_license):
    from core.locking import LockOrderError, Rank, claim

    with transaction.atomic():
        claim(Rank.JOB, rows=["a-job"])
        with pytest.raises(LockOrderError):
            _publish_check(active_license.id)


def test_the_gate_may_check_again_a_license_its_transaction_locked_before_a_job(active_license):
    from core.locking import Rank, claim

    with transaction.atomic():
        assert _publish_check(active_license.id).allowed
        claim(Rank.JOB, rows=["a-job"])
        assert _publish_check(active_license.id).allowed


def test_holding_one_license_does_not_let_the_gate_lock_another_after_a_job(personas, active_license):
    from core.locking import LockOrderError, Rank, claim

    other = make_license(personas, project="Another film")
    with transaction.atomic():
        assert _publish_check(active_license.id).allowed
        claim(Rank.JOB, rows=["a-job"])
        with pytest.raises(LockOrderError):
            _publish_check(other.id)
