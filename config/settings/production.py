"""Production settings: everything from the environment, hardened."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASE_URL, env, env_bool, env_list

TALLY_ENVIRONMENT = "production"
DEBUG = False

for required in (
    "SECRET_KEY",
    "DATABASE_URL",
    "TALLY_PII_ENCRYPTION_KEY",
    "TALLY_PII_HASH_KEY",
    "TALLY_IDENTITY_PROVIDER",
    "TALLY_PAYMENT_GATEWAY",
):
    if not env(required):
        raise ImproperlyConfigured(f"{required} must be set in production")
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL must be set in production")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000") or 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Sandbox adapters are the default only outside production: name the real one explicitly.
# (both set: required above)
TALLY_IDENTITY_PROVIDER = os.environ["TALLY_IDENTITY_PROVIDER"]
TALLY_PAYMENT_GATEWAY = os.environ["TALLY_PAYMENT_GATEWAY"]
