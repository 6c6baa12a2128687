"""A benchmark's own database, made on the server DATABASE_URL names and dropped after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def throwaway_database(benchmark: str) -> Iterator[str]:
    """Django's test-database machinery, as the suite uses it: a fresh, migrated database
    (on PostgreSQL named after the benchmark and this process), its name yielded, dropped
    when the benchmark ends however it ends."""
    from django.db import connection, connections

    original_name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bespoke_bench_{benchmark}_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield connection.settings_dict["NAME"]
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(original_name, verbosity=0)


def vacuum_analyze(model: Any) -> None:
    """VACUUM (ANALYZE) a model's table on PostgreSQL (nothing elsewhere): rows written in
    bulk have no statistics and no visibility map yet, which autovacuum would have given a
    deployment's table long before, and which it would otherwise work on during a measurement."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
