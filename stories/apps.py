from django.apps import AppConfig


def _stop_playthroughs(**kwargs: object) -> list[str]:
    from stories.play import playthroughs_stop_for_license

    return playthroughs_stop_for_license(**kwargs)  # type: ignore[arg-type]


class StoriesConfig(AppConfig):
    name = "stories"
    verbose_name = "Stories"

    def ready(self) -> None:
        from consent.signals import license_revoked

        license_revoked.connect(_stop_playthroughs, dispatch_uid="stories.stop_on_revocation")
