"""The gate's rules one by one: each refusal with its reason and its plain words, the
boundaries of every date and count, who signs the talent side, the likeness-model binding
to the license lineage, per-use approval, the row locks of invariant 1 and the license
lifecycle table, stated here apart from the code that implements them.

Rows are sometimes edited directly (a later correction by the desk, a corrupted or
migrated database): the gate must refuse whatever the services would never produce.
Fast on purpose (no rendering): the mutation benchmark (bench/mutation.py) runs them for
every mutant of consent/gate.py and consent/lifecycle.py.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from unittest import mock

import pytest
from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidTransition, ValidationFailed
from consent import gate, services
from consent.lifecycle import (
    TRANSITIONS,
    effective_state,
    minor_term_cap,
    next_status,
)
from consent.models import (
    LicenseRevocation,
    LicenseUse,
    LikenessLicense,
    LikenessModel,
    Membership,
    Representation,
    Talent,
    UseApproval,
)
from consent.terms import text_sha256
from tests.conftest import make_license, sign_context, verify_identity

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _gate_compiled_afresh():
    """The gate keeps its read compiled per connection; each test compiles it from the code as it is."""
    gate.forget_compiled_statements()

S = LikenessLicense.Status
R = gate.Reason
PROMPT = "sks person walking along a beach at sunset"

MESSAGES = {
    R.LICENSE_NOT_FOUND: "No such license.",
    R.REVOKED: "The talent revoked this license.",
    R.SUPERSEDED: "An amendment superseded this license; use its latest version.",
    R.SUSPENDED: "This license is suspended (a strike or a dispute).",
    R.NOT_SIGNED: "The talent has not signed this license.",
    R.NOT_COUNTERSIGNED: "Legal has not countersigned this license.",
    R.TALENT_UNVERIFIED: "The verification desk has not verified the talent's identity.",
    R.TEXT_CHANGED: "The license text no longer matches what was signed.",
    R.SIGNERS_NOT_SEPARATE: "The two sides of this license were not signed by two different people.",
    R.LIKENESS_MODEL_NOT_PERMITTED: "The license does not allow a model of the talent's likeness.",
    R.LIKENESS_MODEL_UNAVAILABLE: "The likeness model is not available under this license: a model renders only "
                                  "under the license it was trained under, or that license's amendments.",
    R.USE_NOT_APPROVED: "The talent has not approved this use.",
    R.GATE_ERROR: "The consent check could not be completed, so the use is refused.",
}
ADULT_SIGNED_BY_SOMEONE_ELSE = "The talent did not sign this license themself."
REPRESENTATION_NOT_IN_FORCE = ("The representation that signed for the talent is not in force (revoked, ended, or "
                               "held by a member of the licensee).")


def _use(license: object, *, medium: str = "video", prompt: str = PROMPT, **fields: object) -> gate.UseRequest:
    license_id = license.id if isinstance(license, LikenessLicense) else license
    return gate.UseRequest(str(license_id), medium, prompt, **fields)  # type: ignore[arg-type]


def _check(license: object, **fields: object) -> gate.GateDecision:
    return gate.check(use=_use(license, **fields), stage=gate.Stage.STEP, actor="system:worker", subject="render:job-1")


def _refusal(license: LikenessLicense) -> tuple[gate.Reason | None, str]:
    return gate.license_refusal(LikenessLicense.objects.select_related("talent", "signed_under").get(pk=license.pk))


def assert_refused(decision: gate.GateDecision, reason: gate.Reason, message: str | None = None) -> None:
    assert (decision.allowed, decision.reason) == (False, reason)
    assert decision.message == (message or MESSAGES[reason])


def _update(license: LikenessLicense, **fields: object) -> None:
    LikenessLicense.objects.filter(pk=license.pk).update(**fields)


def _represent(personas, user, kind: str, *, status: str = "approved", valid_from: date | None = None,  # type: ignore[no-untyped-def]
               valid_until: date | None = None, died_on: date | None = None) -> Representation:
    """A representation row as two verifiers approved it (or as it later became)."""
    decided = status != "pending"
    return Representation.objects.create(
        talent=personas.talent, representative=user, kind=kind, status=status, requested_by=user,
        first_approved_by=personas.frank if decided else None, decided_by=personas.grace if decided else None,
        decided_at=timezone.now() if decided else None, representative_legal_name=user.username.title(),
        valid_from=valid_from or timezone.localdate() - timedelta(days=30), valid_until=valid_until,
        talent_died_on=died_on, challenge_code="ABC123")


def _minor_license(personas, guardian, **terms: object):  # type: ignore[no-untyped-def]
    """A ten-year-old's license, signed by their verified guardian and countersigned by Dana."""
    today = timezone.localdate()
    birth = today - relativedelta(years=10)
    verify_identity(personas, personas.talent, birth_date=birth)
    representation = _represent(personas, guardian, "guardian", valid_until=birth + relativedelta(years=18))
    license = make_license(personas, signed=False, countersigned=False, **terms)
    services.license_sign(license=license, context=sign_context(license), acting_user=guardian)
    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    assert (license.capacity, license.signed_under) == ("minor", representation)
    return license, representation


def _deceased_license(personas, executor):  # type: ignore[no-untyped-def]
    died_on = timezone.localdate() - timedelta(days=40)
    verify_identity(personas, personas.talent)
    representation = _represent(personas, executor, "estate", valid_from=died_on, died_on=died_on)
    license = make_license(personas, signed=False, countersigned=False)
    services.license_sign(license=license, context=sign_context(license), acting_user=executor)
    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    assert (license.capacity, license.signed_under) == ("deceased", representation)
    return license, representation


@pytest.fixture
def gwen(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user(username="gwen", password="pw-gwen-guardian")


# --- the decision and its record -------------------------------------------------------------------

def test_an_allowed_use_is_a_decision_without_reason_and_writes_no_refusal(active_license):
    before = AuditEvent.objects.count()
    decision = _check(active_license)
    assert decision == gate.GateDecision(True, gate.Stage.STEP, str(active_license.id))
    assert decision.as_dict() == {"allowed": True, "stage": "step", "license_id": str(active_license.id),
                                  "reason": None, "message": ""}
    assert AuditEvent.objects.count() == before


def test_a_refusal_is_audited_with_the_stage_the_license_and_the_reason(personas):
    license_id = str(uuid.uuid4())
    decision = gate.check(use=_use(license_id), stage=gate.Stage.CLAIM, actor="system:worker", subject="render:job-9")
    assert decision.as_dict() == {"allowed": False, "stage": "claim", "license_id": license_id,
                                  "reason": "license_not_found", "message": "No such license."}
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor, event.subject) == ("consent.gate_refused", "system:worker", "render:job-9")
    assert json.loads(event.body)["data"] == {"license": license_id, "stage": "claim", "reason": "license_not_found"}


def test_consent_refused_carries_the_decision():
    decision = gate.GateDecision(False, gate.Stage.PUBLISH, "x", R.REVOKED, "The talent revoked this license.")
    error = gate.ConsentRefused(decision)
    assert (str(error), error.decision) == ("The talent revoked this license.", decision)


def test_an_error_while_deciding_is_a_logged_refusal(active_license, monkeypatch, caplog):
    monkeypatch.setattr(gate, "_refusal", mock.Mock(side_effect=RuntimeError("database went away")))
    with caplog.at_level(logging.ERROR, logger="consent.gate"):
        assert_refused(_check(active_license), R.GATE_ERROR)
    [record] = [r for r in caplog.records if r.name == "consent.gate"]
    assert record.getMessage() == f"consent gate error for license {active_license.id}"
    assert record.exc_info and "database went away" in str(record.exc_info[1])


def test_a_database_error_while_deciding_leaves_the_callers_transaction_usable(active_license, monkeypatch):
    """On PostgreSQL a failed statement aborts the whole transaction unless a savepoint holds it:
    the publishing transaction must still record the refusal (and could go on)."""
    def failing_read(connection, *args, **kwargs):  # type: ignore[no-untyped-def]
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM bespoke_no_such_table")

    monkeypatch.setattr(gate, "_read_with_standing", failing_read)
    with transaction.atomic():
        decision = gate.check_locked(use=_use(str(active_license.id)), stage=gate.Stage.PUBLISH,
                                     actor="system:worker", subject="render:job-1")
        assert_refused(decision, R.GATE_ERROR)
        assert AuditEvent.objects.filter(action="consent.gate_refused", subject="render:job-1").exists()


@pytest.mark.parametrize("license_id", [uuid.uuid4(), "not-a-uuid", ""])
def test_an_unknown_license_is_refused(personas, license_id):
    assert_refused(_check(license_id), R.LICENSE_NOT_FOUND)


@pytest.mark.parametrize("license_id", [uuid.uuid4(), "not-a-uuid"])
def test_an_unknown_license_is_refused_with_the_row_locked_too(personas, license_id):
    with transaction.atomic():
        decision = gate.check_locked(use=gate.UseRequest(str(license_id), "video", "a walk"), stage=gate.Stage.CLAIM,
                                     actor="system:worker", subject="render:job-1")
    assert_refused(decision, R.LICENSE_NOT_FOUND, "No such license.")


# --- the license's own state -----------------------------------------------------------------------

@pytest.mark.parametrize("status, reason", [
    (S.DRAFT, R.NOT_SIGNED), (S.OFFERED, R.NOT_SIGNED), (S.SIGNED, R.NOT_COUNTERSIGNED),
    (S.SUSPENDED, R.SUSPENDED), (S.SUPERSEDED, R.SUPERSEDED), (S.REVOKED, R.REVOKED),
])
def test_a_license_not_in_force_is_refused_with_its_state(active_license, status, reason):
    _update(active_license, status=status)
    assert_refused(_check(active_license), reason)


def test_a_revocation_record_refuses_even_if_the_status_was_not_updated(personas, active_license):
    LicenseRevocation.objects.create(license=active_license, revoked_by=personas.alice, reason="Withdrawn.")
    assert_refused(_check(active_license), R.REVOKED)


def test_an_expired_status_is_refused_with_the_end_date(active_license):
    _update(active_license, status=S.EXPIRED)
    assert_refused(_check(active_license), R.EXPIRED, f"The license ended on {active_license.ends_on.isoformat()}.")


def test_the_term_includes_its_first_and_last_day(active_license):
    today = timezone.localdate()
    _update(active_license, starts_on=today, ends_on=today + timedelta(days=1))
    assert _check(active_license).allowed
    _update(active_license, starts_on=today - timedelta(days=9), ends_on=today)
    assert _check(active_license).allowed
    _update(active_license, ends_on=today - timedelta(days=1))
    assert_refused(_check(active_license), R.EXPIRED, f"The license ended on {today - timedelta(days=1)}.")
    _update(active_license, starts_on=today + timedelta(days=1), ends_on=today + timedelta(days=9))
    assert_refused(_check(active_license), R.NOT_STARTED, f"The license starts on {today + timedelta(days=1)}.")


def test_license_refusal_takes_the_day_to_judge(active_license):
    assert gate.license_refusal(active_license, today=active_license.ends_on) == (None, "")
    after = active_license.ends_on + timedelta(days=1)
    assert gate.license_refusal(active_license, today=after) == (
        R.EXPIRED, f"The license ended on {active_license.ends_on.isoformat()}.")


def test_a_talent_whose_identity_is_no_longer_verified_is_refused(personas, active_license):
    personas.talent.verifications.update(status="rejected")
    assert_refused(_check(active_license), R.TALENT_UNVERIFIED)


# --- what was signed, and by whom ------------------------------------------------------------------

def test_a_missing_signature_means_the_signed_text_is_not_established(active_license):
    active_license.signatures.filter(role="licensee").delete()
    assert_refused(_check(active_license), R.TEXT_CHANGED)


def test_a_signature_on_another_text_is_refused(active_license):
    active_license.signatures.filter(role="talent").update(document_sha256="0" * 64)
    assert_refused(_check(active_license), R.TEXT_CHANGED)


def test_a_stored_hash_that_does_not_match_the_text_is_refused(active_license):
    _update(active_license, text_sha256="0" * 64)
    assert_refused(_check(active_license), R.TEXT_CHANGED)


def test_the_text_and_every_signature_must_match(active_license):
    assert text_sha256(active_license.text) == active_license.text_sha256
    assert _check(active_license).allowed
    _update(active_license, text=active_license.text + " ")
    assert_refused(_check(active_license), R.TEXT_CHANGED)


@pytest.mark.parametrize("field", ["signed_by", "countersigned_by"])
def test_a_side_without_its_signer_is_refused(active_license, field):
    _update(active_license, **{field: None})
    assert_refused(_check(active_license), R.SIGNERS_NOT_SEPARATE)


def test_one_person_on_both_sides_is_refused(active_license):
    license = LikenessLicense.objects.select_related("talent").get(pk=active_license.pk)
    license.countersigned_by_id = license.signed_by_id  # the database refuses to store it; the gate refuses it too
    assert gate.license_refusal(license) == (R.SIGNERS_NOT_SEPARATE, MESSAGES[R.SIGNERS_NOT_SEPARATE])


def test_an_adults_license_signed_by_someone_else_is_refused(personas, active_license):
    _update(active_license, signed_by=personas.bob)
    assert_refused(_check(active_license), R.TALENT_SIDE_NOT_IN_FORCE, ADULT_SIGNED_BY_SOMEONE_ELSE)


def test_a_talent_who_became_a_minor_by_correction_no_longer_fits_an_adult_license(personas, active_license):
    personas.talent.verifications.update(birth_date=timezone.localdate() - relativedelta(years=12))
    assert_refused(_check(active_license), R.CAPACITY_CHANGED,
                   "The verified facts no longer make the talent adult, the capacity this license was signed in.")


def test_a_minors_license_signed_by_the_verified_guardian_passes(personas, gwen):
    license, _ = _minor_license(personas, gwen)
    assert _check(license).allowed
    assert _refusal(license) == (None, "")


def test_a_guardian_who_works_for_another_studio_still_signs(personas, gwen):
    Membership.objects.create(user=gwen, organization=personas.other_studio, role=Membership.Role.PRODUCER)
    license, _ = _minor_license(personas, gwen)
    assert _check(license).allowed


@pytest.mark.parametrize("change", ["revoked", "ended", "not_recorded", "another_representative", "another_kind",
                                    "joined_the_licensee"])
def test_a_minors_license_whose_representation_no_longer_holds_is_refused(personas, gwen, django_user_model, change):
    license, representation = _minor_license(personas, gwen)
    today = timezone.localdate()
    if change == "revoked":
        Representation.objects.filter(pk=representation.pk).update(status="revoked")
    elif change == "ended":
        Representation.objects.filter(pk=representation.pk).update(valid_until=today - timedelta(days=1))
    elif change == "not_recorded":
        _update(license, signed_under=None)
    elif change == "another_representative":
        other = django_user_model.objects.create_user(username="gus", password="pw-gus-guardian")
        _update(license, signed_under=_represent(personas, other, "guardian"))
    elif change == "another_kind":
        _update(license, signed_under=_represent(personas, gwen, "agent"))
    else:
        Membership.objects.create(user=gwen, organization=personas.studio, role=Membership.Role.PRODUCER)
    assert_refused(_check(license), R.TALENT_SIDE_NOT_IN_FORCE, REPRESENTATION_NOT_IN_FORCE)


def test_a_guardians_representation_is_judged_on_the_day_asked(personas, gwen):
    license, representation = _minor_license(personas, gwen)
    today = timezone.localdate()
    Representation.objects.filter(pk=representation.pk).update(valid_until=today + timedelta(days=10))
    assert gate.license_refusal(license, today=today) == (None, "")
    assert gate.license_refusal(license, today=today + timedelta(days=11))[0] == R.TALENT_SIDE_NOT_IN_FORCE
    assert gate.license_refusal(license, today=today) == (None, ""), "each day is judged on its own"


def test_a_minors_license_ends_by_the_five_year_cap(personas, gwen):
    license, _ = _minor_license(personas, gwen)
    today = timezone.localdate()
    _update(license, starts_on=today - relativedelta(years=5))  # the cap is today: the last day it holds
    assert _check(license).allowed
    _update(license, starts_on=today - relativedelta(years=5) - timedelta(days=1))
    cap = today - timedelta(days=1)
    assert_refused(_check(license), R.MINOR_TERM_CAP,
                   f"A minor's license ends by their 18th birthday and within five years ({cap}).")


def test_a_minors_license_ends_by_their_eighteenth_birthday(personas, gwen):
    license, _ = _minor_license(personas, gwen)
    today = timezone.localdate()
    birth = today - relativedelta(years=18, days=3)  # the desk corrects the date of birth: 18 three days ago
    personas.talent.verifications.update(birth_date=birth)
    cap = birth + relativedelta(years=18)
    assert_refused(_check(license), R.MINOR_TERM_CAP,
                   f"A minor's license ends by their 18th birthday and within five years ({cap}).")


def test_a_deceased_persons_license_signed_by_the_executor_passes_until_the_estate_ends(personas, django_user_model):
    executor = django_user_model.objects.create_user(username="edgar", password="pw-edgar-estate")
    license, representation = _deceased_license(personas, executor)
    assert _check(license).allowed
    Representation.objects.filter(pk=representation.pk).update(status="revoked")  # the death stays established
    assert_refused(_check(license), R.TALENT_SIDE_NOT_IN_FORCE, REPRESENTATION_NOT_IN_FORCE)


# --- what the use asks for -------------------------------------------------------------------------

def test_a_medium_outside_the_license_is_refused(active_license):
    assert_refused(_check(active_license, medium="image"), R.MEDIUM_NOT_PERMITTED,
                   "The license does not permit image uses.")


def test_an_interactive_use_needs_a_license_that_allows_interactive_use(personas, active_license):
    assert active_license.interactive is False
    assert_refused(_check(active_license, interactive=True), R.INTERACTIVE_NOT_PERMITTED,
                   "The license does not allow interactive use.")
    assert _check(make_license(personas, interactive=True), interactive=True).allowed


def test_a_use_that_is_not_interactive_is_unaffected_by_the_interactive_term(personas, active_license):
    assert _check(active_license).allowed
    assert _check(make_license(personas, interactive=True)).allowed


def test_the_interactive_term_is_judged_after_the_medium(active_license):
    assert_refused(_check(active_license, medium="image", interactive=True), R.MEDIUM_NOT_PERMITTED,
                   "The license does not permit image uses.")


def test_an_excluded_category_names_the_category_and_the_word(active_license):
    assert_refused(_check(active_license, prompt="sks person at an ELECTION rally"), R.EXCLUDED_CONTENT,
                   "The prompt touches the excluded category 'political' ('election').")


def test_the_last_render_the_license_allows_passes_and_the_next_is_refused(personas):
    license = make_license(personas, max_renders=2)
    LicenseUse.objects.create(license=license, output_ref="out-1", job_ref="job-1")
    assert _check(license).allowed
    LicenseUse.objects.create(license=license, output_ref="out-2", job_ref="job-2")
    assert_refused(_check(license), R.RENDER_LIMIT_REACHED, "All 2 renders allowed by the license are used.")


def test_uses_of_another_license_do_not_count(personas):
    license, other = make_license(personas, max_renders=1), make_license(personas, max_renders=1)
    LicenseUse.objects.create(license=other, output_ref="out-1", job_ref="job-1")
    assert _check(license).allowed


def _model(license: LikenessLicense, *, status: str = LikenessModel.Status.ACTIVE) -> LikenessModel:
    return LikenessModel.objects.create(talent_id=license.talent_id, licensee_id=license.licensee_id, license=license,
                                        training_ref="train-1", weights_sha256="0" * 64, rank=4, alpha=4.0,
                                        instance_prompt="sks person", status=status)


def test_training_needs_a_license_that_allows_a_likeness_model(personas):
    refused = make_license(personas)
    assert_refused(_check(refused, purpose=gate.Purpose.TRAIN), R.LIKENESS_MODEL_NOT_PERMITTED)
    allowed = make_license(personas, allows_likeness_model=True)
    # training is judged on the license alone: a render's medium and prompt do not apply to it
    assert _check(allowed, purpose=gate.Purpose.TRAIN, medium="image", prompt="sks person, nude").allowed


def test_rendering_with_a_likeness_model_needs_a_license_that_allows_one(personas):
    license = make_license(personas)
    model = _model(license)
    assert _check(license).allowed, "a render without a model needs no such permission"
    assert_refused(_check(license, likeness_model_id=str(model.id)), R.LIKENESS_MODEL_NOT_PERMITTED)


def test_a_likeness_model_renders_only_under_its_own_license_lineage(personas):
    license = make_license(personas, allows_likeness_model=True)
    own, destroyed = _model(license), _model(license, status=LikenessModel.Status.DESTROYED)
    sibling = _model(make_license(personas, allows_likeness_model=True))
    assert _check(license, likeness_model_id=str(own.id)).allowed
    for model_id in (str(destroyed.id), str(sibling.id), str(uuid.uuid4()), "not-a-uuid"):
        assert_refused(_check(license, likeness_model_id=model_id), R.LIKENESS_MODEL_UNAVAILABLE)


def test_an_amendment_renders_with_the_model_trained_under_the_version_it_amends(personas):
    original = make_license(personas, allows_likeness_model=True)
    model = _model(original)
    amendment = services.license_amend(license=original, changes={"max_renders": 9}, acting_user=personas.erin)
    for step in ("offer", "sign", "countersign"):
        if step == "offer":
            services.license_offer(license=amendment, acting_user=personas.erin)
        elif step == "sign":
            services.license_sign(license=amendment, context=sign_context(amendment), acting_user=personas.alice)
        else:
            services.license_countersign(license=amendment, context=sign_context(amendment), acting_user=personas.dana)
    assert _check(amendment, likeness_model_id=str(model.id)).allowed
    assert_refused(_check(original, likeness_model_id=str(model.id)), R.SUPERSEDED,)
    assert gate.license_lineage(amendment) == [amendment.pk, original.pk]
    assert gate.license_lineage(original) == [original.pk]


def test_the_lineage_reaches_every_version_and_a_model_of_the_first_renders_under_the_third(personas):
    first, second, third = (make_license(personas, allows_likeness_model=True) for _ in range(3))
    _update(second, previous=first)  # as amendments chain: each version names the one it amends
    _update(third, previous=second)
    third.refresh_from_db()
    assert gate.license_lineage(third) == [third.pk, second.pk, first.pk]
    assert _check(third, likeness_model_id=str(_model(first).id)).allowed
    _update(first, previous=third)  # a corrupted cycle still ends
    assert gate.license_lineage(third) == [third.pk, second.pk, first.pk]


# --- per-use approval ------------------------------------------------------------------------------

def _approval(license: LikenessLicense, job_ref: str, status: str, personas) -> UseApproval:  # type: ignore[no-untyped-def]
    return UseApproval.objects.create(license=license, job_ref=job_ref, prompt=PROMPT, params={}, status=status,
                                      requested_by=personas.bob)


@pytest.mark.parametrize("status", [None, UseApproval.Status.PENDING, UseApproval.Status.DECLINED])
def test_a_use_the_talent_has_not_approved_is_refused(personas, status):
    license = make_license(personas, requires_use_approval=True)
    if status is not None:
        _approval(license, "job-1", status, personas)
    _approval(license, "job-2", UseApproval.Status.APPROVED, personas)  # another use's approval does not count
    assert_refused(_check(license, job_ref="job-1"), R.USE_NOT_APPROVED)


def test_an_approved_use_passes_and_a_use_being_requested_waits_for_its_approval(personas):
    license = make_license(personas, requires_use_approval=True)
    assert _check(license).allowed, "while the use is being requested there is nothing to approve yet"
    _approval(license, "job-1", UseApproval.Status.APPROVED, personas)
    assert _check(license, job_ref="job-1").allowed


def test_a_license_that_does_not_ask_for_approval_needs_none(personas):
    license = make_license(personas)
    assert _check(license, job_ref="job-1").allowed
    assert gate.use_requires_approval(license_id=str(license.id)) is False
    asking = make_license(personas, requires_use_approval=True)
    assert gate.use_requires_approval(license_id=str(asking.id)) is True
    assert gate.use_requires_approval(license_id="not-a-uuid") is False


# --- publication, and the locks of invariant 1 -----------------------------------------------------

@dataclass(frozen=True)
class RowLock:
    model: type
    in_transaction: bool
    params: frozenset[str]
    tables: frozenset[str]  # the tables whose rows the lock covers


def _locked_tables(compiler: SQLCompiler, sql: str) -> frozenset[str]:
    """The tables PostgreSQL locks for this query: those named by select_for_update(of=...),
    else every table in its FROM clause, joined ones included."""
    query = compiler.query
    if query.select_for_update_of:  # an invalid name raises FieldError here, as it does on PostgreSQL
        aliases = {name.strip('"`') for name in compiler.get_select_for_update_of_arguments()}
        return frozenset(query.alias_map[alias].table_name for alias in aliases)
    return frozenset(re.findall(r'(?:FROM|JOIN) [`"]?([A-Za-z0-9_]+)', sql))


@contextmanager
def row_locks() -> Iterator[list[RowLock]]:
    """Every SELECT ... FOR UPDATE the code asks for. SQLite accepts and ignores the lock,
    so the request itself is what is observed; on PostgreSQL the query carries FOR UPDATE."""
    seen: list[RowLock] = []
    original = SQLCompiler.execute_sql
    original_statement_row = gate._Statement.row

    def observe(compiler: SQLCompiler, sql: str, params: Iterable[object]) -> None:
        if compiler.connection.features.has_select_for_update:
            assert "FOR UPDATE" in sql
        seen.append(RowLock(compiler.query.model, compiler.connection.in_atomic_block,
                            frozenset(str(p) for p in params), _locked_tables(compiler, sql)))

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.query.select_for_update:
            observe(self, *self.as_sql())
        return original(self, *args, **kwargs)

    def statement_spy(self, license_id, job_ref):  # type: ignore[no-untyped-def]
        """The gate's statements compiled once: the values they run with are the license's."""
        if self.compiler.query.select_for_update:
            observe(self.compiler, self.sql, self.params_for(license_id, job_ref))
        return original_statement_row(self, license_id, job_ref)

    with mock.patch.object(SQLCompiler, "execute_sql", spy), mock.patch.object(gate._Statement, "row", statement_spy):
        yield seen


def _locks_row(seen: list[RowLock], model: type, pk: object) -> bool:
    """A lock on this row, and on no other table's rows, inside a transaction."""
    keys = {str(pk), getattr(pk, "hex", str(pk))}
    return any(lock.model is model and lock.in_transaction and keys & lock.params
               and lock.tables == {model._meta.db_table} for lock in seen)


def test_publication_locks_the_license_row_and_records_the_use(personas):
    license = make_license(personas)
    with row_locks() as seen, transaction.atomic():
        decision = gate.authorize_publication(use=_use(license), output_ref="out-1", job_ref="job-1",
                                              subject="render:job-1", actor="system:worker")
    assert decision == gate.GateDecision(True, gate.Stage.PUBLISH, str(license.id))
    # the license row and only it: not the talent's or the representation's rows joined into the same query
    # (on PostgreSQL a lock on the nullable side of an outer join is an error, and the lock order is license first)
    assert _locks_row(seen, LikenessLicense, license.pk), "publication decides with the license row locked"
    use = LicenseUse.objects.get(license=license)
    assert (use.output_ref, use.job_ref) == ("out-1", "job-1")
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor, event.subject) == ("consent.use_recorded", "system:worker",
                                                          f"license:{license.id}")
    assert json.loads(event.body)["data"] == {"output": "out-1", "job": "job-1"}


def test_a_refused_publication_records_no_use(personas, active_license):
    services.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    with transaction.atomic():
        decision = gate.authorize_publication(use=_use(active_license), output_ref="out-1", job_ref="job-1",
                                              subject="render:job-1", actor="system:worker")
    assert_refused(decision, R.REVOKED)
    assert decision.stage == gate.Stage.PUBLISH
    assert not LicenseUse.objects.exists()


def test_check_locked_decides_with_the_license_row_locked(personas, active_license):
    with row_locks() as seen, transaction.atomic():
        decision = gate.check_locked(use=_use(active_license), stage=gate.Stage.CLAIM, actor="system:worker",
                                     subject="render:job-1")
    assert decision == gate.GateDecision(True, gate.Stage.CLAIM, str(active_license.id))
    assert _locks_row(seen, LikenessLicense, active_license.pk)
    _update(active_license, status=S.SUSPENDED)
    with transaction.atomic():
        refused = gate.check_locked(use=_use(active_license), stage=gate.Stage.CLAIM, actor="system:worker",
                                    subject="render:job-2")
    assert_refused(refused, R.SUSPENDED)
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor, event.subject) == ("consent.gate_refused", "system:worker", "render:job-2")


def test_a_plain_check_takes_no_lock(active_license):
    """The checks every few denoising steps must not queue behind a revocation's lock."""
    with row_locks() as seen:
        assert _check(active_license).allowed
    assert not [lock for lock in seen if lock.model is LikenessLicense]


@pytest.mark.parametrize("call, message", [
    (lambda use: gate.authorize_publication(use=use, output_ref="o", job_ref="j", subject="s", actor="system:x"),
     "authorize_publication must run inside the publishing transaction"),
    (lambda use: gate.check_locked(use=use, stage=gate.Stage.CLAIM, subject="s", actor="system:x"),
     "check_locked must run inside the caller's transaction"),
])
def test_the_locked_decisions_refuse_to_run_outside_a_transaction(active_license, call, message):
    real = transaction.get_connection()
    real.in_atomic_block = False  # as in autocommit: no transaction to hold the lock (the test's own is hidden)
    try:
        with pytest.raises(RuntimeError) as error:
            call(_use(active_license))
    finally:
        real.in_atomic_block = True
    assert str(error.value) == message
    assert not LicenseUse.objects.exists()


def test_revocation_takes_the_license_lock_that_publication_takes(personas, active_license):
    with row_locks() as seen:
        services.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    assert _locks_row(seen, LikenessLicense, active_license.pk)


def test_the_nightly_expiry_locks_each_license_it_records(personas, active_license):
    yesterday = timezone.localdate() - timedelta(days=1)
    _update(active_license, starts_on=yesterday - timedelta(days=5), ends_on=yesterday)
    with row_locks() as seen:
        assert services.licenses_expire(actor="system:test") == [str(active_license.id)]
    assert _locks_row(seen, LikenessLicense, active_license.pk)


def test_erasure_locks_the_talent_row(personas, active_license):
    with row_locks() as seen:
        services.talent_erase(talent=personas.talent, acting_user=personas.alice)
    assert _locks_row(seen, Talent, personas.talent.pk)


# --- consent status, references, the licensee ------------------------------------------------------

def test_consent_status_names_the_state_and_since_when(personas):
    today = timezone.localdate()
    license = make_license(personas)
    assert gate.consent_status(license_id=str(license.id)).as_dict() == {
        "license_id": str(license.id), "state": "active", "since": license.starts_on.isoformat()}
    after = license.ends_on + timedelta(days=1)
    assert gate.consent_status(license_id=str(license.id), today=after) == gate.ConsentStatus(
        str(license.id), "expired", license.ends_on.isoformat())
    for status in (S.SUSPENDED, S.SUPERSEDED):
        _update(license, status=status)
        license.refresh_from_db()
        assert gate.consent_status(license_id=str(license.id)) == gate.ConsentStatus(
            str(license.id), status, license.status_changed_at.isoformat())
    for status in (S.DRAFT, S.OFFERED, S.SIGNED):
        _update(license, status=status)
        assert gate.consent_status(license_id=str(license.id)) == gate.ConsentStatus(str(license.id), "not_in_force")
    later = make_license(personas, starts_in_days=2)
    assert gate.consent_status(license_id=str(later.id)) == gate.ConsentStatus(str(later.id), "not_in_force")
    assert gate.consent_status(license_id=str(later.id), today=today + timedelta(days=2)).state == "active"


def test_consent_status_of_a_revoked_license_says_since_when(personas, active_license):
    revocation = services.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    assert gate.consent_status(license_id=str(active_license.id)) == gate.ConsentStatus(
        str(active_license.id), "revoked", revocation.revoked_at.isoformat())
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert gate.consent_status(license_id=unknown) == gate.ConsentStatus(unknown, "unknown")


def test_consent_status_answers_exactly_the_seven_documented_states(personas, active_license):
    """Every stored status on each side of the term, a revocation and an unknown id: the
    states answered are CONSENT_STATES, all of them and nothing else."""
    license = make_license(personas)
    before, during = license.starts_on - timedelta(days=1), license.starts_on
    after = license.ends_on + timedelta(days=1)
    seen = set()
    for status in S.values:
        _update(license, status=status)
        seen |= {gate.consent_status(license_id=str(license.id), today=day).state for day in (before, during, after)}
    services.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    seen |= {gate.consent_status(license_id=str(active_license.id)).state, gate.consent_status(license_id="nope").state}
    assert len(gate.CONSENT_STATES) == 7 and seen == set(gate.CONSENT_STATES)


def test_the_consent_reference_is_pseudonymous(active_license):
    reference = gate.consent_reference(license_id=str(active_license.id))
    assert reference == gate.ConsentReference(str(active_license.id), active_license.text_sha256,
                                              f"https://bespoke.test/verify/consent/{active_license.id}")


def test_only_the_licensees_producers_request_renders(personas, active_license):
    assert gate.requester_is_licensee(user_id=personas.bob.pk, license_id=str(active_license.id)) is True
    for user in (personas.charlie, personas.dana, personas.alice):
        assert gate.requester_is_licensee(user_id=user.pk, license_id=str(active_license.id)) is False
    assert gate.requester_is_licensee(user_id=personas.bob.pk, license_id="not-a-uuid") is False


# --- the license lifecycle -------------------------------------------------------------------------

ALLOWED = {  # action -> (states it applies to, the state it leads to)
    "offer": ({S.DRAFT}, S.OFFERED),
    "sign": ({S.OFFERED}, S.SIGNED),
    "countersign": ({S.SIGNED}, S.COUNTERSIGNED),
    "suspend": ({S.COUNTERSIGNED}, S.SUSPENDED),
    "resume": ({S.SUSPENDED}, S.COUNTERSIGNED),
    "revoke": ({S.OFFERED, S.SIGNED, S.COUNTERSIGNED, S.SUSPENDED}, S.REVOKED),
    "expire": ({S.COUNTERSIGNED, S.SUSPENDED}, S.EXPIRED),
    "expire_viewer": ({S.SIGNED}, S.EXPIRED),
    "supersede": ({S.COUNTERSIGNED, S.SUSPENDED}, S.SUPERSEDED),
    "amend": ({S.COUNTERSIGNED, S.SUSPENDED}, S.COUNTERSIGNED),  # the amendment is a new draft; this one stays
}
REFUSED = {
    "offer": "Only a draft can be offered.",
    "sign": "Only a license offered to the talent can be signed.",
    "countersign": "Only a license the talent signed can be countersigned.",
    "suspend": "Only an executed license can be suspended.",
    "resume": "Only a suspended license can be resumed.",
    "revoke": "This license is not in a state that can be revoked.",
    "expire": "Only an executed license can expire.",
    "expire_viewer": "Only a signed viewer consent can expire.",
    "supersede": "Only an executed license can be superseded.",
    "amend": "Only an executed license can be amended.",
}


def test_the_transition_table_is_the_one_agreed():
    assert set(TRANSITIONS) == set(ALLOWED)
    for action, (sources, target) in ALLOWED.items():
        for status in S:
            license = LikenessLicense(status=status)
            if status in sources:
                assert next_status(license, action) == target, (action, status)
            else:
                with pytest.raises(InvalidTransition) as error:
                    next_status(license, action)
                assert error.value.message == f"{REFUSED[action]} This one is {status.label.lower()}.", (action, status)


def test_a_revoked_license_cannot_be_resumed_and_stays_refused(personas, active_license):
    services.license_suspend(license=active_license, reason="dispute", note="", acting_user=personas.dana)
    services.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    with pytest.raises(InvalidTransition) as error:
        services.license_resume(license=active_license, acting_user=personas.dana)
    assert error.value.message == "Only a suspended license can be resumed. This one is revoked."
    active_license.refresh_from_db()
    assert active_license.status == S.REVOKED
    assert_refused(_check(active_license), R.REVOKED)


@pytest.mark.parametrize("status, day, state", [
    (S.COUNTERSIGNED, "before", S.COUNTERSIGNED), (S.COUNTERSIGNED, "first", "active"),
    (S.COUNTERSIGNED, "last", "active"), (S.COUNTERSIGNED, "after", S.EXPIRED),
    (S.SUSPENDED, "last", S.SUSPENDED), (S.SUSPENDED, "after", S.EXPIRED),
    (S.SIGNED, "after", S.SIGNED), (S.REVOKED, "first", S.REVOKED), (S.SUPERSEDED, "after", S.SUPERSEDED),
])
def test_the_effective_state_follows_the_term(status, day, state):
    starts_on, ends_on = date(2030, 3, 1), date(2030, 6, 30)
    today = {"before": starts_on - timedelta(days=1), "first": starts_on, "last": ends_on,
             "after": ends_on + timedelta(days=1)}[day]
    assert effective_state(LikenessLicense(status=status, starts_on=starts_on, ends_on=ends_on), today) == state


def test_years_are_added_by_the_calendar_29_february_landing_on_28_february(settings):
    """No bound runs a day past its anniversary: from 29 February, N years on is 28 February
    of a common year (29 February of a leap one)."""
    from consent.facts import TalentFacts
    from consent.license_terms import terms_clean

    assert minor_term_cap(starts_on=date(2010, 6, 15), birth_date=date(2000, 1, 1)) == date(2015, 6, 15)
    assert minor_term_cap(starts_on=date(2028, 2, 29), birth_date=date(2020, 1, 1)) == date(2033, 2, 28)
    assert minor_term_cap(starts_on=date(2028, 2, 29), birth_date=date(2014, 1, 1)) == date(2032, 1, 1)
    assert minor_term_cap(starts_on=date(2027, 1, 1), birth_date=date(2012, 2, 29)) == date(2030, 2, 28)
    assert minor_term_cap(starts_on=date(2032, 1, 1), birth_date=date(2016, 2, 29)) == date(2034, 2, 28)
    born_on_29_february = TalentFacts(verified=True, birth_date=date(2012, 2, 29))
    assert born_on_29_february.capacity_on(date(2030, 2, 27)) == "minor"
    assert born_on_29_february.capacity_on(date(2030, 2, 28)) == "adult"
    settings.BESPOKE_LICENSE_MAX_YEARS = 10
    terms = {"project": "Night Market", "role": "Extra", "permitted_media": ["video"], "territories": ["FR"],
             "use_description": "Background extra in crowd scenes of one music video, never in close-up.",
             "languages": ["fr"], "max_renders": 3, "compensation_basis": "flat", "compensation_rate": "300",
             "compensation_currency": "EUR", "starts_on": date(2028, 2, 29)}
    assert terms_clean({**terms, "ends_on": date(2038, 2, 28)})["ends_on"] == date(2038, 2, 28)
    with pytest.raises(ValidationFailed, match="at most 10 years") as refused:
        terms_clean({**terms, "ends_on": date(2038, 3, 1)})
    assert refused.value.field == "ends_on"


def test_a_minors_term_ends_at_the_earlier_of_five_years_and_their_eighteenth_birthday():
    assert minor_term_cap(starts_on=date(2026, 1, 10), birth_date=date(2015, 5, 1)) == date(2031, 1, 10)
    assert minor_term_cap(starts_on=date(2026, 1, 10), birth_date=date(2010, 5, 1)) == date(2028, 5, 1)
