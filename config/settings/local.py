"""Developer settings: DEBUG on, embedded services when DATABASE_URL / CELERY_BROKER_URL are
unset, sandbox adapters, development keys. Chosen only on request: the Makefile sets
``DJANGO_SETTINGS_MODULE=config.settings.local`` (docs/decisions/0023-fail-closed-settings.md)."""

import base64
import hashlib

from config import devservices

from .base import *  # noqa: F403
from .base import database_config, env, env_bool, logging_config

DEBUG = True
TALLY_ENVIRONMENT = "local"
# Development values only: this module is never loaded by a deployed process.
SECRET_KEY = env("SECRET_KEY") or "dev-only-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
# The personal-data keys of a development database (derived from the development key, as
# earlier versions did, so an existing .local database still decrypts).
TALLY_PII_ENCRYPTION_KEY = env("TALLY_PII_ENCRYPTION_KEY") or base64.urlsafe_b64encode(
    hashlib.sha256(b"tally-pii-encryption:" + SECRET_KEY.encode()).digest()).decode()
TALLY_PII_HASH_KEY = env("TALLY_PII_HASH_KEY") or hashlib.sha256(b"tally-pii-hash:" + SECRET_KEY.encode()).digest()
TALLY_IDENTITY_PROVIDER = env("TALLY_IDENTITY_PROVIDER") or "risk.identity.SandboxIdentityProvider"
TALLY_PAYMENT_GATEWAY = env("TALLY_PAYMENT_GATEWAY") or "installments.gateway.SandboxGateway"
TALLY_NOTIFICATION_CHANNEL = env("TALLY_NOTIFICATION_CHANNEL") or "accounts.channels.LogChannel"
DATABASES = {"default": database_config(devservices.database_url())}
CELERY_BROKER_URL = devservices.broker_url()
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Two-factor sign-in is offered (Two-factor authentication, top right), not required, so the
# demo's logins work with their password alone (decision 0022); TALLY_STAFF_2FA_REQUIRED=true
# tries the production behaviour.
TALLY_STAFF_2FA_REQUIRED = env_bool("TALLY_STAFF_2FA_REQUIRED", False)
LOGGING = logging_config(env("TALLY_LOG_FORMAT") or "plain", env("TALLY_LOG_LEVEL") or "INFO")
