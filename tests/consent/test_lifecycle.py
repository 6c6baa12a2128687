"""The license lifecycle: only allowed transitions, each audited once; refused ones change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from bespoke.errors import InvalidTransition, NotAllowed
from consent import desk, gate, services
from consent.lifecycle import TRANSITIONS, effective_state
from consent.models import LikenessLicense
from tests.conftest import approve_representation, make_license, sign_context, verify_identity

pytestmark = pytest.mark.django_db
S = LikenessLicense.Status


def _act(action: str, license, personas):  # type: ignore[no-untyped-def]
    calls = {
        "offer": lambda: services.license_offer(license=license, acting_user=personas.erin),
        "sign": lambda: services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice),
        "countersign": lambda: services.license_countersign(license=license, context=sign_context(license),
                                                            acting_user=personas.dana),
        "suspend": lambda: services.license_suspend(license=license, reason="strike", note="", acting_user=personas.dana),
        "resume": lambda: services.license_resume(license=license, acting_user=personas.dana),
        "revoke": lambda: services.license_revoke(license=license, reason="Withdrawn.", acting_user=personas.alice),
        "amend": lambda: services.license_amend(license=license, changes={"max_renders": 9}, acting_user=personas.erin),
    }
    return calls[action]()


def _license_in(status: str, personas):  # type: ignore[no-untyped-def]
    license = make_license(personas, offered=status != S.DRAFT, signed=status not in (S.DRAFT, S.OFFERED),
                           countersigned=status not in (S.DRAFT, S.OFFERED, S.SIGNED))
    if status == S.SUSPENDED:
        _act("suspend", license, personas)
    elif status == S.REVOKED:
        _act("revoke", license, personas)
    license.refresh_from_db()
    assert license.status == status
    return license


USER_ACTIONS = ("offer", "sign", "countersign", "suspend", "resume", "revoke", "amend")
STATES = (S.DRAFT, S.OFFERED, S.SIGNED, S.COUNTERSIGNED, S.SUSPENDED, S.REVOKED)


@pytest.mark.parametrize("status", STATES)
@pytest.mark.parametrize("action", USER_ACTIONS)
def test_every_transition_is_allowed_or_refused_by_the_table(personas, status, action):
    license = _license_in(status, personas)
    before = AuditEvent.objects.count()
    allowed = status in TRANSITIONS[action][0]
    if not allowed:
        with pytest.raises(InvalidTransition) as error:
            _act(action, license, personas)
        assert error.value.message
        license.refresh_from_db()
        assert license.status == status
        assert AuditEvent.objects.count() == before, "a refused transition changes nothing"
        return
    _act(action, license, personas)
    license.refresh_from_db()
    if action == "amend":
        assert license.status == status and license.amendment.status == S.DRAFT
    else:
        assert license.status == TRANSITIONS[action][1]
    assert AuditEvent.objects.count() - before == 1


def test_an_amendment_supersedes_the_version_it_amends_when_countersigned(personas):
    original = make_license(personas)
    amendment = services.license_amend(license=original, changes={"max_renders": 50}, acting_user=personas.erin)
    assert amendment.version == 2 and amendment.previous == original and "version 2" in amendment.text
    assert gate.license_refusal(original)[0] is None, "the original stays in force until the amendment is executed"
    for action in ("offer", "sign", "countersign"):
        _act(action, amendment, personas)
    original.refresh_from_db()
    assert original.status == S.SUPERSEDED
    assert gate.license_refusal(original)[0] == gate.Reason.SUPERSEDED
    amendment.refresh_from_db()
    assert gate.license_refusal(amendment)[0] is None


def test_a_suspended_license_fails_the_gate_and_resumes_without_new_signatures(personas, active_license):
    services.license_suspend(license=active_license, reason="strike", note="Union strike", acting_user=personas.dana)
    assert gate.license_refusal(active_license)[0] == gate.Reason.SUSPENDED
    services.license_resume(license=active_license, acting_user=personas.dana)
    active_license.refresh_from_db()
    assert gate.license_refusal(active_license)[0] is None


def test_a_license_past_its_end_is_expired_for_the_gate_and_then_recorded(personas, active_license):
    yesterday = timezone.localdate() - timedelta(days=1)
    LikenessLicense.objects.filter(pk=active_license.pk).update(starts_on=yesterday - timedelta(days=5), ends_on=yesterday)
    active_license.refresh_from_db()
    assert effective_state(active_license, timezone.localdate()) == S.EXPIRED
    assert gate.license_refusal(active_license)[0] == gate.Reason.EXPIRED
    assert services.licenses_expire(actor="system:test") == [str(active_license.id)]
    active_license.refresh_from_db()
    assert active_license.status == S.EXPIRED


def _minor_with_guardian(personas, django_user_model):  # type: ignore[no-untyped-def]
    guardian = django_user_model.objects.create_user(username="guardian", password="pw-guardian")
    today = timezone.localdate()
    verify_identity(personas, personas.talent, birth_date=today.replace(year=today.year - 10))
    approve_representation(personas, desk.representation_request(
        talent=personas.talent, representative=guardian, kind="guardian", acting_user=personas.alice))
    return guardian


def test_a_minors_license_past_the_cap_fails_the_gate(personas, django_user_model):
    guardian = _minor_with_guardian(personas, django_user_model)
    today = timezone.localdate()
    license = make_license(personas, signed=False, countersigned=False)
    services.license_sign(license=license, context=sign_context(license), acting_user=guardian)
    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    assert gate.license_refusal(license)[0] is None
    # the desk later finds the birth date was wrong: the talent turned 18 before today
    personas.talent.verifications.update(birth_date=today.replace(year=today.year - 19))
    assert gate.license_refusal(license)[0] == gate.Reason.MINOR_TERM_CAP


def test_a_license_whose_signed_hash_no_longer_matches_fails_the_gate(personas, active_license):
    LikenessLicense.objects.filter(pk=active_license.pk).update(text=active_license.text.replace("Mara", "Maria"))
    active_license.refresh_from_db()
    assert gate.license_refusal(active_license)[0] == gate.Reason.TEXT_CHANGED


def test_a_deceased_persons_license_is_signed_by_the_verified_executor(personas, django_user_model):
    executor = django_user_model.objects.create_user(username="executor", password="pw-executor-estate")
    verify_identity(personas, personas.talent)
    assert make_license(personas, offered=False, signed=False, countersigned=False).capacity == "adult"
    representation = desk.representation_request(talent=personas.talent, representative=executor, kind="estate",
                                                 acting_user=executor)
    died_on = timezone.localdate() - timedelta(days=40)
    approve_representation(personas, representation, died_on=died_on)
    license = make_license(personas, signed=False, countersigned=False)
    assert license.capacity == "deceased" and "the representative of the Talent's estate" in license.text
    with pytest.raises(NotAllowed):
        services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    services.license_sign(license=license, context=sign_context(license), acting_user=executor)
    assert license.signatures.get().role == "estate"
