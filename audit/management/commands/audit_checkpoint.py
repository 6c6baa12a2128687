from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.checkpoint_store import CheckpointStoreError
from audit.checkpoints import CheckpointRefused, audit_checkpoint_write


class Command(BaseCommand):
    help = "Sign a Merkle checkpoint of the audit log now (nothing is written when no event was added since the last)."

    def handle(self, *args: object, **options: object) -> None:
        try:
            written = audit_checkpoint_write()
        except (ImproperlyConfigured, CheckpointRefused, CheckpointStoreError) as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if written is None:
            self.stdout.write("no new audit events since the last checkpoint: nothing written")
            return
        checkpoint = written.checkpoint
        self.stdout.write(f"checkpoint {written.location} signed: events #1-#{checkpoint.tree_size}, "
                          f"root {checkpoint.root_hash} ({written.events_read} events read)")
