"""The license lifecycle: only allowed transitions, each audited once; refused ones change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidTransition, NotAllowed
from consent import desk, gate, services
from consent.lifecycle import effective_state
from consent.models import LicenseRevocation, LicenseSuspension, LikenessLicense, SignatureEvent
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


REFUSED = "refused"
AMENDED = "amended: this version stays, a new draft amends it"
STATES = ("draft", "offered", "signed", "countersigned", "suspended", "revoked")

# The lifecycle as the license terms promise it, written out by hand (not read from
# consent.lifecycle): the outcome of each action in each state.
EXPECTED: dict[str, tuple[str, ...]] = {
    #               draft      offered    signed           countersigned    suspended        revoked
    "offer":       ("offered", REFUSED,   REFUSED,         REFUSED,         REFUSED,         REFUSED),
    "sign":        (REFUSED,   "signed",  REFUSED,         REFUSED,         REFUSED,         REFUSED),
    "countersign": (REFUSED,   REFUSED,   "countersigned", REFUSED,         REFUSED,         REFUSED),
    "suspend":     (REFUSED,   REFUSED,   REFUSED,         "suspended",     REFUSED,         REFUSED),
    "resume":      (REFUSED,   REFUSED,   REFUSED,         REFUSED,         "countersigned", REFUSED),
    "revoke":      (REFUSED,   "revoked", "revoked",       "revoked",       "revoked",       REFUSED),
    "amend":       (REFUSED,   REFUSED,   REFUSED,         AMENDED,         AMENDED,         REFUSED),
}
# The one audit event each allowed action writes, and what it is about.
RECORDED = {"offer": "license.offered", "sign": "license.signed", "countersign": "license.countersigned",
            "suspend": "license.suspended", "resume": "license.countersigned", "revoke": "license.revoked",
            "amend": "license.drafted"}
CASES = [(action, state, outcome)
         for action, row in EXPECTED.items() for state, outcome in zip(STATES, row, strict=True)]


def _snapshot(license) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"status": LikenessLicense.objects.get(pk=license.pk).status, "licenses": LikenessLicense.objects.count(),
            "signatures": SignatureEvent.objects.count(), "revocations": LicenseRevocation.objects.count(),
            "suspensions": LicenseSuspension.objects.count(), "events": AuditEvent.objects.count()}


@pytest.mark.parametrize("action, status, outcome", CASES, ids=[f"{a}-from-{s}" for a, s, _ in CASES])
def test_each_action_in_each_state_has_the_outcome_the_lifecycle_promises(personas, action, status, outcome):
    license = _license_in(status, personas)
    before = _snapshot(license)
    last_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    if outcome == REFUSED:
        with pytest.raises(InvalidTransition, match=f"This one is {status}"):
            _act(action, license, personas)
        assert _snapshot(license) == before, "a refused action changes nothing and records nothing"
        return
    result = _act(action, license, personas)
    license.refresh_from_db()
    events = list(AuditEvent.objects.filter(seq__gt=last_seq))
    assert [event.action for event in events] == [RECORDED[action]]
    if outcome == AMENDED:
        assert license.status == status and result.previous == license and result.status == "draft"
        assert events[0].subject == f"license:{result.id}"
    else:
        assert license.status == outcome
        assert events[0].subject == f"license:{license.id}"


def _ended_yesterday(license) -> None:  # type: ignore[no-untyped-def]
    yesterday = timezone.localdate() - timedelta(days=1)
    LikenessLicense.objects.filter(pk=license.pk).update(starts_on=yesterday - timedelta(days=5), ends_on=yesterday)


@pytest.mark.parametrize("status, recorded", [
    ("draft", "draft"), ("offered", "offered"), ("signed", "signed"),
    ("countersigned", "expired"), ("suspended", "expired"), ("revoked", "revoked"),
])
def test_the_nightly_sweep_records_the_expiry_of_executed_licenses_only(personas, status, recorded):
    license = _license_in(status, personas)
    _ended_yesterday(license)
    assert services.licenses_expire(actor="system:test") == ([str(license.id)] if recorded == "expired" else [])
    license.refresh_from_db()
    assert license.status == recorded
    assert AuditEvent.objects.filter(action="license.expired", subject=f"license:{license.id}").count() == (
        1 if recorded == "expired" else 0)


def test_the_nightly_sweep_is_on_the_beat_schedule_under_a_registered_task_name(settings):
    from celery.schedules import crontab

    from bespoke.celery import app

    entries = {name: entry for name, entry in app.conf.beat_schedule.items()
               if entry["task"] == "consent.tasks.licenses_expire"}
    assert list(entries) == ["licenses-expire"]
    assert entries == {name: entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
                       if entry["task"] == "consent.tasks.licenses_expire"}
    schedule = entries["licenses-expire"]["schedule"]
    assert isinstance(schedule, crontab), "nightly, at a fixed time of day"
    assert (schedule.hour, schedule.minute, schedule.day_of_week, schedule.day_of_month, schedule.month_of_year) == (
        {0}, {5}, set(range(7)), set(range(1, 32)), set(range(1, 13)))
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    assert "consent.tasks.licenses_expire" in app.tasks


def test_the_nightly_task_records_the_expiry_as_the_reaper(personas, active_license):
    from consent.tasks import licenses_expire

    _ended_yesterday(active_license)
    licenses_expire.apply().get()
    active_license.refresh_from_db()
    assert active_license.status == S.EXPIRED
    assert AuditEvent.objects.filter(action="license.expired", subject=f"license:{active_license.id}",
                                     actor="system:reaper").count() == 1


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
