"""The notification outbox (docs/rules.md §12): a service writes the notification row in
the transaction of the change it reports; delivery is a Celery task scheduled after commit
(and a beat sweep delivers anything left pending), at most once per event key."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from . import tasks
from .models import CreditAccount, Customer, Notification


def notification_enqueue(*, customer: Customer, kind: str, event_key: str, params: dict[str, Any],
                         account: CreditAccount | None = None) -> Notification:
    """Write an outbox row in the caller's transaction; delivery is scheduled after commit.

    The same ``event_key`` twice is one notification (at most once per event).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("notification_enqueue runs inside the transaction of the change it reports")
    notification, created = Notification.objects.get_or_create(
        event_key=event_key,
        defaults={"customer": customer, "account": account, "kind": kind, "params": params},
    )
    if created:
        transaction.on_commit(lambda: tasks.deliver_notification.delay(notification.pk))
    return notification


def notifications_enqueue(notifications: list[Notification]) -> None:
    """``notification_enqueue`` for many new outbox rows (new event keys): one INSERT and, after
    commit, one delivery task for all of them."""
    if not connection.in_atomic_block:
        raise RuntimeError("notifications_enqueue runs inside the transaction of the changes it reports")
    if not notifications:
        return
    created = Notification.objects.bulk_create(notifications)
    ids = [n.pk for n in created]
    transaction.on_commit(lambda: tasks.deliver_notifications.delay(ids))


def deliver_after_commit(notification_ids: list[int]) -> None:
    """Schedule delivery of rows another statement wrote (e.g. the nightly limit changes)."""
    if notification_ids:
        transaction.on_commit(lambda: tasks.deliver_notifications.delay(notification_ids))
