"""The Celery application. Beat schedules live in ``config/schedules.py`` and are installed
into django-celery-beat's tables by ``manage.py install_schedules`` (idempotent)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("tally")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close a database connection
    that is broken or older than ``CONN_MAX_AGE``, keep the others (docs/decisions/0020-worker-database-connections.md). Celery's
    own Django fixup would close every connection before and after every task — a new
    PostgreSQL backend per close chunk — so ``CELERY_DB_REUSE_MAX`` holds it off. Eager
    tasks run inside their caller's transaction and are left alone."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
