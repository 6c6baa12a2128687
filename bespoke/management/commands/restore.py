from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from bespoke.backup import BackupFailed
from bespoke.restore import restore_from
from consent.key_ledger import LedgerUnavailable


class Command(BaseCommand):
    help = ("Restore a backup made by `manage.py backup` into an empty database and an empty storage (refused, "
            "changing nothing, otherwise), then erase again every talent in the destroyed-key ledger whose erasure "
            "the backup predates, record the restore in the audit log and sign a checkpoint.")

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--from", dest="source", required=True, type=Path, help="the backup folder")
        parser.add_argument("--ledger-from", default=None,
                            help="another destroyed-key ledger to re-apply as well (a folder, or s3://BUCKET) "
                                 "when the configured one moved")

    def handle(self, *args: object, **options: object) -> None:
        try:
            report = restore_from(source=options["source"], ledger_from=options["ledger_from"],
                                  say=self.stdout.write)
        except (BackupFailed, LedgerUnavailable, OSError, ValueError, DatabaseError) as exc:
            raise CommandError(f"restore refused: {exc}") from exc
        self.stdout.write(f"restored tree size: {report.restored_tree_size}")
        self.stdout.write(f"erasures re-applied from the ledger: {len(report.erasures_reapplied)}")
        verification = report.verification
        if verification is None or not verification.ok:
            problems = "; ".join(verification.problems) if verification else "not verified"
            raise CommandError(f"restored, but the audit log does not verify: {problems}", returncode=1)
        self.stdout.write(f"audit chain intact: {verification.events} events, "
                          f"{verification.checkpoints_checked} signed checkpoints match")
