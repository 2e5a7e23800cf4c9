"""Settings shared by every environment. Values come from the environment (12-factor).

Nothing secret has a default here: ``local.py`` and ``test.py`` set development values,
``production.py`` refuses to start without the real ones (docs/deploy.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import overload

import dj_database_url
import sentry_sdk
from dj_database_url import DBConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


@overload
def env(name: str, default: str) -> str: ...
@overload
def env(name: str, default: None = None) -> str | None: ...
def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Web processes (config/wsgi.py sets TALLY_PROCESS=web before the settings load) give every
# statement and every lock wait a bound, so that one slow query or one held row lock cannot
# pile up every gunicorn thread; workers, beat and commands (the nightly close, migrations)
# are not bounded this way (docs/decisions/0025-operability.md).
WEB_STATEMENT_TIMEOUT_MS = env_int("TALLY_WEB_STATEMENT_TIMEOUT_MS", 30_000)
WEB_LOCK_TIMEOUT_MS = env_int("TALLY_WEB_LOCK_TIMEOUT_MS", 10_000)


# DATABASE_POOLER=transaction: DATABASE_URL names a transaction-mode pooler (PgBouncer), which
# hands each transaction whichever server connection is free, so nothing may live in a session
# between transactions (docs/decisions/0038-past-one-machine.md, docs/deploy.md).
DATABASE_POOLERS = ("", "none", "transaction")


def database_pooler() -> str:
    value = (env("DATABASE_POOLER") or "").strip().lower()
    if value not in DATABASE_POOLERS:
        raise ImproperlyConfigured(f"DATABASE_POOLER={value!r}: expected 'transaction' or 'none' (unset)")
    return "" if value == "none" else value


def database_config(url: str, *, web: bool | None = None, pooler: str | None = None) -> DBConfig:
    config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    config["CONN_HEALTH_CHECKS"] = True
    config.setdefault("OPTIONS", {})
    if (database_pooler() if pooler is None else pooler) == "transaction":
        # No server-side cursor (Django declares them WITH HOLD outside a transaction: they
        # outlive it on one server connection) and no prepared statement (psycopg prepares on
        # the server connection it happens to hold). No startup "options" either: PgBouncer
        # refuses that parameter, so pgtrigger.ignore and the web's timeouts are set by the
        # pooler's database entries (connect_query) or on the role (docs/deploy.md).
        # DB_CONN_MAX_AGE keeps the connection to the pooler, which is cheap.
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
        config["OPTIONS"]["prepare_threshold"] = None
        config["OPTIONS"]["server_side_binding"] = False
        return config
    # Every pgtrigger trigger first calls _pgtrigger_should_ignore(), which raises and catches an
    # error when "pgtrigger.ignore" is unset: ~0.1 ms per row, e.g. per journal line for the
    # deferred balance check. An empty list ignores no trigger and avoids that cost.
    # Statements sent through a server-binding cursor (the purchase's booking) are prepared on
    # their connection after a few executions; Django's own client-binding cursors never are.
    config["OPTIONS"].setdefault("prepare_threshold", 5)
    options = "-c pgtrigger.ignore={}"
    if web if web is not None else env("TALLY_PROCESS") == "web":
        options += f" -c statement_timeout={WEB_STATEMENT_TIMEOUT_MS} -c lock_timeout={WEB_LOCK_TIMEOUT_MS}"
    config["OPTIONS"].setdefault("options", options)
    return config


SECRET_KEY = env("SECRET_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "pgtrigger",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "health_check",
    "accounts",
    "risk",
    "installments",
    "complaints",
    "config.api",
    "config.cob",
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.RequestContextMiddleware",
    "config.api.middleware.ApiBodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.security.StaffTwoFactorMiddleware",
    "accounts.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.security.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "config.api.idempotency.IdempotencyMiddleware",
]
# A storefront API request (/api/v1/) passes through these alone (config/api/handler.py): the
# back office's sessions, CSRF, staff login and two-factor, messages, lockout and static files
# are not its concern. Same order as above.
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "accounts.middleware.RequestContextMiddleware",
    "config.api.middleware.ApiBodySizeLimitMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.api.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL")
DATABASES = {"default": database_config(DATABASE_URL)} if DATABASE_URL else {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("TALLY_STATIC_ROOT") or BASE_DIR / "staticfiles"
# whitenoise serves the admin's and the API docs' files from the web process (collectstatic
# at release); compressed and cache-busted names in production, plain files elsewhere.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_AGE = int(env("SESSION_COOKIE_AGE", str(8 * 3600)) or 28800)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Staff sessions (docs/decisions/0011-login-lockout-and-sessions.md): logged out after
# TALLY_SESSION_IDLE_SECONDS without a request, and TALLY_SESSION_MAX_AGE_SECONDS after login
# whatever the activity (accounts.security.SessionTimeoutMiddleware).
TALLY_SESSION_IDLE_SECONDS = int(env("TALLY_SESSION_IDLE_SECONDS", str(30 * 60)) or 1800)
TALLY_SESSION_MAX_AGE_SECONDS = SESSION_COOKIE_AGE

# Login lock-out (django-axes): AXES_FAILURE_LIMIT failed logins for one username from one
# IP address lock that pair out for AXES_COOLOFF_MINUTES; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5") or 5)
AXES_COOLOFF_TIME = timedelta(minutes=int(env("AXES_COOLOFF_MINUTES", "30") or 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# ... and TALLY_USERNAME_FAILURE_LIMIT failures for one username from any addresses lock the
# username itself (a spread-out guessing attack), by accounts.security.TallyAxesHandler.
TALLY_USERNAME_FAILURE_LIMIT = env_int("TALLY_USERNAME_FAILURE_LIMIT", 20)
AXES_HANDLER = "accounts.security.TallyAxesHandler"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client address: REMOTE_ADDR, or behind TALLY_TRUSTED_PROXY_COUNT reverse proxies the
# address the outermost trusted proxy saw (X-Forwarded-For, counted from the right).
TALLY_TRUSTED_PROXY_COUNT = int(env("TALLY_TRUSTED_PROXY_COUNT", "0") or 0)
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip_address"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]

# Staff two-factor authentication (django-otp: TOTP, backup codes; docs/decisions/0022-staff-two-factor.md).
# Required for every member of staff under the production settings; offered in local.
TALLY_STAFF_2FA_REQUIRED = env_bool("TALLY_STAFF_2FA_REQUIRED", False)
OTP_TOTP_ISSUER = "Tally"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
TALLY_BACKUP_CODE_COUNT = 10

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["config.api.auth.ApiClientTokenAuthentication"],
    # An endpoint declares the scope it needs as ``required_scope`` on its view class
    # (docs/api.md, "Scopes"); HasRequiredScope refuses other clients 403 insufficient_scope.
    "DEFAULT_PERMISSION_CLASSES": ["config.api.auth.IsApiClient", "config.api.auth.HasRequiredScope"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.ApiClientRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
API_MAX_BODY_BYTES = int(env("API_MAX_BODY_BYTES", str(64 * 1024)) or 65536)
# JSON bodies nested deeper than this (arrays and objects) are refused 400 before parsing.
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32)
# Requests per client per minute unless the client has its own rate (ApiClient.rate_per_minute).
API_DEFAULT_RATE_PER_MINUTE = env_int("API_DEFAULT_RATE_PER_MINUTE", 600)
# A web process keeps the API client it looked up for a token this many seconds (no row read
# per request); a revoked or rotated token stops working within this time in every process.
API_CLIENT_CACHE_SECONDS = env_int("API_CLIENT_CACHE_SECONDS", 5)
# The throttle's counters live in this cache, shared by every web process (Redis).
API_THROTTLE_CACHE = "throttle"
IDEMPOTENCY_KEY_TTL_HOURS = 48
IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS = 120

SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": "Revolving consumer-credit line: applications, accounts, purchases, repayments.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # The contract's error responses (docs/api.md) on every operation; the enum hook is the default one.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.api.schema.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "ApplicationKindEnum": "risk.models.ApplicationKind",
        "PlanKindEnum": "installments.models.PlanKind",
    },
}

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 3600
# Every task has a soft limit (SoftTimeLimitExceeded raised inside it) and a hard one (the
# worker process is killed); the close's chunks and driver have their own (decision 0025).
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
COB_CHUNK_SOFT_TIME_LIMIT = env_int("TALLY_COB_CHUNK_SOFT_TIME_LIMIT", 1500)
COB_CHUNK_TIME_LIMIT = env_int("TALLY_COB_CHUNK_TIME_LIMIT", 1800)
# Close of business fan-out: the queue of chunk tasks (None: the default queue) and how long
# the driver waits for one step's chunks before giving up (the day is then run again).
TALLY_COB_CHUNK_QUEUE = env("TALLY_COB_CHUNK_QUEUE") or None
TALLY_COB_STEP_TIMEOUT_SECONDS = int(env("TALLY_COB_STEP_TIMEOUT_SECONDS", "21600") or 21600)
# The beat sweeps walk every due row (thousands after an outage): a longer bound than a single task's.
SWEEP_SOFT_TIME_LIMIT = env_int("TALLY_SWEEP_SOFT_TIME_LIMIT", 1200)
SWEEP_TIME_LIMIT = env_int("TALLY_SWEEP_TIME_LIMIT", 1260)
_SWEEP = {"soft_time_limit": SWEEP_SOFT_TIME_LIMIT, "time_limit": SWEEP_TIME_LIMIT}
CELERY_TASK_ANNOTATIONS = {
    "accounts.tasks.deliver_pending_notifications": _SWEEP,
    "risk.tasks.retry_pending_applications": _SWEEP,
    "installments.tasks.release_restoration_holds": _SWEEP,
    "installments.tasks.reconcile_payments": _SWEEP,
    "complaints.tasks.sweep_complaints_and_closures": _SWEEP,
    "config.cob.tasks.cob_chunk": {"soft_time_limit": COB_CHUNK_SOFT_TIME_LIMIT, "time_limit": COB_CHUNK_TIME_LIMIT},
    # the driver waits for each step's chunks (at most TALLY_COB_STEP_TIMEOUT_SECONDS each)
    "config.cob.tasks.close_business_days": {"soft_time_limit": 2 * TALLY_COB_STEP_TIMEOUT_SECONDS,
                                             "time_limit": 2 * TALLY_COB_STEP_TIMEOUT_SECONDS + 600},
}
# A killed worker's unacknowledged chunk goes back to the queue after this long: above the
# longest chunk's hard limit, or a slow chunk still running would be delivered a second time.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 2 * COB_CHUNK_TIME_LIMIT)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
# Enqueueing after a commit must not hang a request when Redis is away: a few quick tries,
# then the outbox sweep delivers later (accounts/outbox.py).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_ROUTES = {"config.cob.tasks.close_business_days": {"queue": "cob"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes the database connection before and after every task unless
# this is set; it then closes it every N tasks, and config/celery_app.py closes a broken or
# CONN_MAX_AGE-old one around each task, as Django does per request (decision 0020).
CELERY_DB_REUSE_MAX = int(env("CELERY_DB_REUSE_MAX", "1000") or 1000)

# --- Tally -----------------------------------------------------------------------------
TALLY_ENVIRONMENT = "base"
# Adapters to the outside world, by dotted path. No default: local.py and test.py name the
# sandbox ones, production requires real ones (production.py).
TALLY_IDENTITY_PROVIDER = env("TALLY_IDENTITY_PROVIDER")
TALLY_PAYMENT_GATEWAY = env("TALLY_PAYMENT_GATEWAY")
TALLY_NOTIFICATION_CHANNEL = env("TALLY_NOTIFICATION_CHANNEL")
# Notification delivery (accounts/notifications.py): a failed send is tried again after
# TALLY_NOTIFICATION_RETRY_BASE_SECONDS × 2^(tries-1), at most TALLY_NOTIFICATION_MAX_TRIES
# times; a row left in "sending" longer than TALLY_NOTIFICATION_STUCK_SECONDS is recovered.
TALLY_NOTIFICATION_MAX_TRIES = env_int("TALLY_NOTIFICATION_MAX_TRIES", 6)
TALLY_NOTIFICATION_RETRY_BASE_SECONDS = env_int("TALLY_NOTIFICATION_RETRY_BASE_SECONDS", 60)
TALLY_NOTIFICATION_STUCK_SECONDS = env_int("TALLY_NOTIFICATION_STUCK_SECONDS", 900)
# Keys for personal data: a Fernet key (urlsafe base64, 32 bytes) for ID numbers and a
# separate key for the keyed hash used to look them up. No default outside local and test.
TALLY_PII_ENCRYPTION_KEY = env("TALLY_PII_ENCRYPTION_KEY")
TALLY_PII_HASH_KEY: str | bytes | None = env("TALLY_PII_HASH_KEY")
# The nightly close of day D runs after midnight (00:30); by TALLY_CLOSE_DUE_HOUR the business
# date must equal the calendar date, or the dashboard says "the close is behind" (beat stopped,
# or the close keeps failing).
TALLY_CLOSE_DUE_HOUR = env_int("TALLY_CLOSE_DUE_HOUR", 6)
# close_business_day refuses to close a business date that has not ended yet (the calendar
# date is still that day or earlier) unless --force; the tests move business dates ahead of
# the calendar on purpose and turn this off (test.py).
TALLY_CLOSE_REQUIRES_DAY_ENDED = True
# Errors to Sentry when set (the SDK is a runtime dependency; nothing is sent without a DSN).
SENTRY_DSN = env("SENTRY_DSN")
if SENTRY_DSN:
    # Django and Celery integrations are enabled by default; no personal data is sent.
    sentry_sdk.init(dsn=SENTRY_DSN, environment=env("SENTRY_ENVIRONMENT", "production"), send_default_pii=False,
                    traces_sample_rate=float(env("SENTRY_TRACES_SAMPLE_RATE", "0") or 0))

# Logs: one JSON object per line with the request id, the Celery task id and the acting user
# (accounts/logs.py) — TALLY_LOG_FORMAT=plain for a human-readable console.
TALLY_LOG_FORMAT = env("TALLY_LOG_FORMAT", "json")
TALLY_LOG_LEVEL = env("TALLY_LOG_LEVEL", "INFO")


def logging_config(fmt: str, level: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "accounts.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "accounts.logs.JsonFormatter"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task_id)s %(user)s] %(message)s"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        # axes logs every login at INFO; lock-outs and repeated failures are WARNING
        "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
    }


LOGGING = logging_config(TALLY_LOG_FORMAT or "json", TALLY_LOG_LEVEL or "INFO")

# Caches: the API throttle's counters must be shared by every web process (Redis in
# production); local memory elsewhere unless TALLY_CACHE_URL names a Redis.
TALLY_CACHE_URL = env("TALLY_CACHE_URL")


def caches_config(url: str | None) -> dict:
    if url:
        backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    else:
        backend = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, API_THROTTLE_CACHE: backend}


CACHES = caches_config(TALLY_CACHE_URL)
