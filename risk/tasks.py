"""Thin Celery tasks of the risk domain."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def retry_pending_applications() -> int:
    ids = services.applications_due_for_retry()
    for application_id in ids:
        services.application_retry_identity(application_id=application_id)
    return len(ids)


@shared_task(ignore_result=True)
def expire_idle_review_claims() -> int:
    return services.review_claims_expire()
