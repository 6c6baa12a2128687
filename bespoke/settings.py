"""Bespoke settings, read from the environment.

With nothing set, Bespoke runs on the embedded default: SQLite in WAL mode, Celery over
kombu's filesystem transport, local media storage, the tiny offline model and a dev
signing CA, all under BESPOKE_DATA_DIR (./var). BESPOKE_MODE=production turns on the
deployment hardening and requires the secrets and hosts to be given explicitly.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from bespoke.env import env_bool, env_choice, env_int, env_list, env_str
from core.secure_files import create_private_dir, create_private_sqlite_database, read_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent

BESPOKE_MODE = env_choice("BESPOKE_MODE", "development", ("development", "production"))
PRODUCTION = BESPOKE_MODE == "production"
DATA_DIR = Path(env_str("BESPOKE_DATA_DIR") or BASE_DIR / "var").resolve()
# Owner-only (0700); a folder made by an older version is tightened at every start.
if not PRODUCTION or DATA_DIR.is_dir():
    create_private_dir(DATA_DIR)


def _development_secret(name: str, make: Callable[[], str]) -> str:
    """A secret kept in a file of the data dir, created on first use (development only)."""
    return read_or_create_secret(DATA_DIR / name, lambda: make().encode("utf-8")).decode("utf-8").strip()


def _secret_key() -> str:
    key = env_str("DJANGO_SECRET_KEY")
    if key:
        if PRODUCTION and (len(key) < 50 or len(set(key)) < 5):
            raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters of real randomness")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is required in production")
    return _development_secret("secret_key", lambda: secrets.token_urlsafe(64))


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG cannot be on in production")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", () if PRODUCTION else ("localhost", "127.0.0.1", "[::1]", "testserver"))
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required in production")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # its templates, under the project's (FORM_RENDERER)
    "core",
    "bespoke",
    "audit",
    "consent",
    "generation",
    "provenance",
    "stories",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The product's 404 and 500 pages in development too (Django shows its technical ones under DEBUG).
    "bespoke.error_pages.ProductErrorPagesMiddleware",
]

ROOT_URLCONF = "bespoke.urls"
WSGI_APPLICATION = "bespoke.wsgi.application"
ASGI_APPLICATION = "bespoke.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.viewer_signup",
            ],
            "builtins": ["core.templatetags.submit_once"],
        },
    },
]
# Each form field in one block: label, help, its own errors (named by aria-describedby), control.
FORM_RENDERER = "bespoke.form_rendering.PortalFormRenderer"


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        create_private_sqlite_database(DATA_DIR / "bespoke.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "bespoke.sqlite3",
            # The portal and the worker write one file: WAL, immediate write locks and a
            # busy timeout keep them from meeting "database is locked".
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not shared-cache memory: browser tests run the portal and a worker in
            # threads, and only a file database gives them WAL and the busy timeout.
            "TEST": {"NAME": str(DATA_DIR / "test-bespoke.sqlite3")},
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
    if config.get("ENGINE") not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL")
    if config["ENGINE"] == "django.db.backends.postgresql" and not config.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL must name a database")
    if config["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
        # The ORM binds on the client and never prepares; the consent gate's read, run on every
        # check, is prepared on its connection from its third run (consent.gate._cursor).
        # Off for a pooler in transaction mode that cannot keep prepared statements.
        config.setdefault("OPTIONS", {})["prepare_threshold"] = 2
    if config["ENGINE"] == "django.db.backends.sqlite3" and config.get("NAME") not in (None, "", ":memory:"):
        create_private_sqlite_database(Path(config["NAME"]))
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("BESPOKE_MEDIA_ROOT") or DATA_DIR / "media")
# Every file (outputs, thumbnails, sealed photos, evidence and likeness models, story cuts)
# goes through the "default" storage: this host's MEDIA_ROOT by default, an S3-compatible
# object store shared by every host when BESPOKE_S3_BUCKET is set (README, "Running on
# several hosts"). Credentials: BESPOKE_S3_ACCESS_KEY_ID/_SECRET_ACCESS_KEY, else boto3's
# own chain (AWS_* variables, an instance or pod role).
BESPOKE_S3_BUCKET = env_str("BESPOKE_S3_BUCKET") or None
BESPOKE_S3_ENDPOINT_URL = env_str("BESPOKE_S3_ENDPOINT_URL") or None
BESPOKE_S3_REGION = env_str("BESPOKE_S3_REGION") or "us-east-1"
# Downloads are answered with a short-lived pre-signed URL of the object (the bytes never
# pass through Python) unless the store cannot serve them to browsers (off).
BESPOKE_S3_PRESIGNED_DOWNLOADS = env_bool("BESPOKE_S3_PRESIGNED_DOWNLOADS", True)
BESPOKE_S3_URL_EXPIRE_SECONDS = env_int("BESPOKE_S3_URL_EXPIRE_SECONDS", 300, minimum=10, maximum=3600)
# With the local filesystem behind a proxy (nginx): downloads hand the file to it with
# X-Accel-Redirect under this internal prefix (README, "Running on several hosts").
BESPOKE_DOWNLOAD_ACCEL_PREFIX = env_str("BESPOKE_DOWNLOAD_ACCEL_PREFIX") or ""
# Signed audit checkpoints: their own versioned bucket (or a prefix of the media bucket).
BESPOKE_S3_CHECKPOINT_BUCKET = env_str("BESPOKE_S3_CHECKPOINT_BUCKET") or BESPOKE_S3_BUCKET


def s3_storage_options(*, bucket: str, location: str = "") -> dict[str, object]:
    """django-storages' S3Storage options for one bucket of the configured store."""
    return {
        "bucket_name": bucket,
        "location": location,
        "endpoint_url": BESPOKE_S3_ENDPOINT_URL,
        "region_name": BESPOKE_S3_REGION,
        "access_key": env_str("BESPOKE_S3_ACCESS_KEY_ID") or None,
        "secret_key": env_str("BESPOKE_S3_SECRET_ACCESS_KEY") or None,
        "signature_version": "s3v4",
        "addressing_style": "path" if BESPOKE_S3_ENDPOINT_URL else "auto",
        "default_acl": None,  # private objects; the bucket policy decides
        "file_overwrite": False,  # a name already taken gets a fresh one, never replaced
        "querystring_auth": True,
        "querystring_expire": BESPOKE_S3_URL_EXPIRE_SECONDS,
        # an object opened for reading spools to a temporary file past this size, not all to memory
        "max_memory_size": 8 * 1024 * 1024,
    }


if BESPOKE_S3_BUCKET:
    STORAGES = {
        "default": {"BACKEND": "storages.backends.s3.S3Storage",
                    "OPTIONS": s3_storage_options(bucket=BESPOKE_S3_BUCKET)},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

# --- Bespoke -------------------------------------------------------------------------
BESPOKE_PUBLIC_URL = (env_str("BESPOKE_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
# Which kind of video model renders (generation.pipeline.families). "animatediff-sd15": BESPOKE_MODEL_BASE is
# an SD 1.5 base and BESPOKE_MOTION_ADAPTER its motion adapter. "wan" (Wan 2.1/2.2): BESPOKE_MODEL_BASE is a
# WanPipeline folder and BESPOKE_MODEL_IMAGE_TO_VIDEO, optional, a WanImageToVideoPipeline folder. With no
# paths set, the family's tiny offline model (which bootstrap builds) is used.
MODEL_FAMILIES = ("animatediff-sd15", "wan")
BESPOKE_MODEL_FAMILY = env_choice("BESPOKE_MODEL_FAMILY", "animatediff-sd15", MODEL_FAMILIES)
_WAN = BESPOKE_MODEL_FAMILY == "wan"
_TINY_MODEL = DATA_DIR / "models" / ("tiny-wan" if _WAN else "tiny")
BESPOKE_MODEL_BASE = Path(env_str("BESPOKE_MODEL_BASE") or _TINY_MODEL / ("t2v" if _WAN else "base"))
BESPOKE_MOTION_ADAPTER = Path(env_str("BESPOKE_MOTION_ADAPTER") or DATA_DIR / "models" / "tiny" / "motion_adapter")
_IMAGE_TO_VIDEO = env_str("BESPOKE_MODEL_IMAGE_TO_VIDEO")
BESPOKE_MODEL_IMAGE_TO_VIDEO: Path | None = (
    Path(_IMAGE_TO_VIDEO) if _IMAGE_TO_VIDEO
    else _TINY_MODEL / "i2v" if _WAN and not env_str("BESPOKE_MODEL_BASE") else None)
if BESPOKE_MODEL_IMAGE_TO_VIDEO is not None and not _WAN:
    raise ImproperlyConfigured("BESPOKE_MODEL_IMAGE_TO_VIDEO needs BESPOKE_MODEL_FAMILY=wan: the "
                               f"{BESPOKE_MODEL_FAMILY} family renders from text only")
# A single-file (.safetensors) base needs a config folder; bootstrap writes the SD 1.5 one here.
BESPOKE_MODEL_CONFIG = Path(env_str("BESPOKE_MODEL_CONFIG") or DATA_DIR / "models" / "sd15-config")
BESPOKE_PRELOAD_MODEL = env_bool("BESPOKE_PRELOAD_MODEL", True)
BESPOKE_DEVICE = env_choice("BESPOKE_DEVICE", "auto", ("auto", "cpu", "cuda"))
BESPOKE_TORCH_THREADS = env_int("BESPOKE_TORCH_THREADS", 0, minimum=0)
# torch.compile the denoiser's repeated blocks when the model loads; the first render (and each adapter change)
# pays for the compilation.
BESPOKE_COMPILE = env_bool("BESPOKE_COMPILE", False)
BESPOKE_PKI_DIR = Path(env_str("BESPOKE_PKI_DIR") or DATA_DIR / "pki")
# Who signs manifests: "module:factory" returning a provenance.signing.ManifestSigner
# (the local PEM key of BESPOKE_PKI_DIR by default; a KMS/HSM callback signer in production).
BESPOKE_SIGNER = env_str("BESPOKE_SIGNER") or "provenance.services:dev_pki_signer"
# RFC 3161: every manifest is time-stamped. Production names a real authority here; `serve` and
# the test run serve the dev PKI's own (provenance.tsa) and set it. Outside production an
# unreachable authority means an output signed without a time-stamp (its record says so) unless
# BESPOKE_TSA_REQUIRED makes that a failure, as it is in production.
BESPOKE_TSA_URL = env_str("BESPOKE_TSA_URL") or None
BESPOKE_TSA_REQUIRED = env_bool("BESPOKE_TSA_REQUIRED", PRODUCTION)
if PRODUCTION and not BESPOKE_TSA_URL:
    raise ImproperlyConfigured("BESPOKE_TSA_URL (an RFC 3161 time-stamping authority) is required in production")
# Per client address and minute, on the public verify page and status endpoints (core.ratelimit:
# django-ratelimit's counters in the default cache, which production requires to be shared).
BESPOKE_VERIFY_UPLOADS_PER_MINUTE = env_int("BESPOKE_VERIFY_UPLOADS_PER_MINUTE", 20, minimum=1)
BESPOKE_STATUS_REQUESTS_PER_MINUTE = env_int("BESPOKE_STATUS_REQUESTS_PER_MINUTE", 120, minimum=1)
# The work one uploaded file may cost: decoded pixels (all frames together) and wall-clock time.
BESPOKE_VERIFY_MAX_PIXELS = env_int("BESPOKE_VERIFY_MAX_PIXELS", 150_000_000, minimum=1_000_000)
BESPOKE_VERIFY_MILLISECONDS = env_int("BESPOKE_VERIFY_MILLISECONDS", 1500, minimum=100)
if BESPOKE_TSA_REQUIRED and not BESPOKE_TSA_URL:
    raise ImproperlyConfigured("BESPOKE_TSA_REQUIRED needs BESPOKE_TSA_URL")

BESPOKE_RENDER_LEASE_SECONDS = env_int("BESPOKE_RENDER_LEASE_SECONDS", 120, minimum=2)
BESPOKE_RENDER_MAX_ATTEMPTS = env_int("BESPOKE_RENDER_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
BESPOKE_TRAINING_MAX_ATTEMPTS = env_int("BESPOKE_TRAINING_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
BESPOKE_RENDER_TIME_LIMIT_SECONDS = env_int("BESPOKE_RENDER_TIME_LIMIT_SECONDS", 3600, minimum=60)
BESPOKE_GATE_CHECK_EVERY_STEPS = env_int("BESPOKE_GATE_CHECK_EVERY_STEPS", 3, minimum=1)
BESPOKE_REAPER_INTERVAL_SECONDS = env_int("BESPOKE_REAPER_INTERVAL_SECONDS", 30, minimum=1)
BESPOKE_REQUEUE_QUEUED_AFTER_SECONDS = env_int("BESPOKE_REQUEUE_QUEUED_AFTER_SECONDS", 300, minimum=1)
# The output screen (generation.output_screen): frame detectors, by dotted path, run on
# sampled frames of every render whose license excludes a category they cover.
BESPOKE_OUTPUT_DETECTORS = env_list("BESPOKE_OUTPUT_DETECTORS", ("generation.output_screen.NudeNetDetector",))
BESPOKE_OUTPUT_SCREEN_FRAMES = env_int("BESPOKE_OUTPUT_SCREEN_FRAMES", 8, minimum=2, maximum=64)


def _nudity_threshold() -> float:
    value = env_str("BESPOKE_NUDITY_THRESHOLD") or "0.5"
    try:
        threshold = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"BESPOKE_NUDITY_THRESHOLD={value!r} is not a number") from None
    if not 0.2 <= threshold <= 1.0:  # NudeNet itself drops detections scored below 0.2
        raise ImproperlyConfigured(f"BESPOKE_NUDITY_THRESHOLD={threshold} must be between 0.2 and 1")
    return threshold


BESPOKE_NUDITY_THRESHOLD = _nudity_threshold()
# Signed Merkle checkpoints of the audit log: the key and the checkpoints live outside the database.
BESPOKE_AUDIT_CHECKPOINT_KEY = Path(env_str("BESPOKE_AUDIT_CHECKPOINT_KEY") or DATA_DIR / "keys" / "audit-checkpoint.key")
_audit_public_key = env_str("BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY")  # verify with this one when set
BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY = Path(_audit_public_key) if _audit_public_key else None
BESPOKE_AUDIT_CHECKPOINT_DIR = Path(env_str("BESPOKE_AUDIT_CHECKPOINT_DIR") or DATA_DIR / "audit-checkpoints")
BESPOKE_AUDIT_CHECKPOINT_INTERVAL_SECONDS = env_int("BESPOKE_AUDIT_CHECKPOINT_INTERVAL_SECONDS", 300, minimum=1)
BESPOKE_AUDIT_VERIFY_INTERVAL_SECONDS = env_int("BESPOKE_AUDIT_VERIFY_INTERVAL_SECONDS", 3600, minimum=1)

# --- Celery (invariant 3: the job row is the truth; the broker only carries ids) ------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://localhost//"
if not CELERY_BROKER_URL.startswith(("filesystem://", "redis://", "rediss://", "amqp://", "amqps://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must be filesystem://, redis://, rediss://, amqp:// or amqps://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "messages"),
        "data_folder_out": str(_broker_dir / "messages"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # An idle worker looks for new messages this often (kombu's default is 1 s): a viewer
        # waits on it for every scene not rendered ahead. Listing one small folder is cheap.
        "polling_interval": 0.1,
    }
    # The filesystem transport keeps one first-in, first-out folder per queue and ignores
    # priorities: on the embedded default a prefetched scene simply waits its turn.
    BESPOKE_JOB_PRIORITIES = {"normal": 0, "speculative": 0}
else:
    # Redis redelivers an unacknowledged message after the visibility timeout: it must
    # outlast the longest render, or a running job would be handed to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * BESPOKE_RENDER_TIME_LIMIT_SECONDS}
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        # kombu's Redis transport keeps one list per priority step and reads them in
        # ascending order: 0 is served first, the opposite of RabbitMQ's numbers.
        CELERY_BROKER_TRANSPORT_OPTIONS |= {"queue_order_strategy": "priority", "priority_steps": [0, 3, 6, 9]}
        BESPOKE_JOB_PRIORITIES = {"normal": 0, "speculative": 6}
    else:
        # RabbitMQ serves the highest number first, in queues declared with x-max-priority
        # (a queue declared before without it must be deleted once: RabbitMQ refuses to redeclare it).
        CELERY_TASK_QUEUE_MAX_PRIORITY = 9
        BESPOKE_JOB_PRIORITIES = {"normal": 5, "speculative": 2}
# Jobs are sent at these broker numbers (generation.queue.Priority); other tasks at normal.
CELERY_TASK_DEFAULT_PRIORITY = BESPOKE_JOB_PRIORITIES["normal"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = BESPOKE_RENDER_TIME_LIMIT_SECONDS
CELERY_TASK_SOFT_TIME_LIMIT = BESPOKE_RENDER_TIME_LIMIT_SECONDS - 30
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"generation.tasks.render_job_run": {"queue": "gpu"}, "generation.tasks.training_job_run": {"queue": "gpu"}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A lost broker connection does not stop a running job (Celery 6 would cancel it): the job
# row's lease, not the message, says who runs it, so the render goes on and publishes once;
# a message the broker lost with it is sent again by the reaper (jobs_reap).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A pool process loads the model before it reports for work (bespoke.celery); Celery kills a
# new one (replacing a crashed or killed process) that is silent longer than this, so with its
# 4 s default a worker whose model takes longer to load would never serve again.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = float(env_int("BESPOKE_WORKER_START_SECONDS", 600, minimum=4))
CELERY_BEAT_SCHEDULE = {
    "jobs-reap": {
        "task": "generation.tasks.jobs_reap",
        "schedule": float(BESPOKE_REAPER_INTERVAL_SECONDS),
        "options": {"expires": float(BESPOKE_REAPER_INTERVAL_SECONDS)},
    },
    "likeness-models-sweep": {
        "task": "consent.tasks.likeness_models_sweep",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # Nightly at 00:05 (UTC: TIME_ZONE, by which licenses_expire counts days): record the expiry
    # of licenses that ended yesterday. A run no worker took within the day is dropped, not stacked.
    "licenses-expire": {
        "task": "consent.tasks.licenses_expire",
        "schedule": crontab(minute=5, hour=0),
        "options": {"expires": 23 * 3600.0},
    },
    "audit-checkpoint": {
        "task": "audit.tasks.audit_checkpoint",
        "schedule": float(BESPOKE_AUDIT_CHECKPOINT_INTERVAL_SECONDS),
        "options": {"expires": float(BESPOKE_AUDIT_CHECKPOINT_INTERVAL_SECONDS)},
    },
    "audit-verify": {
        "task": "audit.tasks.audit_verify",
        "schedule": float(BESPOKE_AUDIT_VERIFY_INTERVAL_SECONDS),
        "options": {"expires": float(BESPOKE_AUDIT_VERIFY_INTERVAL_SECONDS)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice("BESPOKE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))},
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Likeness data (invariant 4) --------------------------------------------------------
# Per-talent data keys are wrapped by a key provider; the local provider uses a 32-byte
# master key (base64). A KMS-backed provider can replace it by dotted path.
BESPOKE_KEY_PROVIDER = env_str("BESPOKE_KEY_PROVIDER") or "consent.keys.LocalMasterKeyProvider"


def _master_key() -> str:
    key = env_str("BESPOKE_MASTER_KEY")
    if key:
        return key
    if PRODUCTION:
        if BESPOKE_KEY_PROVIDER == "consent.keys.LocalMasterKeyProvider":
            raise ImproperlyConfigured("BESPOKE_MASTER_KEY (or BESPOKE_MASTER_KEY_FILE) is required in production")
        return ""
    return _development_secret("master_key", lambda: base64.b64encode(secrets.token_bytes(32)).decode("ascii"))


BESPOKE_MASTER_KEY = _master_key()


def _watermark_key() -> bytes:
    """The secret that seeds the invisible watermark; without it no output can be traced."""
    key = env_str("BESPOKE_WATERMARK_KEY")
    if not key:
        if PRODUCTION:
            raise ImproperlyConfigured("BESPOKE_WATERMARK_KEY (or BESPOKE_WATERMARK_KEY_FILE) is required in production")
        key = _development_secret("watermark_key", lambda: secrets.token_hex(32))
    if len(key) < 32:
        raise ImproperlyConfigured("BESPOKE_WATERMARK_KEY must be at least 32 characters")
    return key.encode("utf-8")


BESPOKE_WATERMARK_KEY = _watermark_key()
BESPOKE_PHOTO_MAX_BYTES = env_int("BESPOKE_PHOTO_MAX_BYTES", 15 * 1024 * 1024, minimum=1024)
BESPOKE_PHOTO_MAX_PIXELS = env_int("BESPOKE_PHOTO_MAX_PIXELS", 40_000_000, minimum=4096)
BESPOKE_PHOTO_MIN_SIDE = env_int("BESPOKE_PHOTO_MIN_SIDE", 128, minimum=16)
# Reference photos are kept this large (square), or at the training resolution if larger: large enough
# for the face check of a viewer; training scales them to its resolution.
BESPOKE_PHOTO_STORED_SIDE = env_int("BESPOKE_PHOTO_STORED_SIDE", 256, minimum=64, maximum=2048)
BESPOKE_EVIDENCE_MAX_BYTES = env_int("BESPOKE_EVIDENCE_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
BESPOKE_EVIDENCE_MAX_SECONDS = env_int("BESPOKE_EVIDENCE_MAX_SECONDS", 60, minimum=1)
BESPOKE_TRAINING_RESOLUTION = env_int("BESPOKE_TRAINING_RESOLUTION", 64, minimum=64, maximum=1024)
if _WAN and BESPOKE_TRAINING_RESOLUTION % 16:
    raise ImproperlyConfigured("BESPOKE_TRAINING_RESOLUTION must be a multiple of 16 pixels for the wan family")
BESPOKE_TRAINING_MIN_PHOTOS = env_int("BESPOKE_TRAINING_MIN_PHOTOS", 4, minimum=1)
BESPOKE_TRAINING_CHECK_SECONDS = env_int("BESPOKE_TRAINING_CHECK_SECONDS", 2, minimum=1)
BESPOKE_PROGRESS_WRITE_SECONDS = env_int("BESPOKE_PROGRESS_WRITE_SECONDS", 1, minimum=1)

# --- Licenses ---------------------------------------------------------------------------
BESPOKE_LICENSE_MAX_YEARS = env_int("BESPOKE_LICENSE_MAX_YEARS", 10, minimum=1, maximum=50)
# Every scene of a story renders at one size and rate, so the scenes of a path join into one cut
# without re-encoding; a scene's length comes from its ``# seconds:`` tag. The defaults suit the
# tiny model on a CPU (a viewer waits for the first scene); a GPU deployment raises them.
BESPOKE_STORY_SCENE_PARAMS = {
    "width": env_int("BESPOKE_STORY_WIDTH", 128, minimum=128, maximum=1024),
    "height": env_int("BESPOKE_STORY_HEIGHT", 128, minimum=128, maximum=1024),
    "steps": env_int("BESPOKE_STORY_STEPS", 6, minimum=1, maximum=100),
    "fps": env_int("BESPOKE_STORY_FPS", 8, minimum=1, maximum=60),
}
# A viewer's consent to star in stories lasts this many days unless revoked sooner.
BESPOKE_VIEWER_CONSENT_DAYS = env_int("BESPOKE_VIEWER_CONSENT_DAYS", 30, minimum=1, maximum=366)

# --- Accounts: allauth sign-in, verified email, MFA, login rate limits -------------------
INSTALLED_APPS += ["accounts", "allauth", "allauth.account", "allauth.mfa"]
MIDDLEWARE += ["allauth.account.middleware.AccountMiddleware", "accounts.middleware.MFARequiredMiddleware"]
# Last, so that it sees the signed-in user and the messages: a form sent twice does its work once.
MIDDLEWARE += ["core.submit_once.SubmitOnceMiddleware"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
# Sign-up (/accounts/signup/) makes viewers only: these fields, then consent.viewers.viewer_register.
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.viewer_signup.ViewerSignupForm"
BESPOKE_VIEWER_SIGNUP = env_bool("BESPOKE_VIEWER_SIGNUP", True)
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# Only in the browser that signed up (allauth checks the pending sign-up in its session).
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Bespoke] "
# allauth's defaults, written out so that loosening one is a visible change. The counters
# live in the default cache, which is why production requires a shared one (below).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    # Failed sign-ins: 5 per account in 5 minutes, then 20 a minute per address across accounts.
    # The account's limit comes first: allauth stops at the first limit reached, so the attempts
    # of a locked account no longer count against the address and one person's typos do not
    # lock out colleagues behind the same address (an office, a NAT).
    "login_failed": "5/300s/key,20/m/ip",
    "reauthenticate": "10/m/user",
    "reset_password": "20/m/ip,5/m/key",
    "signup": "20/m/ip",
}
# Behind N reverse proxies the client is the Nth address from the right of X-Forwarded-For;
# without it every client shares the proxy's per-IP login limit.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("BESPOKE_TRUSTED_PROXY_COUNT", 0, minimum=0)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_ADAPTER = "accounts.adapter.BespokeMFAAdapter"
ACCOUNT_ADAPTER = "accounts.adapter.BespokeAccountAdapter"  # sign-up for viewers only, the rest by invitation
MFA_TOTP_ISSUER = "Bespoke"
# How long an invitation link (sent by legal staff, see accounts.invitations) stays usable.
BESPOKE_INVITATION_DAYS = env_int("BESPOKE_INVITATION_DAYS", 7, minimum=1, maximum=90)


def _caches() -> dict:
    url = env_str("BESPOKE_CACHE_URL")
    if not url:
        if PRODUCTION:
            raise ImproperlyConfigured("BESPOKE_CACHE_URL (redis://...) is required in production: login rate limits "
                                       "and one-time-code reuse checks must be shared by every process")
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if not url.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured("BESPOKE_CACHE_URL must be a redis:// or rediss:// URL")
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                        "KEY_PREFIX": "bespoke"}}


CACHES = _caches()

DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL") or "Bespoke <no-reply@localhost>"
if PRODUCTION:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("DJANGO_EMAIL_HOST") or "localhost"
    EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 587, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER") or ""
    EMAIL_HOST_PASSWORD = env_str("DJANGO_EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("DJANGO_EMAIL_USE_SSL", False)
    if EMAIL_USE_TLS and EMAIL_USE_SSL:
        raise ImproperlyConfigured("DJANGO_EMAIL_USE_TLS and DJANGO_EMAIL_USE_SSL cannot both be on")
    EMAIL_TIMEOUT = env_int("DJANGO_EMAIL_TIMEOUT", 10, minimum=1)
else:
    # Verification and notification mails are files (one per message) in the data dir, where
    # a newcomer and a browser test against a running portal can both read the links.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"

# --- REST API ---------------------------------------------------------------------------
INSTALLED_APPS += ["rest_framework", "rest_framework.authtoken", "drf_spectacular"]
REST_FRAMEWORK = {
    # Token first: an anonymous request is answered 401 with a WWW-Authenticate challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "bespoke.api.permissions.MFAEnrolled"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bespoke API",
    "DESCRIPTION": "Consent, likeness licenses, renders and provenance. Every error body is "
                   '{"code", "message", "field", "errors"}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.schema.document_errors"],
    "ENUM_NAME_OVERRIDES": {
        "LicenseStatusEnum": "consent.models.LikenessLicense.Status",
        "VerificationStatusEnum": "consent.models.IdentityVerification.Status",
        "JobStatusEnum": "generation.models.JobStatus",
        "InvitationStatusEnum": "accounts.models.Invitation.Status",
        "InvitationKindEnum": "accounts.models.Invitation.Kind",
        "EvidenceKindEnum": "consent.models.IdentityEvidence.Kind",
        "InvitationRoleEnum": "accounts.models.ROLE_CHOICES",
        "SignatureRoleEnum": "consent.models.SignatureEvent.Role",
        "RepresentationKindEnum": "consent.models.Representation.Kind",
        "RepresentationStatusEnum": "consent.models.Representation.Status",
        "RepresentationEvidenceKindEnum": "consent.models.RepresentationEvidence.Kind",
        "StoryStatusEnum": "stories.models.Story.Status",
    },
}
