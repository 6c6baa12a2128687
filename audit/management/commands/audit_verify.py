from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit hash chain. Exit 0 when intact, 1 naming the first bad sequence number."

    def handle(self, *args: object, **options: object) -> None:
        report = audit_chain_verify()
        if report.ok:
            self.stdout.write(f"audit chain intact: {report.events} events")
            return
        raise CommandError(f"audit chain broken at sequence number {report.first_bad_seq}: {report.problem}", returncode=1)
