"""One lock order (DESIGN invariant 8): the helper refuses a lock against it, publication
takes the license row before the job row, and no lock is held while the file is stored."""

from __future__ import annotations

import threading
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import audit_append, audit_seal
from core.locking import LockOrderError, Rank, claim, highest_rank, in_transaction, lock_rows
from consent import gate
from consent.models import LicenseUse, LikenessLicense
from generation.models import RenderJob, RenderOutput
from generation.services.leases import locked_job
from tests.publishing import publish, running_job, signed_clip


def _use(job: RenderJob) -> gate.UseRequest:
    return gate.UseRequest(license_id=str(job.license_id), medium=job.medium, prompt=job.prompt, job_ref=str(job.id))


def _stored_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT) / "renders"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.mark.django_db
def test_a_license_locked_after_a_job_is_refused(personas, active_license):
    job = running_job(license_id=str(active_license.id), producer=personas.bob)
    with pytest.raises(LockOrderError, match="license rows locked after job rows"), transaction.atomic():
        locked_job(RenderJob, job.pk)
        gate.check_locked(use=_use(job), stage=gate.Stage.PUBLISH, actor="system:worker", subject=job.audit_subject)
    with pytest.raises(LockOrderError), transaction.atomic():
        claim(Rank.JOB)
        claim(Rank.TALENT)


@pytest.mark.django_db
def test_a_license_already_held_may_be_locked_again_after_a_job(personas, active_license):
    job = running_job(license_id=str(active_license.id), producer=personas.bob)
    with transaction.atomic():
        decision = gate.check_locked(use=_use(job), stage=gate.Stage.PUBLISH, actor="system:worker",
                                     subject=job.audit_subject)
        locked_job(RenderJob, job.pk)
        again = gate.check_locked(use=_use(job), stage=gate.Stage.PUBLISH, actor="system:worker",
                                  subject=job.audit_subject)
        assert highest_rank() == Rank.JOB
    assert decision.allowed and again.allowed


@transaction.atomic
def _lock_a_job() -> Rank | None:
    claim(Rank.JOB)
    return highest_rank()


@pytest.mark.django_db
def test_each_transaction_starts_its_own_order():
    """A decorated function reuses one atomic block object: its calls are still separate transactions."""
    assert _lock_a_job() == Rank.JOB
    with transaction.atomic():
        claim(Rank.LICENSE)
        assert highest_rank() == Rank.LICENSE
    assert highest_rank() is None and not in_transaction()


@pytest.mark.django_db(transaction=True)
def test_each_committed_transaction_starts_its_own_order():
    for _ in range(2):
        assert _lock_a_job() == Rank.JOB
        with transaction.atomic():
            claim(Rank.LICENSE)


@pytest.mark.django_db
def test_rows_of_one_kind_are_locked_in_primary_key_order(personas):
    from tests.conftest import make_license

    licenses = [make_license(personas) for _ in range(3)]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        locked = lock_rows(LikenessLicense.objects.select_for_update().filter(pk__in=[l.pk for l in licenses]),
                           Rank.LICENSE)
    assert [license.pk for license in locked] == sorted(license.pk for license in licenses)
    sql = next(query["sql"] for query in queries.captured_queries if "consent_likenesslicense" in query["sql"])
    assert "ORDER BY" in sql
    assert "FOR UPDATE" in sql or not connection.features.has_select_for_update


def test_lock_rows_wants_a_locking_queryset():
    with pytest.raises(LockOrderError, match="select_for_update"):
        lock_rows(LikenessLicense.objects.all(), Rank.LICENSE)


def _locked_models(call) -> list[type]:  # type: ignore[no-untyped-def]
    """The models whose rows a call locks, in order: through the ORM, or through the gate's
    compiled locking statement."""
    seen: list[type] = []
    original = SQLCompiler.execute_sql
    gate_lock = gate._lock_license_row

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.query.select_for_update:
            seen.append(self.query.model)
        return original(self, *args, **kwargs)

    def gate_spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(LikenessLicense)
        return gate_lock(*args, **kwargs)

    with mock.patch.object(SQLCompiler, "execute_sql", spy), mock.patch.object(gate, "_lock_license_row", gate_spy):
        call()
    return seen


@pytest.mark.django_db
def test_publication_locks_the_license_row_before_the_job_row(personas, active_license, settings):
    job = running_job(license_id=str(active_license.id), producer=personas.bob)
    clip = signed_clip(Path(settings.MEDIA_ROOT).parent / "clip", license_id=str(active_license.id))
    settings.BESPOKE_AUDIT_SEAL_AT_APPEND = False  # as in production: the audit head is the seal's, after commit
    locked = _locked_models(lambda: publish(job, clip))
    assert locked == [LikenessLicense, RenderJob]
    assert RenderOutput.objects.filter(job=job).exists()


@pytest.mark.django_db(transaction=True)
def test_publication_stores_the_file_before_its_transaction_and_holds_no_lock_meanwhile(personas, active_license,
                                                                                        settings, monkeypatch):
    """While the file is stored, another connection appends and seals an audit event."""
    job = running_job(license_id=str(active_license.id), producer=personas.bob)
    clip = signed_clip(Path(settings.MEDIA_ROOT).parent / "clip", license_id=str(active_license.id))
    real_save = default_storage.save
    during_save: dict[str, object] = {}

    def save_and_look(name, content, *args, **kwargs):  # type: ignore[no-untyped-def]
        during_save["in_transaction"] = connection.in_atomic_block

        def other_writer() -> None:
            try:
                with transaction.atomic():
                    audit_append(action="test.during_upload", actor="system:test", subject="thing:1")
                during_save["sealed"] = AuditEvent.objects.get(action="test.during_upload").seq is not None
            finally:
                connection.close()

        writer = threading.Thread(target=other_writer)
        writer.start()
        writer.join(timeout=20)
        during_save["other_writer_done"] = not writer.is_alive()
        return real_save(name, content, *args, **kwargs)

    monkeypatch.setattr(default_storage, "save", save_and_look)
    output = publish(job, clip)
    assert output is not None
    assert during_save == {"in_transaction": False, "sealed": True, "other_writer_done": True}
    assert audit_seal() == 0 and not AuditEvent.objects.filter(seq__isnull=True).exists()


@pytest.mark.django_db
def test_a_publication_that_fails_in_its_transaction_leaves_no_file(personas, active_license, settings, monkeypatch):
    job = running_job(license_id=str(active_license.id), producer=personas.bob)
    clip = signed_clip(Path(settings.MEDIA_ROOT).parent / "clip", license_id=str(active_license.id))

    def broken_create(**fields):  # type: ignore[no-untyped-def]
        assert _stored_files(settings), "the file is stored before the output row is written"
        raise RuntimeError("the database went away")

    monkeypatch.setattr(RenderOutput.objects, "create", broken_create)
    with pytest.raises(RuntimeError, match="went away"):
        publish(job, clip)
    assert not _stored_files(settings) and not LicenseUse.objects.exists()
    job.refresh_from_db()
    assert job.status == RenderJob.Status.RUNNING
