"""Thin Celery tasks: take ids, call one service, safe to run twice."""

from celery import shared_task
from django.conf import settings

from . import notifications, services


@shared_task(ignore_result=True)
def deliver_notification(notification_id: int) -> str:
    return notifications.deliver(notification_id)


@shared_task(ignore_result=True)
def deliver_pending_notifications() -> int:
    from .models import Notification, NotificationStatus

    ids = list(Notification.objects.filter(status=NotificationStatus.PENDING)
               .order_by("id").values_list("id", flat=True)[:1000])
    for notification_id in ids:
        notifications.deliver(notification_id)
    return len(ids)


@shared_task(ignore_result=True)
def purge_idempotency_records() -> int:
    return services.idempotency_records_purge(older_than_hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
