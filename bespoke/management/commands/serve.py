"""Run the portal and a worker (with the reaper's schedule) on the embedded default."""

import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the portal (Django's server) and one Celery worker with its beat schedule."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: object, **options: object) -> None:
        call_command("bootstrap")
        worker = subprocess.Popen([
            sys.executable, "-m", "celery", "-A", "bespoke", "worker", "--beat", "--queues", "gpu,default",
            "--concurrency", "1", "--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ])
        self.stdout.write(f"worker started (pid {worker.pid}); portal on http://{options['addrport']}/")
        if getattr(settings, "EMAIL_FILE_PATH", None):
            self.stdout.write(f"mail (sign-up confirmation links too) is written as files in "
                              f"{settings.EMAIL_FILE_PATH}")
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
