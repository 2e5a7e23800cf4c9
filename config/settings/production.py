"""Production settings: everything from the environment, hardened, and fail-closed.

What a process gets when nothing chooses other settings (manage.py, config/wsgi.py,
config/celery_app.py). It refuses to start — one ImproperlyConfigured naming every missing
variable — without its secrets, its database and broker, and real adapters for the identity
provider, the payment gateway and the customer notifications (docs/deploy.md,
docs/decisions/0023-fail-closed-settings.md)."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, TALLY_CACHE_URL, caches_config, env, env_bool, env_int, env_list
from .requirements import check_environment

TALLY_ENVIRONMENT = "production"
DEBUG = False

check_environment()

TALLY_IDENTITY_PROVIDER = env("TALLY_IDENTITY_PROVIDER")
TALLY_PAYMENT_GATEWAY = env("TALLY_PAYMENT_GATEWAY")
TALLY_NOTIFICATION_CHANNEL = env("TALLY_NOTIFICATION_CHANNEL")
TALLY_STAFF_2FA_REQUIRED = True  # every member of staff, always (decision 0022)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# the load balancer's probes speak plain HTTP to the process itself
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^ready/$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Staff notifications by e-mail (the staff inbox, decision 0032) through an SMTP relay.
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "tally@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The API throttle's counters in Redis, shared by every web process (the broker's by default).
CACHES = caches_config(TALLY_CACHE_URL or CELERY_BROKER_URL)

if not CELERY_BROKER_URL:  # not reached: required above
    raise ImproperlyConfigured("CELERY_BROKER_URL must be set in production")
