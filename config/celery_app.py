"""The Celery application. Beat schedules live in ``config/schedules.py`` and are installed
into django-celery-beat's tables by ``manage.py install_schedules`` (idempotent)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("tally")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
