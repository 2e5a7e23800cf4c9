"""Settings shared by every environment. Values come from the environment (12-factor)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import overload

import dj_database_url
from dj_database_url import DBConfig
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


def database_config(url: str) -> DBConfig:
    config = dj_database_url.parse(url, conn_max_age=int(env("DB_CONN_MAX_AGE", "60") or 60))
    config["CONN_HEALTH_CHECKS"] = True
    config.setdefault("OPTIONS", {})
    # Every pgtrigger trigger first calls _pgtrigger_should_ignore(), which raises and catches an
    # error when "pgtrigger.ignore" is unset: ~0.1 ms per row, e.g. per journal line for the
    # deferred balance check. An empty list ignores no trigger and avoids that cost.
    config["OPTIONS"].setdefault("options", "-c pgtrigger.ignore={}")
    return config


SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "pgtrigger",
    "axes",
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
    "config.api.middleware.ApiBodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.security.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
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
STATIC_ROOT = BASE_DIR / "staticfiles"

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
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client address: REMOTE_ADDR, or behind TALLY_TRUSTED_PROXY_COUNT reverse proxies the
# address the outermost trusted proxy saw (X-Forwarded-For, counted from the right).
TALLY_TRUSTED_PROXY_COUNT = int(env("TALLY_TRUSTED_PROXY_COUNT", "0") or 0)
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip_address"
AXES_SENSITIVE_PARAMETERS = ["password"]

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["config.api.auth.ApiClientTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.auth.IsApiClient"],
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
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 3600
# A killed worker's unacknowledged chunk goes back to the queue after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", "900") or 900)}
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
TALLY_IDENTITY_PROVIDER = "risk.identity.SandboxIdentityProvider"
TALLY_PAYMENT_GATEWAY = env("TALLY_PAYMENT_GATEWAY", "installments.gateway.SandboxGateway")
# Close of business fan-out: the queue of chunk tasks (None: the default queue) and how long
# the driver waits for one step's chunks before giving up (the day is then run again).
TALLY_COB_CHUNK_QUEUE = env("TALLY_COB_CHUNK_QUEUE") or None
TALLY_COB_STEP_TIMEOUT_SECONDS = int(env("TALLY_COB_STEP_TIMEOUT_SECONDS", "21600") or 21600)
TALLY_NOTIFICATION_CHANNEL = "accounts.channels.LogChannel"
# Keys for personal data: a Fernet key (urlsafe base64, 32 bytes) for ID numbers and a
# separate key for the keyed hash used to look them up. Derived from SECRET_KEY in
# development; production requires them explicitly.
TALLY_PII_ENCRYPTION_KEY = env("TALLY_PII_ENCRYPTION_KEY")
TALLY_PII_HASH_KEY = env("TALLY_PII_HASH_KEY")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # axes logs every login at INFO; lock-outs and repeated failures are WARNING
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
