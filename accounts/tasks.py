"""Thin Celery tasks of ``accounts``: delivering the notification outbox (safe to run twice)."""

from celery import shared_task

from . import notifications


@shared_task(ignore_result=True)
def deliver_notification(notification_id: int) -> str:
    return notifications.deliver(notification_id)


@shared_task(ignore_result=True)
def deliver_notifications(notification_ids: list[int]) -> int:
    """Deliver a batch of outbox rows (each at most once, as ``deliver_notification``)."""
    return sum(notifications.deliver(notification_id) == "sent" for notification_id in notification_ids)


@shared_task(ignore_result=True)
def deliver_pending_notifications() -> int:
    """Beat sweep: recover rows stuck in sending, then deliver what is pending and due (a task
    never enqueued because the broker was away, a lost task, a retry after a failed send)."""
    notifications.recover_stuck()
    ids = notifications.pending_ids()
    for notification_id in ids:
        notifications.deliver(notification_id)
    return len(ids)
