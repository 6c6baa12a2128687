"""Moving an existing database to the verification desk: what a studio had vouched for
waits for the desk, and licenses a studio-named representative signed are suspended,
never deleted; every change is audited."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("consent", "0003_talent_invited_by")]
AFTER = [("consent", "0006_verification_desk_constraints")]


def _migrate(targets):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_the_desk():  # type: ignore[no-untyped-def]
    """The schema as it was before the desk; the latest schema again afterwards, whatever happens."""
    yield _migrate(BEFORE)
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_sends_studio_decisions_to_the_desk_and_suspends_unverified_representatives(before_the_desk):
    apps = before_the_desk
    User = apps.get_model("auth", "User")
    Organization = apps.get_model("consent", "Organization")
    Talent = apps.get_model("consent", "Talent")
    IdentityVerification = apps.get_model("consent", "IdentityVerification")
    LikenessLicense = apps.get_model("consent", "LikenessLicense")
    SignatureEvent = apps.get_model("consent", "SignatureEvent")
    dana, alice, guardian = (User.objects.create(username=n) for n in ("dana", "alice", "guardian"))
    studio = Organization.objects.create(name="Northlight Studios")
    talent = Talent.objects.create(user=alice, display_name="Alice Avery")
    verification = IdentityVerification.objects.create(talent=talent, method="in_person", status="approved",
                                                       requested_by=alice, decided_by=dana,
                                                       decided_at=timezone.now(), challenge_code="ABC123")
    today = timezone.localdate()
    common = dict(talent=talent, licensee=studio, project="P", role="R", use_description="d" * 40,
                  starts_on=today, ends_on=today + timedelta(days=30), max_renders=1, compensation_basis="flat",
                  compensation_rate=0, compensation_currency="EUR", text="t", text_sha256="0" * 64, drafted_by=dana,
                  status="countersigned")
    minor = LikenessLicense.objects.create(capacity="minor", talent_birth_date=date(2015, 6, 1),
                                           representative=dana, **common)
    adult = LikenessLicense.objects.create(capacity="adult", **common)
    now = timezone.now()
    for license, signer in ((minor, dana), (adult, alice)):
        for role, user in ((("guardian" if license == minor else "talent"), signer), ("licensee", dana)):
            SignatureEvent.objects.create(license=license, role=role, signer=user, signed_at=now,
                                          authentication_method="mfa", disclosure_version="v",
                                          disclosure_accepted_at=now, document_sha256="0" * 64, intent="i")

    apps = _migrate(AFTER)
    IdentityVerification = apps.get_model("consent", "IdentityVerification")
    LikenessLicense = apps.get_model("consent", "LikenessLicense")
    LicenseSuspension = apps.get_model("consent", "LicenseSuspension")
    migrated = IdentityVerification.objects.get(pk=verification.pk)
    assert migrated.status == "pending" and migrated.decided_by_id is None
    assert "two verifiers must confirm" in migrated.decision_note or "two verifiers confirm" in migrated.decision_note
    minor_after, adult_after = LikenessLicense.objects.get(pk=minor.pk), LikenessLicense.objects.get(pk=adult.pk)
    assert minor_after.status == "suspended"
    suspension = LicenseSuspension.objects.get(license_id=minor.pk)
    assert suspension.reason == "representation" and suspension.suspended_by_id is None and suspension.note
    assert minor_after.countersigned_by_id is None, "the one user who signed both sides is not recorded twice"
    assert adult_after.status == "countersigned"
    assert (adult_after.signed_by_id, adult_after.countersigned_by_id) == (alice.pk, dana.pk)
    assert LikenessLicense.objects.count() == 2

    from audit.models import AuditEvent

    actions = set(AuditEvent.objects.filter(actor="system:migration").values_list("action", flat=True))
    assert actions == {"identity.verification_unconfirmed", "license.suspended"}
    from django.core.management import call_command

    call_command("audit_verify")  # the chain the migration extended is intact (exit 0)
