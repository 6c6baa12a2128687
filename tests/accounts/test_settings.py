"""Production keeps login rate limits in a shared cache (SEC-5): Redis, or the process does not start."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHOW_CACHE = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"


def _settings_in_production(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BESPOKE_", "DJANGO_", "DATABASE_URL", "CELERY_"))}
    env.update(BESPOKE_DATA_DIR=str(tmp_path), BESPOKE_MODE="production", DJANGO_ALLOWED_HOSTS="bespoke.example",
               DJANGO_SECRET_KEY="k" * 20 + "s3cr3t-v4lu3-th4t-is-l0ng-3n0ugh-!x7Qz",
               BESPOKE_MASTER_KEY=base64.b64encode(bytes(range(32))).decode(), BESPOKE_WATERMARK_KEY="w" * 64,
               BESPOKE_TSA_URL="https://tsa.bespoke.example/", DJANGO_SETTINGS_MODULE="bespoke.settings")
    env.update(extra)
    return subprocess.run([sys.executable, "-c", SHOW_CACHE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_production_requires_a_redis_cache(tmp_path):
    missing = _settings_in_production(tmp_path)
    assert missing.returncode != 0 and "BESPOKE_CACHE_URL" in missing.stderr
    wrong = _settings_in_production(tmp_path, BESPOKE_CACHE_URL="memcached://cache:11211")
    assert wrong.returncode != 0 and "redis://" in wrong.stderr
    redis = _settings_in_production(tmp_path, BESPOKE_CACHE_URL="rediss://cache.bespoke.example:6380/0")
    assert redis.stdout.strip() == "django.core.cache.backends.redis.RedisCache", redis.stderr


def test_production_requires_the_watermark_key(tmp_path):
    missing = _settings_in_production(tmp_path, BESPOKE_CACHE_URL="redis://cache:6379/0", BESPOKE_WATERMARK_KEY="")
    assert missing.returncode != 0 and "BESPOKE_WATERMARK_KEY" in missing.stderr
    short = _settings_in_production(tmp_path, BESPOKE_CACHE_URL="redis://cache:6379/0", BESPOKE_WATERMARK_KEY="short")
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
