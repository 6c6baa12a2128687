from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation"

    def ready(self) -> None:
        from consent.signals import license_revoked
        from generation.services.render import render_jobs_cancel_for_license

        license_revoked.connect(render_jobs_cancel_for_license, dispatch_uid="generation.cancel_on_revocation")
