"""The Celery application. Beat schedules live in ``config/schedules.py`` and are installed
into django-celery-beat's tables by ``manage.py install_schedules`` (idempotent)."""

import os
from logging.config import dictConfig

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun
from django.conf import settings
from django.db import close_old_connections

from accounts import logs

# Fail closed: production settings unless the caller chooses others (docs/deploy.md).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

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


@setup_logging.connect
def _django_logging(**kwargs) -> None:
    """Celery keeps Django's logging (JSON lines with the task id, accounts/logs.py) instead of
    installing its own handlers."""
    dictConfig(settings.LOGGING)


@task_prerun.connect
def _task_log_context(sender=None, task_id=None, **kwargs) -> None:
    """Every log line a task writes carries its id and name."""
    logs.bind(task_id=task_id or "", task=getattr(sender, "name", "") or "")


@task_postrun.connect
def _task_log_context_end(**kwargs) -> None:
    logs.bind(task_id="", task="")
