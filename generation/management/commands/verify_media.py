import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from generation.tracing import media_verify
from provenance.c2pa_io import MediaReadError

EXIT_TRUSTED, EXIT_NOT_TRUSTED, EXIT_NO_MANIFEST, EXIT_UNREADABLE = 0, 1, 2, 3


class Command(BaseCommand):
    help = ("Check files' C2PA manifests (validity, trust) and the current status of the consent behind them. "
            "A video or PNG/JPEG still without a trusted manifest is traced to its output through the invisible watermark. "
            "Exit 0: trusted; 1: invalid or untrusted manifest; 2: no manifest; 3: unreadable file "
            "(with several files, the worst of them).")

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--json", action="store_true",
                            help="print the report as JSON (for several files, a list of reports naming their files)")

    def handle(self, *args: object, **options: object) -> None:
        paths: list[Path] = options["files"]  # type: ignore[assignment]
        if len(paths) == 1:
            self._one(paths[0], as_json=bool(options["json"]))
            return
        worst, reports = EXIT_TRUSTED, []
        for path in paths:
            try:
                code, report = _checked(path)
            except CommandError as error:
                self.stderr.write(str(error))
                code, report = EXIT_UNREADABLE, {"file": str(path), "error": str(error)}
            else:
                if not options["json"]:
                    self._print_human(path, report)
                report = {"file": str(path), **report}
            reports.append(report)
            worst = max(worst, code)
        if options["json"]:
            self.stdout.write(json.dumps(reports, indent=2, sort_keys=True))
        if worst != EXIT_TRUSTED:
            raise SystemExit(worst)

    def _one(self, path: Path, *, as_json: bool) -> None:
        code, report = _checked(path)
        if as_json:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
        else:
            self._print_human(path, report)
        if code != EXIT_TRUSTED:
            raise SystemExit(code)

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
        elif manifest["state"] != "trusted":
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
        stamp = manifest.get("time_stamp")
        if stamp:
            self.stdout.write(f"  time-stamp: {stamp['time']} by {stamp['authority']} ({stamp['state']})")
        else:
            self.stdout.write("  time-stamp: none")


def _checked(path: Path) -> tuple[int, dict]:
    """(exit status, report) for one file; CommandError (status 3) when it cannot be read."""
    if not path.is_file():
        raise CommandError(f"{path}: no such file", returncode=EXIT_UNREADABLE)
    try:
        verification = media_verify(path=path)
    except MediaReadError as exc:
        raise CommandError(f"{path}: cannot be read as media: {exc}", returncode=EXIT_UNREADABLE) from exc
    manifest = verification.manifest
    if manifest.state == "no_manifest":
        code = EXIT_NO_MANIFEST
    else:
        code = EXIT_TRUSTED if manifest.is_trusted else EXIT_NOT_TRUSTED
    return code, verification.as_dict()
