"""The dev PKI's time-stamping authority for the commands that sign on the embedded default
(`serve` and its worker, `demo`), unless BESPOKE_TSA_URL names an authority already."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from django.conf import settings
from django.core.management.base import CommandError

from provenance.tsa import TimeStampAuthorityError, running_dev_tsa


@contextmanager
def dev_time_stamping() -> Iterator[str | None]:
    """While the block runs, every manifest this process (and the processes it starts) signs is
    time-stamped by the dev PKI's authority, served here: its URL is yielded, None when one is
    configured. It is required, as a real one is in production, so a failure to time-stamp
    fails the signing instead of going unnoticed."""
    if settings.BESPOKE_TSA_URL:
        yield None
        return
    with ExitStack() as stack:
        try:
            server = stack.enter_context(running_dev_tsa(settings.BESPOKE_PKI_DIR))
        except (TimeStampAuthorityError, OSError) as exc:
            raise CommandError(f"cannot start the dev time-stamping authority: {exc}") from exc
        saved = {name: os.environ.get(name) for name in ("BESPOKE_TSA_URL", "BESPOKE_TSA_REQUIRED")}
        required = settings.BESPOKE_TSA_REQUIRED
        os.environ["BESPOKE_TSA_URL"] = settings.BESPOKE_TSA_URL = server.url
        os.environ["BESPOKE_TSA_REQUIRED"] = "1"
        settings.BESPOKE_TSA_REQUIRED = True
        try:
            yield server.url
        finally:
            settings.BESPOKE_TSA_URL, settings.BESPOKE_TSA_REQUIRED = None, required
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
