"""Thin Celery tasks: take ids, call one service, safe to run twice."""

from celery import shared_task
from django.conf import settings

from . import notifications, services


@shared_task(ignore_result=True)
def deliver_notification(notification_id: int) -> str:
    return notifications.deliver(notification_id)


@shared_task(ignore_result=True)
def deliver_notifications(notification_ids: list[int]) -> int:
    """Deliver a batch of outbox rows (each at most once, as ``deliver_notification``)."""
    return sum(notifications.deliver(notification_id) == "sent" for notification_id in notification_ids)


@shared_task(ignore_result=True)
def deliver_pending_notifications() -> int:
    from .models import Notification, NotificationStatus

    ids = list(Notification.objects.filter(status=NotificationStatus.PENDING)
               .order_by("id").values_list("id", flat=True)[:1000])
    for notification_id in ids:
        notifications.deliver(notification_id)
    return len(ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def cob_chunk(step_name: str, business_date: str, ids: list[int], step_run_id: int) -> tuple[int, int]:
    """One chunk of accounts of one close-of-business step (safe to run twice)."""
    from datetime import date

    from config.cob import run_chunk

    return run_chunk(step_name, date.fromisoformat(business_date), ids, step_run_id)


@shared_task(ignore_result=True)
def close_business_days() -> int:
    """Beat: close every business date earlier than today's calendar date, day by day."""
    from django.utils import timezone

    from config.cob import CobAlreadyRunning, close_business_days_until

    try:
        return len(close_business_days_until(timezone.localdate(), fan_out=True))
    except CobAlreadyRunning:
        return 0


@shared_task(ignore_result=True)
def release_restoration_holds() -> int:
    """Frequent sweep: release every restoration hold whose time has come."""
    from django.utils import timezone

    from installments.repayments import accounts_with_holds_due, holds_release

    now = timezone.now()
    ids = accounts_with_holds_due(now)
    for account_id in ids:
        holds_release(account_id=account_id, until=now)
    return len(ids)


@shared_task(ignore_result=True)
def purge_idempotency_records() -> int:
    return services.idempotency_records_purge(older_than_hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
