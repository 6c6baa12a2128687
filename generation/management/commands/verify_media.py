import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from generation.tracing import media_verify
from provenance.c2pa_io import MediaReadError

EXIT_TRUSTED, EXIT_NOT_TRUSTED, EXIT_NO_MANIFEST = 0, 1, 2


class Command(BaseCommand):
    help = ("Check a file's C2PA manifest (validity, trust) and the current status of the consent behind it. "
            "A video without a trusted manifest is traced to its output through the invisible watermark. "
            "Exit 0: trusted; 1: invalid or untrusted manifest; 2: no manifest; 3: unreadable file.")

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("file", type=Path)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: object, **options: object) -> None:
        path: Path = options["file"]  # type: ignore[assignment]
        if not path.is_file():
            raise CommandError(f"{path}: no such file", returncode=3)
        try:
            verification = media_verify(path=path)
        except MediaReadError as exc:
            raise CommandError(f"{path}: cannot be read as media: {exc}", returncode=3) from exc
        report = verification.as_dict()
        manifest = verification.manifest
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
        else:
            self._print_human(path, report)
        if manifest.state == "no_manifest":
            raise SystemExit(EXIT_NO_MANIFEST)
        if not manifest.is_trusted:
            raise SystemExit(EXIT_NOT_TRUSTED)

    def _print_human(self, path: Path, report: dict) -> None:
        manifest = report["manifest"]
        if manifest["state"] == "no_manifest":
            self.stdout.write(f"{path}: no C2PA manifest")
        else:
            self.stdout.write(f"{path}: manifest {manifest['state']}")
            self._print_manifest(manifest)
        trace = report["trace"]
        if trace:
            self.stdout.write(f"  traced by its invisible watermark {trace['watermark_id']} "
                              f"(confidence {trace['confidence']}) to output {trace['output_id']} of render {trace['render_id']}")
            self.stdout.write(f"  original manifest: {trace['manifest_label']}, published {trace['published_at']}, "
                              f"license {trace['license_id']}")
            label = (trace["disclosure"] or {}).get("visible_label")
            if label:
                self.stdout.write(f"  visible disclosure: {label}")
        elif manifest["state"] != "trusted" and path.suffix.lower() == ".mp4":
            self.stdout.write("  no Bespoke watermark found")
        consent = report["consent"]
        if consent:
            self._print_consent("  ", consent)
        self._print_ingredients(report["ingredients"])

    def _print_consent(self, indent: str, consent: dict) -> None:
        since = f" since {consent['since']}" if consent.get("since") else ""
        self.stdout.write(f"{indent}consent: license {consent['license_id']} is {consent['state']}{since}")

    def _print_ingredients(self, ingredients: list[dict]) -> None:
        for number, ingredient in enumerate(ingredients, start=1):
            chosen = f', after the choice "{ingredient["choice"]}"' if ingredient.get("choice") else ""
            self.stdout.write(f"  ingredient {number}: {ingredient['title']} ({ingredient['relationship']}{chosen}), "
                              f"manifest {ingredient['manifest_label']} {ingredient['state']}")
            if ingredient.get("watermark_id") is not None:
                self.stdout.write(f"    watermark id: {ingredient['watermark_id']}")
            for status in ingredient["consent_status"]:
                self._print_consent("    ", status)

    def _print_manifest(self, manifest: dict) -> None:
        if manifest["failures"]:
            self.stdout.write(f"  failures: {', '.join(manifest['failures'])}")
        for key in ("manifest_label", "signer", "signed_at", "output_id", "digital_source_type"):
            if manifest.get(key):
                self.stdout.write(f"  {key.replace('_', ' ')}: {manifest[key]}")
        if manifest.get("disclosure"):
            self.stdout.write(f"  visible disclosure: {manifest['disclosure']}")
        if manifest.get("watermark_id") is not None:
            self.stdout.write(f"  watermark id: {manifest['watermark_id']}")
