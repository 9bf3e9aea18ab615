"""Settings shared by every profile. All values come from ``cdss.env.ENV``."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url

from cdss.env import BASE_DIR, ENV

DEBUG = ENV.debug
# Only the development profile supplies a fallback key; base leaves it unset so that a
# missing SECRET_KEY is reported by the cdss.E001 system check, not silently replaced.
SECRET_KEY = ENV.secret_key or ""
ALLOWED_HOSTS = ENV.allowed_hosts
CSRF_TRUSTED_ORIGINS = ENV.csrf_trusted_origins
DATA_DIR: Path = ENV.data_dir
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "cdss.core",
    "cdss.accounts",
    "cdss.audit",
    "patients",
    "imaging",
    "inference",
    "messaging",
    "consultations",
    "interop",
    "frontend",
]

MIDDLEWARE = [
    # Outermost: every answer gets a request id, and every error answer is the JSON error body
    # (or a plain page off the API), whatever raised it and whether or not DEBUG is on.
    "cdss.core.middleware.RequestIdMiddleware",
    "cdss.core.http_errors.ErrorBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "cdss.core.middleware.PatientDataNoStoreMiddleware",
    "cdss.audit.middleware.AuditRequestsMiddleware",
    "cdss.core.middleware.DatabaseUnavailableMiddleware",
    # A session opened by a SMART launch reaches the launched patient only.
    "interop.smart.middleware.EhrContextMiddleware",
]

ROOT_URLCONF = "cdss.urls"
# Django's debug page never renders, not even with DEBUG on (the demo): errors are JSON.
DEFAULT_EXCEPTION_REPORTER = "cdss.core.http_errors.QuietExceptionReporter"
CSRF_FAILURE_VIEW = "cdss.core.http_errors.csrf_failure"
ASGI_APPLICATION = "cdss.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database(url: str | None) -> dict[str, Any]:
    if url is None:
        sqlite_path = DATA_DIR / "cdss.sqlite3"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            # A file test database (one per test run) so that a real Celery worker process can share it.
            "TEST": {"NAME": str(DATA_DIR / f"test_cdss_{os.getpid()}.sqlite3")},
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if config["ENGINE"] == "django.db.backends.postgresql":
        options = config.setdefault("OPTIONS", {})
        options["connect_timeout"] = 5
        # Under ASGI every request runs its synchronous part in a thread of its own, and
        # Django's connections are per thread: a persistent connection would never be reused,
        # and every request would open a new PostgreSQL connection. A process-wide psycopg pool hands the same connections to whichever thread asks. A request waits
        # at most `timeout` seconds for one, then fails as "database unavailable" (503).
        options["pool"] = {"min_size": 1, "max_size": 10, "timeout": 5, "max_idle": 300}
        config["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
        config["CONN_HEALTH_CHECKS"] = False
    return config


DATABASES = {"default": _database(ENV.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["cdss.accounts.backends.LockoutModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
# Lock an account for LOCKOUT_MINUTES after LOCKOUT_THRESHOLD consecutive failures.
LOCKOUT_THRESHOLD = 5
LOCKOUT_MINUTES = 15
# Login attempts per minute, per account and per client address (429 with Retry-After beyond).
LOGIN_THROTTLE_PER_ACCOUNT = 10
LOGIN_THROTTLE_PER_IP = 30
# API tokens expire this long after issue (a new one is issued at the next login); a lock-out
# or a password change deletes them at once.
AUTH_TOKEN_TTL = timedelta(hours=12)

SESSION_COOKIE_AGE = 60 * 60 * 8  # one clinical shift
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_SAVE_EVERY_REQUEST = True  # idle expiry: the age restarts on each request
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'", "ws:", "wss:"],
        "worker-src": ["'self'", "blob:"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "frontend" / "dist"] if (BASE_DIR / "frontend" / "dist").is_dir() else []
# Vite names each built asset after its content (assets/name-XXXXXXXX.ext): such a file never
# changes, so browsers may keep it for a year instead of asking again on every visit.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^.*/assets/[^/]+-[0-9A-Za-z_-]{8}\.[0-9a-z]+$"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that an anonymous request gets 401 with WWW-Authenticate, not 403.
        "cdss.accounts.authentication.ExpiringTokenAuthentication",
        "cdss.accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "cdss.core.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "cdss.core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "cdss.core.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CDSS API",
    "DESCRIPTION": "Clinical decision support for liver disease, with chest and brain imaging. "
    "Results support, and do not replace, a clinician's judgement.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "cdss.core.schema.error_responses"],
}

# Audit entries of reads commit without waiting for the WAL flush (see cdss.audit.services);
# True makes them wait, like every change does.
AUDIT_READS_WAIT_FOR_FLUSH = ENV.audit_reads_wait_for_flush

REDIS_URL = ENV.redis_url
# "throttle": login counters shared by every web process (cdss.accounts.throttling).
CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cdss-throttle",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    },
}
REDIS_LAYER_READ_TIMEOUT_S = 15
# The pub/sub layer: one PUBLISH per event and one subscription per web process, which fans out
# to its local sockets in memory. The list-based RedisChannelLayer popped one Redis message per
# socket per event, which dominated latency with many sockets on one patient. Events are
# notifications only (clients re-read the state snapshot on connect), so pub/sub's
# fire-and-forget delivery loses nothing a client relies on.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # redis-py >= 8 reads with a 5 s socket timeout by default; reads get more time than
        # any blocking call of the layer, and a dead Redis still fails within the timeout.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": REDIS_LAYER_READ_TIMEOUT_S, "socket_connect_timeout": 5}],
        },
    }
}

# Celery: JSON only; a task is acknowledged after it finishes so that a killed worker's
# task is redelivered; every step is idempotent for that reason.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 15 * 60
CELERY_TASK_TIME_LIMIT = 20 * 60
# Longer than the hard time limit, so Redis never redelivers a task that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": ENV.broker_visibility_timeout_s}
# Real queue names are the logical ones plus this suffix (cdss.core.queues.queue_name).
CDSS_QUEUE_SUFFIX = ""
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CDSS_QUEUES: tuple[str, ...] = ("default", "gpu")

DICOMWEB_URL = ENV.dicomweb_url
DICOMWEB_CREDENTIALS_FILE = DATA_DIR / "orthanc" / "credentials.json"


def dicomweb_credentials_read(path: Path) -> tuple[str | None, str | None]:
    if ENV.dicomweb_username:
        return ENV.dicomweb_username, ENV.dicomweb_password
    # The project's own Orthanc script writes a generated credential here (mode 0600).
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, None
    return stored.get("username"), stored.get("password")


DICOMWEB_USERNAME, DICOMWEB_PASSWORD = dicomweb_credentials_read(DICOMWEB_CREDENTIALS_FILE)
DICOMWEB_TIMEOUT_S = 30
# Largest request body the DICOMweb proxy forwards (STOW goes through the upload API).
DICOMWEB_PROXY_MAX_BODY = 1024 * 1024
READINESS_TIMEOUT_S = 2.0
REQUEST_STUCK_AFTER = timedelta(minutes=30)

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cdss.core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- inference ---
ANALYSIS_NOOP_MODEL_ENABLED = False
ANALYSIS_HEARTBEAT_S = 10.0
# A dispatched or running step with no heartbeat for this long is presumed lost and re-driven.
ANALYSIS_STEP_STALE_S = ENV.analysis_step_stale_s
ANALYSIS_MAX_ATTEMPTS = 5
# Nothing hangs for ever: a request still unfinished after this fails with deadline_exceeded.
ANALYSIS_DEADLINE_S = 60 * 60
ANALYSIS_SWEEP_EVERY_S = ENV.analysis_sweep_every_s
# Model keys each worker process loads at start (the liver network's export for ONNX Runtime
# alone takes several seconds); none by default, so short-lived test workers start at once.
WORKER_WARM_MODELS: list[str] = ENV.worker_warm_models
# When a signed report reaches the patient: "held" (a clinician releases it) or "on_sign".
REPORT_RELEASE_POLICY = ENV.report_release_policy
# STUN/TURN servers handed to the consult room's browsers (WEBRTC_ICE_SERVERS, cdss.E008).
WEBRTC_ICE_SERVERS = ENV.webrtc_ice_servers
# Scores use the latest stored value of each input within this window.
SCORES_LOOKBACK_DAYS = 90
CELERY_BEAT_SCHEDULE = {
    "analysis-sweep": {"task": "inference.analysis_sweep", "schedule": ANALYSIS_SWEEP_EVERY_S, "options": {"queue": "default"}},
    # Signed reports whose DICOM SR is still owed to the PACS (inference.reports.tasks).
    "report-sr-sweep": {"task": "inference.report_sr_sweep", "schedule": 120.0, "options": {"queue": "default"}},
}

# --- patients ---
# Patient.status shares its field name with other "status" enums in the schema (the report's);
# naming both explicitly keeps `spectacular --fail-on-warn` and `check --deploy` clean.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(  # type: ignore[attr-defined]
    {"PatientStatusEnum": "patients.models.PatientStatus", "ReportStatusEnum": "inference.models.ReportStatus",
     "FindingDecisionStatusEnum": "inference.models.FindingDecisionStatus"}
)

# --- imaging ---
# Uploads (POST /api/v1/patients/{id}/imaging/upload/ and manage.py import_dicom) stream to
# temporary files; nothing holds a whole upload in memory.
IMAGING_UPLOAD_MAX_BYTES = 4 * 1024**3  # one request body
IMAGING_UPLOAD_MAX_EXPANDED_BYTES = 8 * 1024**3  # everything extracted from archives in one upload
IMAGING_UPLOAD_MAX_FILES = 5000
IMAGING_FILE_MAX_BYTES = 1024**3  # one DICOM file
IMAGING_STOW_BATCH_BYTES = 32 * 1024**2  # one STOW-RS request to the PACS
# A folder of DICOM files is one upload of many parts (Django's default allows 100).
DATA_UPLOAD_MAX_NUMBER_FILES = IMAGING_UPLOAD_MAX_FILES
# Requests from Django to the PACS (sync, upload, import): dicomweb-client would retry a failure
# 5 times with back-off (about 30 s); a person is usually waiting.
DICOMWEB_MAX_ATTEMPTS = 2
DICOMWEB_RETRY_WAIT_MS = 250
# The DICOMweb proxy (/dicomweb/): its own pool of keep-alive connections to the PACS.
DICOMWEB_PROXY_MAX_CONNECTIONS = 64
DICOMWEB_PROXY_CONNECT_TIMEOUT_S = 5.0
DICOMWEB_PROXY_QIDO_MAX_BYTES = 32 * 1024**2  # QIDO answers are read whole to filter them
# The proxy remembers a positive access decision (credential + study) this long, so a viewer's
# hundreds of frame requests cost one database check; a revoked right ends within this time.
# 0 checks the database on every request.
DICOMWEB_PROXY_ACCESS_CACHE_S = 5.0
# A viewer's reads of one series (metadata, then every frame) are audited once per view: the
# first read, and again only after this long (per user and web process). Denials are always
# written, each on its own.
DICOMWEB_AUDIT_SERIES_VIEW_S = 300.0
# The proxy keeps whole pixel answers (frames, bulk data, rendered images; each at most 4 MiB)
# of immutable SOP instances in memory, per process, so a viewer scrolling back through a series
# is not relayed from the PACS again (imaging/dicomweb/frame_cache.py). Every read is still
# access-checked and audited. The age bounds how long an instance deleted in the PACS behind
# the application's back is still shown. 0 for either turns the cache off.
DICOMWEB_PROXY_FRAME_CACHE_S = 600.0
DICOMWEB_PROXY_FRAME_CACHE_MB = ENV.dicomweb_frame_cache_mb
# Absolute URL prefixes the PACS may write into answers (BulkDataURI, RetrieveURL) besides
# DICOMWEB_URL itself; the proxy rewrites all of them to its own /dicomweb/ URLs.
DICOMWEB_ADVERTISED_URLS: list[str] = []
# Keep UIDs and DICOM values out of the application log: dicomweb-client and httpx log every
# PACS URL at INFO, pydicom logs odd values it reads (names, IDs), highdicom its every step.
LOGGING["loggers"]["dicomweb_client"] = {"level": "WARNING"}
LOGGING["loggers"]["httpx"] = {"level": "WARNING"}
LOGGING["loggers"]["pydicom"] = {"level": "ERROR"}
LOGGING["loggers"]["highdicom"] = {"level": "WARNING"}

# Interoperability (interop/, docs/INTEROP.md): outbound calls to an EHR's FHIR server and
# authorization server time out fast, so a hook answers within its budget or says why not.
INTEROP_EHR_TIMEOUT_S = 5.0
INTEROP_CDS_REQUIRE_JWT = True
INTEROP_FHIR_TOKEN_TTL = timedelta(hours=1)
