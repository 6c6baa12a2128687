"""Run the portal and a worker (with the reaper's schedule) on the embedded default, with the dev
PKI's time-stamping authority unless BESPOKE_TSA_URL names another."""

import os
import re
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.runserver import naiveip_re

from bespoke.management.dev_tsa import dev_time_stamping

# An address that listens on every interface is reached, on this machine, through the loopback one.
_EVERY_INTERFACE = {"": "127.0.0.1", "0": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def served_public_url(addrport: str) -> str:
    """The portal's address as a browser on this machine reaches it, from runserver's ADDR:PORT."""
    match = re.match(naiveip_re, addrport)
    if match is None:
        raise CommandError(f'"{addrport}" is not a valid port number or address:port pair.')
    address, port = match.group("addr") or "", match.group("port")
    return f"http://{_EVERY_INTERFACE.get(address, address)}:{port}"


class Command(BaseCommand):
    help = ("Start the portal (Django's server) and one Celery worker with its beat schedule, and the dev "
            "time-stamping authority unless BESPOKE_TSA_URL names one.")

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: object, **options: object) -> None:
        served = served_public_url(str(options["addrport"]))
        if not os.environ.get("BESPOKE_PUBLIC_URL"):
            # Invitation links and manifests' consent status URLs name the address served here, unless
            # BESPOKE_PUBLIC_URL says otherwise; the worker, started below, inherits it.
            os.environ["BESPOKE_PUBLIC_URL"] = served
            settings.BESPOKE_PUBLIC_URL = served
        call_command("bootstrap")
        with dev_time_stamping() as tsa_url:
            if tsa_url:
                self.stdout.write(f"time-stamping authority (dev PKI) on {tsa_url}")
            worker = subprocess.Popen([
                sys.executable, "-m", "celery", "-A", "bespoke", "worker", "--beat", "--queues", "gpu,default",
                "--concurrency", "1", "--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            ])
            self.stdout.write(f"worker started (pid {worker.pid}); portal on {served}/")
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
