import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_chain_rows, audit_chain_verify
from audit.services import audit_seal


class Command(BaseCommand):
    help = "Export the audit log as JSON Lines (one event per line, with its hashes)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--out", required=True, type=Path, help="file to write")

    def handle(self, *args: object, **options: object) -> None:
        out: Path = options["out"]  # type: ignore[assignment]
        if out.exists() and out.is_dir():
            raise CommandError(f"{out} is a directory")
        audit_seal()  # the export holds the chain: committed events first take their place in it
        temporary = out.with_name(out.name + ".partial")
        count = 0
        with temporary.open("w", encoding="utf-8") as handle:
            for row in audit_chain_rows():
                handle.write(json.dumps({
                    "seq": row.seq, "body": row.body, "leaf_hash": row.leaf_hash,
                    "prev_hash": row.prev_hash, "entry_hash": row.entry_hash,
                }, sort_keys=True) + "\n")
                count += 1
        temporary.replace(out)
        report = audit_chain_verify()
        state = "intact" if report.ok else f"BROKEN at {report.first_bad_seq}"
        self.stdout.write(f"wrote {count} events to {out} (chain {state})")
