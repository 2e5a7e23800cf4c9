"""Thin Celery tasks of the API plumbing."""

from celery import shared_task
from django.conf import settings

from .clients import idempotency_records_purge


@shared_task(ignore_result=True)
def purge_idempotency_records() -> int:
    return idempotency_records_purge(older_than_hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
