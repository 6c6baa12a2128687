"""The verification desk, part 2: what a studio vouched for waits for the desk."""

from django.db import migrations

MIGRATION_ACTOR = "system:migration"
UNCONFIRMED_NOTE = ("Approved by a studio's legal staff on {day} (user {user}), before the platform's verification desk "
                    "decided identities. It counts again once two verifiers confirm it.")
SUSPENSION_NOTE = ("No verified representation is on file: the guardian or the estate that signed was named by the "
                   "studio. The representative asks the verification desk to verify their authority, signs again "
                   "under it (an amendment), and the license can then be resumed.")


def move_to_the_verification_desk(apps, schema_editor):
    """Identity approvals a studio made wait for the desk; licenses record who signed each
    side; executed licenses of minors and estates signed by a studio-named representative
    are suspended (never deleted). Every change is audited."""
    from django.core.files.storage import default_storage
    from django.db import transaction
    from django.utils import timezone

    from audit.services import audit_append  # the audit tables are final by now (dependency below)

    IdentityVerification = apps.get_model("consent", "IdentityVerification")
    LikenessLicense = apps.get_model("consent", "LikenessLicense")
    LicenseSuspension = apps.get_model("consent", "LicenseSuspension")
    now = timezone.now()
    for verification in IdentityVerification.objects.filter(status="approved"):
        verification.decision_note = UNCONFIRMED_NOTE.format(
            day=verification.decided_at.date().isoformat() if verification.decided_at else "an earlier date",
            user=verification.decided_by_id)
        verification.status, verification.decided_by, verification.decided_at = "pending", None, None
        verification.save(update_fields=["status", "decision_note", "decided_by", "decided_at"])
        audit_append(action="identity.verification_unconfirmed", actor=MIGRATION_ACTOR,
                     subject=f"talent:{verification.talent_id}", data={"verification": str(verification.id)})
    for license in LikenessLicense.objects.all():
        roles = dict(license.signatures.values_list("role", "signer_id"))
        talent_side = next((roles[r] for r in ("talent", "guardian", "estate") if r in roles), None)
        license.signed_by_id = talent_side
        license.countersigned_by_id = roles.get("licensee") if roles.get("licensee") != talent_side else None
        license.save(update_fields=["signed_by", "countersigned_by"])
        if license.authority_document_name:
            name = license.authority_document_name
            transaction.on_commit(lambda name=name: default_storage.delete(name))
        if license.capacity in ("minor", "deceased") and license.status == "countersigned":
            license.status, license.status_changed_at = "suspended", now
            license.save(update_fields=["status", "status_changed_at"])
            LicenseSuspension.objects.create(license=license, reason="representation", note=SUSPENSION_NOTE)
            audit_append(action="license.suspended", actor=MIGRATION_ACTOR, subject=f"license:{license.id}",
                         data={"reason": "representation"})


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0003_seal_after_commit"),
        ("consent", "0004_verification_desk"),
    ]

    operations = [
        migrations.RunPython(move_to_the_verification_desk, migrations.RunPython.noop),
    ]
