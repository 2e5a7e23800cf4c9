"""Developer settings: DEBUG on, embedded services when DATABASE_URL / CELERY_BROKER_URL are unset."""

from config import devservices

from .base import *  # noqa: F403
from .base import database_config

DEBUG = True
TALLY_ENVIRONMENT = "local"
DATABASES = {"default": database_config(devservices.database_url())}
CELERY_BROKER_URL = devservices.broker_url()
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
