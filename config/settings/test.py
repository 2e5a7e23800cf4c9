"""Test settings: real PostgreSQL (DATABASE_URL or the embedded one), eager Celery by default,
sandbox adapters and fixed test keys. Chosen by pytest (pyproject.toml)."""

import os

from config import devservices

from .base import *  # noqa: F403
from .base import database_config, logging_config

TALLY_ENVIRONMENT = "test"
SECRET_KEY = "test-only-insecure-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"
DATABASES = {"default": database_config(devservices.database_url())}
CELERY_BROKER_URL = devservices.broker_url()
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
DATABASES["default"]["CONN_MAX_AGE"] = 0
# TALLY_TEST_DB lets several checkouts or sessions run the suite side by side on one server.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TALLY_TEST_DB", "test_tally")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TALLY_PII_ENCRYPTION_KEY = "mN3-1y6ZzA0Jc1Cq3ZbQ0v8mP8XH2o6wq3dJ9Qj3b2Y="
TALLY_PII_HASH_KEY = "test-pii-hash-key"
TALLY_IDENTITY_PROVIDER = "risk.identity.SandboxIdentityProvider"
TALLY_PAYMENT_GATEWAY = "installments.gateway.SandboxGateway"
TALLY_NOTIFICATION_CHANNEL = "accounts.channels.LogChannel"
TALLY_STAFF_2FA_REQUIRED = False
# tests close business dates ahead of the calendar (tests/test_operability.py checks the guard)
TALLY_CLOSE_REQUIRES_DAY_ENDED = False
LOGGING = logging_config("plain", "INFO")
