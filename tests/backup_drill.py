"""The restore drill, shared by its SQLite form and its PostgreSQL + SeaweedFS form.

In this test's database and storage: a published render, and a second talent with a
sealed reference photo. Back up; then erase that talent and sign a checkpoint (after the
backup, so it covers events the backup lacks). Restore in a child process into a fresh
database and a fresh storage, and check there what people rely on: the audit log
verifies against its checkpoints, every output verifies as trusted, and the erased
talent's data cannot be unsealed, because the restore re-applied the ledger.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from audit.checkpoints import audit_checkpoint_write
from audit.services import audit_seal
from bespoke.synthetic_faces import synthetic_face_photos
from consent import services as consent
from tests.conftest import make_license
from tests.publishing import publish, running_job, signed_clip

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class World:
    output_id: str
    output_name: str
    output_sha256: str
    erased_talent_id: str
    erased_photo_name: str
    erased_photo_ref: str
    erased_photo_sealed: bytes


def make_world(personas, django_user_model, work: Path) -> World:  # type: ignore[no-untyped-def]
    for option in ("data_folder_in", "data_folder_out", "control_folder"):  # the embedded broker's folders
        folder = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get(option)
        if folder and str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
            Path(folder).mkdir(parents=True, exist_ok=True)
    license = make_license(personas)
    output = publish(running_job(license_id=str(license.id), producer=personas.bob),
                     signed_clip(work / "clip", license_id=str(license.id)))
    assert output is not None, "the render was not published"
    theo = django_user_model.objects.create_user(username="theo", password="pw-theotheotheo")
    talent = consent.talent_enrol(user=theo, display_name="Theo Tran", acting_user=theo)
    photo = consent.reference_photo_add(talent=talent, data=synthetic_face_photos(1)[0], filename="theo.jpg",
                                        acting_user=theo)
    with default_storage.open(photo.stored_name, "rb") as handle:
        sealed = handle.read()
    audit_seal()
    assert audit_checkpoint_write() is not None
    return World(output_id=str(output.id), output_name=output.file.name, output_sha256=output.sha256,
                 erased_talent_id=str(talent.id), erased_photo_name=photo.stored_name,
                 erased_photo_ref=photo.object_ref, erased_photo_sealed=sealed)


def erase_after_backup(world: World) -> None:
    """The talent erases their data after the backup; a checkpoint then covers that erasure."""
    from consent.models import Talent

    talent = Talent.objects.select_related("user").get(pk=world.erased_talent_id)
    consent.talent_erase(talent=talent, acting_user=talent.user)
    audit_seal()
    assert audit_checkpoint_write() is not None


def deployment_environment(**variables: str) -> dict[str, str]:
    """A child process of the restored deployment: this test's keys, its own database and storage."""
    keep = {name: value for name, value in os.environ.items()
            if not name.startswith(("BESPOKE_", "DATABASE_URL", "DJANGO_SETTINGS"))}
    return {**keep, "DJANGO_SETTINGS_MODULE": "bespoke.settings",
            "BESPOKE_MASTER_KEY": settings.BESPOKE_MASTER_KEY,
            "BESPOKE_WATERMARK_KEY": settings.BESPOKE_WATERMARK_KEY.decode("utf-8"),
            "BESPOKE_PKI_DIR": str(settings.BESPOKE_PKI_DIR),
            "BESPOKE_AUDIT_CHECKPOINT_KEY": str(settings.BESPOKE_AUDIT_CHECKPOINT_KEY),
            "BESPOKE_PUBLIC_URL": settings.BESPOKE_PUBLIC_URL,
            "BESPOKE_PRELOAD_MODEL": "0", **variables}


def manage(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *arguments], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


# Run in the restored deployment: what a person could still get out of it.
_INSPECT = """
import json
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from audit.models import AuditEvent
from consent import keys
from consent.models import ReferencePhoto, TalentKey
from generation.models import RenderOutput
world = json.loads(WORLD)
try:
    keys.unseal(talent_id=world["talent"], object_ref=world["ref"], sealed=bytes.fromhex(world["sealed"]))
    unsealed = "opened"
except keys.KeyDestroyed:
    unsealed = "key destroyed"
except keys.DecryptionFailed as error:
    unsealed = f"refused: {error}"
try:
    with transaction.atomic():
        AuditEvent.objects.filter(seq=1).delete()
    guard = "deleted"
except DatabaseError as error:
    guard = str(error)
output = RenderOutput.objects.get(pk=world["output"])
with default_storage.open(output.file.name, "rb") as handle:
    content = handle.read()
with open(world["copy"], "wb") as handle:
    handle.write(content)
print(json.dumps({
    "unsealed": unsealed, "audit_guard": guard,
    "photo_object_kept": default_storage.exists(world["photo"]),
    "live_photos": ReferencePhoto.objects.filter(talent_id=world["talent"], deleted_at__isnull=True).count(),
    "key_wrapped": TalentKey.objects.filter(talent_id=world["talent"], wrapped_key__isnull=False).exists(),
    "actions": list(AuditEvent.objects.filter(action__in=["audit.restored", "restore.erasure_reapplied"])
                    .order_by("seq").values_list("action", flat=True)),
}))
"""


def inspect_restored(environment: dict[str, str], world: World, copy: Path) -> dict:
    script = "WORLD = " + repr(json.dumps({
        "talent": world.erased_talent_id, "ref": world.erased_photo_ref, "sealed": world.erased_photo_sealed.hex(),
        "photo": world.erased_photo_name, "output": world.output_id, "copy": str(copy)})) + _INSPECT
    result = manage(environment, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_restored(environment: dict[str, str], world: World, work: Path) -> None:
    """What the restored deployment must show after a successful restore."""
    verified = manage(environment, "audit_verify", "--full")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout
    found = inspect_restored(environment, world, work / "restored-output.mp4")
    assert hashlib.sha256((work / "restored-output.mp4").read_bytes()).hexdigest() == world.output_sha256
    media = manage(environment, "verify_media", "--json", str(work / "restored-output.mp4"))
    assert media.returncode == 0, media.stdout + media.stderr
    assert json.loads(media.stdout)["manifest"]["state"] == "trusted"
    assert found["unsealed"] == "key destroyed", found
    assert not found["key_wrapped"] and found["live_photos"] == 0 and not found["photo_object_kept"], found
    assert "append-only" in found["audit_guard"], found
    assert found["actions"] == ["restore.erasure_reapplied", "audit.restored"], found
