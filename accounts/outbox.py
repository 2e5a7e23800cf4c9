"""The notification outbox (docs/rules.md §12): a service writes the notification row in
the transaction of the change it reports; delivery is a Celery task scheduled after commit
(and a beat sweep delivers anything left pending), once per event key.

Enqueueing after commit never fails the caller: when the broker (Redis) cannot be reached
the error is logged and the row stays ``pending`` for the beat sweep, so a request whose
money or decision committed answers what was committed (docs/decisions/0025-operability.md)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from . import tasks
from .audit_trail import Actor, audit_record
from .bulk import Writes, insert_rows
from .errors import ApplicationError, require_permission
from .models import CreditAccount, Customer, Notification, NotificationStatus

logger = logging.getLogger("tally.notifications")
# What a broker that is away raises from ``delay()`` (connection refused, timeouts, a Redis
# that is loading or read-only) — and anything else the client library may raise on the way.
BROKER_ERRORS = (KombuError, RedisError, OSError)


def enqueue_quietly(task: Task, *args: Any) -> bool:
    """``task.delay(*args)``; False (logged) when it could not be sent. For callbacks run after
    a commit: the outbox row is the record, the task only a shortcut to delivery, so no error
    here may turn a committed request into a 500. (Eager tasks — the tests — run inline and
    their errors are raised.)"""
    try:
        task.delay(*args)
    except Exception as exc:
        if task.app.conf.task_always_eager and not isinstance(exc, BROKER_ERRORS):
            raise
        logger.warning("could not enqueue %s%r (%s): left to the outbox sweep", task.name, args,
                       type(exc).__name__, exc_info=True)
        return False
    return True


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
        transaction.on_commit(lambda: enqueue_quietly(tasks.deliver_notification, notification.pk))
    return notification


def notifications_enqueue(notifications: list[Notification], *, writes: Writes | None = None) -> None:
    """``notification_enqueue`` for many new outbox rows (new event keys): one INSERT (``writes``:
    a CTE of the caller's one statement) and, after commit, one delivery task for all of them."""
    if not connection.in_atomic_block:
        raise RuntimeError("notifications_enqueue runs inside the transaction of the changes it reports")
    if not notifications:
        return
    if writes is not None:
        writes.insert(notifications)
    else:
        insert_rows(notifications)
    transaction.on_commit(lambda: enqueue_quietly(tasks.deliver_notifications, [n.pk for n in notifications]))


def deliver_after_commit(notification_ids: list[int]) -> None:
    """Schedule delivery of rows another statement wrote (e.g. the nightly limit changes)."""
    if notification_ids:
        transaction.on_commit(lambda: enqueue_quietly(tasks.deliver_notifications, notification_ids))


class NothingToResend(ApplicationError):
    code = "nothing_to_resend"
    status_code = 409


def notifications_resend(*, notification_ids: list[int], acting_user: Actor) -> list[int]:
    """Send failed notifications again (a member of staff's action, audited): each goes back
    to pending with a fresh count of tries and is delivered after commit. Only ``failed`` rows
    are taken; returns their ids."""
    require_permission(acting_user, "accounts.resend_notification", _("You may not re-send notifications."))
    with transaction.atomic(durable=True):
        rows = list(Notification.objects.select_for_update().filter(pk__in=notification_ids,
                                                                    status=NotificationStatus.FAILED).order_by("pk"))
        if not rows:
            raise NothingToResend(_("Only failed notifications can be sent again."))
        for row in rows:
            audit_record(acting_user=acting_user, action="notification.resent", obj=row,
                         before={"status": row.status, "attempts": row.attempts, "error": row.error[:200]},
                         after={"status": NotificationStatus.PENDING})
        ids = [row.pk for row in rows]
        Notification.objects.filter(pk__in=ids).update(status=NotificationStatus.PENDING, attempts=0,
                                                       next_attempt_at=None, claimed_at=None)
        transaction.on_commit(lambda: enqueue_quietly(tasks.deliver_notifications, ids))
    return ids
