"""Property-based tests of the consent gate: random license states, dates, capacities,
representations, signers, likeness-model bindings and approvals, each checked against a
plain statement of the rules (``rules_allow`` below), written apart from the gate.

Rows are written directly, not through the services, so the gate also meets states the
services would never produce (a corrupted or migrated database must still fail closed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings, strategies as st

from consent import gate
from consent.models import (
    IdentityVerification,
    LicenseRevocation,
    LicenseUse,
    LikenessLicense,
    LikenessModel,
    Membership,
    Representation,
    SignatureEvent,
    UseApproval,
)
from consent.terms import text_sha256

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _gate_compiled_afresh():
    """The gate keeps its read compiled per connection; each test compiles it from the code as it is."""
    gate.forget_compiled_statements()

TODAY = timezone.localdate()
STATUSES = [s.value for s in LikenessLicense.Status]


@dataclass(frozen=True)
class Scenario:
    verified: bool
    age: int
    died_days_ago: int | None
    capacity: str
    status: str
    revoked_row: bool
    starts: int
    length: int
    text_tampered: bool
    signatures: int  # how many of the two signatures exist
    signer: str  # who signed the talent side: talent, guardian, estate, dana, none
    countersigner: str  # dana, talent, none
    representation: str  # none, in_force, revoked, ended, pending
    rep_in_licensee: bool
    medium: str
    excluded_prompt: bool
    allows_model: bool
    model: str  # none, own, other_license, destroyed
    requires_approval: bool
    approval: str  # none, pending, approved, declined
    uses: int
    max_renders: int


DOMAINS: dict[str, list] = {
    "verified": [True, False], "age": [10, 17, 30, 80], "died_days_ago": [None, 5],
    "capacity": ["adult", "minor", "deceased"], "status": STATUSES, "revoked_row": [False, True],
    "starts": [-800, -400, -10, 0, 1, 5], "length": [1, 9, 100, 800], "text_tampered": [False, True],
    "signatures": [2, 1, 0], "signer": ["talent", "guardian", "estate", "dana", "none"],
    "countersigner": ["dana", "talent", "none"],
    "representation": ["none", "in_force", "revoked", "ended", "pending"], "rep_in_licensee": [False, True],
    "medium": ["video", "image"], "excluded_prompt": [False, True], "allows_model": [True, False],
    "model": ["none", "own", "other_license", "destroyed"], "requires_approval": [True, False],
    "approval": ["none", "pending", "approved", "declined"], "uses": [0, 1, 2, 3], "max_renders": [1, 2, 3],
}
random_scenarios = st.builds(Scenario, **{name: st.sampled_from(values) for name, values in DOMAINS.items()})


VALID = {  # a use every rule allows, for a talent of each capacity
    "adult": dict(verified=True, age=30, died_days_ago=None, capacity="adult", signer="talent", representation="none"),
    "minor": dict(verified=True, age=10, died_days_ago=None, capacity="minor", signer="guardian",
                  representation="in_force"),
    "deceased": dict(verified=True, age=80, died_days_ago=5, capacity="deceased", signer="estate",
                     representation="in_force"),
}
COMMON = dict(status="countersigned", revoked_row=False, starts=-10, length=100, text_tampered=False, signatures=2,
              countersigner="dana", rep_in_licensee=False, medium="video", excluded_prompt=False, allows_model=True,
              model="own", requires_approval=True, approval="approved", uses=0, max_renders=2)


@st.composite
def scenarios(draw):  # type: ignore[no-untyped-def]
    """Mostly a valid use with one of its facts changed at random (sometimes none, two or
    three), and sometimes anything at all."""
    random = draw(random_scenarios)
    if draw(st.integers(0, 4)) == 0:
        return random
    base = {**COMMON, **VALID[draw(st.sampled_from(sorted(VALID)))]}
    changes = draw(st.sampled_from([0, 1, 1, 1, 1, 2, 3]))
    for name in draw(st.lists(st.sampled_from(sorted(base)), min_size=changes, max_size=changes, unique=True)):
        base[name] = getattr(random, name)
    return Scenario(**base)


def rules_allow(s: Scenario) -> bool:
    """The rules, stated plainly: a use is allowed only when every one of these holds."""
    starts_on = TODAY + timedelta(days=s.starts)
    ends_on = starts_on + timedelta(days=s.length)
    birth = _birth(s)
    # a death is established by an estate's representation that two verifiers approved
    died = s.verified and (s.died_days_ago is not None or (
        s.capacity == "deceased" and s.representation in ("in_force", "ended", "revoked")))
    facts_capacity = "deceased" if died else ("minor" if birth + relativedelta(years=18) > TODAY else "adult")
    kind_for = {"minor": "guardian", "deceased": "estate"}
    talent_signed_right = (s.signer == "talent") if s.capacity == "adult" else (
        s.signer == kind_for[s.capacity] and s.representation == "in_force" and not s.rep_in_licensee)
    return all([
        s.status == "countersigned" and not s.revoked_row,
        starts_on <= TODAY <= ends_on,
        s.verified,
        not s.text_tampered and s.signatures == 2,
        s.signer != "none" and s.countersigner != "none" and not (s.signer == "talent" and s.countersigner == "talent"),
        s.capacity != "minor" or TODAY <= min(starts_on + relativedelta(years=5), birth + relativedelta(years=18)),
        facts_capacity == s.capacity,
        talent_signed_right,
        s.medium == "video",
        not s.excluded_prompt,
        s.model == "none" or (s.allows_model and s.model == "own"),
        not s.requires_approval or s.approval == "approved",
        s.uses < s.max_renders,
    ])


def _birth(s: Scenario) -> date:
    return TODAY - relativedelta(years=s.age)


def _build(s: Scenario, p, django_user_model) -> tuple[gate.UseRequest, LikenessLicense]:  # type: ignore[no-untyped-def]
    users = {"talent": p.alice, "dana": p.dana, "none": None}
    users["guardian"] = django_user_model.objects.create_user(username="gwen", password="x")
    users["estate"] = django_user_model.objects.create_user(username="edgar", password="x")
    if s.rep_in_licensee:
        for name in ("guardian", "estate"):
            Membership.objects.create(user=users[name], organization=p.studio, role=Membership.Role.PRODUCER)
    if s.verified:
        IdentityVerification.objects.create(talent=p.talent, method="in_person", status="approved", requested_by=p.alice,
                                            first_approved_by=p.frank, decided_by=p.grace, decided_at=timezone.now(),
                                            legal_name="Alice Avery", birth_date=_birth(s), challenge_code="ABC123")
    if s.died_days_ago is not None:
        Representation.objects.create(kind="estate", talent=p.talent, representative=users["estate"], status="approved",
                                      requested_by=users["estate"], first_approved_by=p.frank, decided_by=p.grace,
                                      decided_at=timezone.now(), valid_from=TODAY - timedelta(days=s.died_days_ago),
                                      talent_died_on=TODAY - timedelta(days=s.died_days_ago), challenge_code="D")
    representation = None
    if s.capacity != "adult" and s.representation != "none":
        kind = {"minor": "guardian", "deceased": "estate"}[s.capacity]
        status = {"in_force": "approved", "ended": "approved", "revoked": "revoked", "pending": "pending"}[s.representation]
        approved = status != "pending"
        representation = Representation.objects.create(
            kind=kind, talent=p.talent, representative=users[kind], status=status, requested_by=users[kind],
            first_approved_by=p.frank if approved else None, decided_by=p.grace if approved else None,
            decided_at=timezone.now() if approved else None, valid_from=TODAY - timedelta(days=30),
            valid_until=TODAY - timedelta(days=1) if s.representation == "ended" else None,
            talent_died_on=TODAY - timedelta(days=30) if kind == "estate" else None, challenge_code="R")
    starts_on = TODAY + timedelta(days=s.starts)
    text = "LIKENESS LICENSE (property test)"
    signer, countersigner = users[s.signer], users[s.countersigner] if s.countersigner != "talent" else p.alice
    if signer is not None and countersigner is not None and signer.pk == countersigner.pk:
        countersigner = None  # the database refuses one user on both sides; the gate must still refuse
    license = LikenessLicense.objects.create(
        talent=p.talent, licensee=p.studio, status=s.status, project="P", role="R", use_description="d" * 40,
        permitted_media=["video"], territories=["worldwide"], languages=["en"], excluded_categories=["political"],
        allows_likeness_model=s.allows_model, requires_use_approval=s.requires_approval, max_renders=s.max_renders,
        starts_on=starts_on, ends_on=starts_on + timedelta(days=s.length), capacity=s.capacity,
        talent_birth_date=_birth(s), signed_by=signer, countersigned_by=countersigner,
        signed_under=representation if s.signer in ("guardian", "estate") else None,
        text=text + (" (edited)" if s.text_tampered else ""), text_sha256=text_sha256(text),
        compensation_basis="flat", compensation_rate=0, compensation_currency="EUR", drafted_by=p.dana)
    now = timezone.now()
    for role, user in (("talent", signer or p.alice), ("licensee", countersigner or p.dana))[:s.signatures]:
        SignatureEvent.objects.create(license=license, role=role, signer=user, signed_at=now, authentication_method="t",
                                      disclosure_version="v", disclosure_accepted_at=now,
                                      document_sha256=text_sha256(text), intent="i")
    if s.revoked_row:
        LicenseRevocation.objects.create(license=license, revoked_by=p.alice, reason="r")
    for n in range(s.uses):
        LicenseUse.objects.create(license=license, output_ref=f"o{n}", job_ref=f"j{n}")
    job_ref = str(uuid.uuid4())
    if s.approval != "none":
        UseApproval.objects.create(license=license, job_ref=job_ref, prompt="p", params={}, requested_by=p.bob,
                                   status={"pending": "pending", "approved": "approved", "declined": "declined"}[s.approval])
    model_id = None
    if s.model != "none":
        bound = license if s.model in ("own", "destroyed") else LikenessLicense.objects.create(
            **{f.name: getattr(license, f.name) for f in LikenessLicense._meta.concrete_fields
               if f.name not in ("id", "previous")})
        model_id = str(LikenessModel.objects.create(
            talent=p.talent, licensee=p.studio, license=bound, training_ref="t", weights_sha256="0" * 64, rank=4,
            alpha=4.0, instance_prompt="sks person", status="destroyed" if s.model == "destroyed" else "active").id)
    prompt = "sks person at an election rally" if s.excluded_prompt else "sks person walking on a beach"
    return gate.UseRequest(str(license.id), s.medium, prompt, likeness_model_id=model_id, job_ref=job_ref), license


class _Rollback(Exception):
    pass


def _assert_gate_follows_the_rules(scenario: Scenario, personas, django_user_model) -> bool:  # type: ignore[no-untyped-def]
    """Build the scenario in a transaction that is rolled back, ask the gate at every stage."""
    expected = rules_allow(scenario)
    try:
        with transaction.atomic():
            use, _ = _build(scenario, personas, django_user_model)
            decisions = [gate.check(use=use, stage=stage, actor="system:test", subject="render:property")
                         for stage in (gate.Stage.REQUEST, gate.Stage.CLAIM, gate.Stage.STEP)]
            decisions.append(gate.check_locked(use=use, stage=gate.Stage.PUBLISH, actor="system:test",
                                               subject="render:property"))
            for decision in decisions:
                assert decision.allowed == expected, (scenario, decision)
                assert decision.allowed or decision.reason is not None
            raise _Rollback
    except _Rollback:
        pass
    return expected


SINGLE_CHANGES = [(capacity, name, value) for capacity in sorted(VALID) for name, values in DOMAINS.items()
                  for value in values if value != {**COMMON, **VALID[capacity]}[name]]


def test_every_single_change_from_a_valid_use(personas, django_user_model):
    """From a valid use of each capacity, every fact changed alone: the gate and the rules agree."""
    outcomes = {}
    for capacity, name, value in SINGLE_CHANGES:
        scenario = Scenario(**{**COMMON, **VALID[capacity], name: value})
        outcomes[(capacity, name, value)] = _assert_gate_follows_the_rules(scenario, personas, django_user_model)
    assert all(_assert_gate_follows_the_rules(Scenario(**COMMON, **VALID[c]), personas, django_user_model)
               for c in VALID), "each valid use is allowed"
    assert sum(outcomes.values()) < len(outcomes) / 2, "most single changes must be refused"


@settings(max_examples=250, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(scenario=scenarios())
def test_the_gate_allows_exactly_what_the_rules_allow(personas, django_user_model, scenario):
    event("allowed" if _assert_gate_follows_the_rules(scenario, personas, django_user_model) else "refused")
