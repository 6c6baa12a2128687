from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from bespoke.backup import BackupFailed, backup_create


class Command(BaseCommand):
    help = ("Back up the database (pg_dump -Fc, or SQLite's online backup) and every object of the default "
            "storage into a new folder, with a manifest of SHA-256s. Written to DIR.partial, renamed to DIR when "
            "complete. The audit checkpoints and the destroyed-key ledger stay where they are, outside the backup.")

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--out", required=True, type=Path, help="a new folder for the backup")

    def handle(self, *args: object, **options: object) -> None:
        try:
            result = backup_create(out=options["out"])
        except (BackupFailed, OSError, DatabaseError) as exc:
            raise CommandError(f"backup failed, nothing was kept: {exc}") from exc
        manifest = result.manifest
        audit = manifest["audit"]
        self.stdout.write(f"database: {manifest['database']['engine']}, {manifest['database']['bytes']} bytes")
        self.stdout.write(f"objects: {manifest['counts']['objects']} ({manifest['counts']['object_bytes']} bytes)")
        self.stdout.write(f"audit log through #{audit['head_seq']}; latest signed checkpoint covers "
                          f"#{audit['latest_checkpoint_tree_size'] or 0}")
        if not audit["verified"]:
            self.stderr.write("warning: the audit log did not verify when backed up: " + "; ".join(audit["problems"]))
        self.stdout.write(f"backup written to {result.directory}")
