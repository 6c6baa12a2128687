from django.apps import AppConfig


class BespokeConfig(AppConfig):
    name = "bespoke"
    verbose_name = "Bespoke"
