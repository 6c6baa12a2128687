from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.checkpoints import audit_log_verify
from audit.services import audit_seal

MAX_PROBLEMS_SHOWN = 10


class Command(BaseCommand):
    help = ("Verify the audit hash chain and its signed checkpoints. Exit 0 when intact, 1 naming the first bad "
            "sequence number or the checkpoint the log no longer matches. By default the walk starts at the latest "
            "signed checkpoint the log still matches; --full walks every event.")

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--full", action="store_true",
                            help="walk every event from the first, recomputing each checkpoint's Merkle root")

    def handle(self, *args: object, **options: object) -> None:
        try:
            audit_seal()  # committed events whose seal never ran; what stays unsealed is reported below
        except DatabaseError as exc:
            self.stderr.write(f"warning: the pending audit events could not be sealed: {exc}")
        result = audit_log_verify(full=bool(options["full"]))
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        if result.ok:
            self.stdout.write(f"audit chain intact: {result.events} events")
            if result.checked_from:
                walked = (f"events #{result.checked_from + 1}-#{result.head_seq}" if result.head_seq > result.checked_from
                          else "no events")
                self.stdout.write(f"{walked} walked from the signed checkpoint at #{result.checked_from}; "
                                  "--full walks every event")
            if result.latest_checkpoint_seq is not None:
                self.stdout.write(f"{result.checkpoints_checked} signed checkpoints match; the latest covers "
                                  f"#{result.latest_checkpoint_seq}, signed {result.latest_checkpoint_at.isoformat()}")
            return
        lines = list(result.problems[:MAX_PROBLEMS_SHOWN])
        if len(result.problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"... and {len(result.problems) - MAX_PROBLEMS_SHOWN} more")
        raise CommandError("\n".join(lines), returncode=1)
