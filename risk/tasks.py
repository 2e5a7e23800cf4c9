"""Thin Celery tasks of the risk domain."""

from celery import shared_task

from . import day_counts
from .selectors import applications_due_for_retry
from .services.applications import application_retry_identity, applications_sweep_stuck
from .services.review_queue import review_claims_expire


@shared_task(ignore_result=True)
def retry_pending_applications() -> int:
    ids = applications_due_for_retry()
    for application_id in ids:
        application_retry_identity(application_id=application_id)
    return len(ids)


@shared_task(ignore_result=True)
def expire_idle_review_claims() -> int:
    return review_claims_expire()


@shared_task(ignore_result=True)
def sweep_stuck_applications() -> int:
    return applications_sweep_stuck()


@shared_task(ignore_result=True)
def fold_application_day_counts() -> int:
    return day_counts.fold()
