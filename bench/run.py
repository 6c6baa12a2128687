#!/usr/bin/env python
"""Run one benchmark: `python bench/run.py NAME`.

Each benchmark runs against a throwaway data folder (SQLite, filesystem broker, the tiny
model, a dev CA) unless BESPOKE_DATA_DIR is set, prints a readable table and, as its last
line, one JSON object with the figures.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("generation", "watermark", "mutation", "audit", "exclusions", "verify", "story", "signing", "scoping",
              "gate", "load", "gpu")
MODULES = {"verify": "verify_hostile"}  # benchmark name -> module in bench/, where they differ


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in BENCHMARKS:
        print(f"usage: python bench/run.py {{{'|'.join(BENCHMARKS)}}}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("BESPOKE_DATA_DIR", tempfile.mkdtemp(prefix="bespoke-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bespoke.settings")
    os.environ.setdefault("BESPOKE_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    benchmark = importlib.import_module(f"bench.{MODULES.get(argv[0], argv[0])}")
    if getattr(benchmark, "BOOTSTRAP", True):  # the mutation benchmark makes its own test database
        call_command("bootstrap", verbosity=0, stdout=open(os.devnull, "w"))
    results = benchmark.run()
    width = max(len(name) for name in results)
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
