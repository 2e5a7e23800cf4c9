"""Delivery of the outbox (docs/rules.md §12): render a notification in the customer's
language and hand it to the configured channel.

A row is claimed (pending → sending) by one committed UPDATE, so two deliveries never send it
twice. A failed send is tried again with back-off (``TALLY_NOTIFICATION_RETRY_BASE_SECONDS`` ×
2^(tries−1)) up to ``TALLY_NOTIFICATION_MAX_TRIES`` tries, then stays ``failed`` for staff to
re-send from the admin. A row left in ``sending`` longer than
``TALLY_NOTIFICATION_STUCK_SECONDS`` (its worker died mid-send) is put back to ``pending``
and counted as a try: in that window delivery is at least once, and the channel gets the
row's ``event_key`` to drop a duplicate (docs/decisions/0025-operability.md).

Each app registers the texts of its notification kinds in ``NOTIFICATION_TEXTS`` from its
``AppConfig.ready()``: a function of the notification's params, called in the customer's
language."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .models import Notification, NotificationStatus
from .registry import Registry

logger = logging.getLogger("tally.notifications")

NotificationText = Callable[[dict[str, Any]], str]
NOTIFICATION_TEXTS: Registry[NotificationText] = Registry("notification text")


def limit_changed_text(params: dict[str, Any]) -> str:
    return _("Your credit limit changed from %(old)s to %(new)s CNY.") % {
        "old": params.get("old_limit", ""), "new": params.get("new_limit", "")}


def render(notification: Notification) -> str:
    """The customer-facing text of a notification (rendered in the customer's language)."""
    with translation.override(notification.customer.language or settings.LANGUAGE_CODE):
        if notification.kind in NOTIFICATION_TEXTS:
            return NOTIFICATION_TEXTS.get(notification.kind)(notification.params)
        return _("You have a new message from Tally (%(kind)s).") % {"kind": notification.kind}


def _due(now: datetime) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def retry_delay(tries: int) -> timedelta:
    """How long after its ``tries``-th failed try a notification is tried again."""
    return timedelta(seconds=settings.TALLY_NOTIFICATION_RETRY_BASE_SECONDS * 2 ** max(0, tries - 1))


def deliver(notification_id: int) -> str:
    """Claim the row (pending → sending, committed), send, then mark sent — or, when the
    channel fails, pending again after a back-off (``failed`` once the tries are spent)."""
    now = timezone.now()
    # One UPDATE, committed at once: of two deliveries of the same row, the second waits for
    # the first's claim to commit and then matches nothing.
    claimed = (Notification.objects.filter(_due(now), pk=notification_id, status=NotificationStatus.PENDING)
               .update(status=NotificationStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1))
    if not claimed:
        return "skipped"
    notification = Notification.objects.select_related("customer").get(pk=notification_id)
    channel = import_string(settings.TALLY_NOTIFICATION_CHANNEL or "accounts.channels.LogChannel")()
    text = render(notification)
    try:
        channel.send(notification, text)
    except Exception as exc:  # recorded, and tried again after a back-off
        logger.exception("notification %s failed (try %s)", notification_id, notification.attempts)
        final = notification.attempts >= settings.TALLY_NOTIFICATION_MAX_TRIES
        Notification.objects.filter(pk=notification_id).update(
            status=NotificationStatus.FAILED if final else NotificationStatus.PENDING,
            next_attempt_at=None if final else timezone.now() + retry_delay(notification.attempts),
            error=str(exc)[:2000], rendered=text, channel=channel.name, claimed_at=None)
        return "failed" if final else "retry"
    Notification.objects.filter(pk=notification_id).update(
        status=NotificationStatus.SENT, rendered=text, channel=channel.name, sent_at=timezone.now(), claimed_at=None,
        next_attempt_at=None)
    return "sent"


def recover_stuck(now: datetime | None = None) -> int:
    """Rows left in ``sending`` past ``TALLY_NOTIFICATION_STUCK_SECONDS`` go back to pending (or
    to failed when their tries are spent). Returns how many were recovered."""
    now = now or timezone.now()
    stuck = Q(status=NotificationStatus.SENDING) & (
        Q(claimed_at__lt=now - timedelta(seconds=settings.TALLY_NOTIFICATION_STUCK_SECONDS))
        | Q(claimed_at__isnull=True, created_at__lt=now - timedelta(seconds=settings.TALLY_NOTIFICATION_STUCK_SECONDS)))
    note = "recovered: its delivery stopped while sending"
    spent = Q(attempts__gte=settings.TALLY_NOTIFICATION_MAX_TRIES)
    failed = Notification.objects.filter(stuck & spent).update(status=NotificationStatus.FAILED, claimed_at=None,
                                                                error=note)
    retried = Notification.objects.filter(stuck & ~spent).update(status=NotificationStatus.PENDING, claimed_at=None,
                                                                  next_attempt_at=now, error=note)
    if failed or retried:
        logger.warning("recovered %s notification(s) stuck in sending (%s failed for good)", failed + retried, failed)
    return failed + retried


def pending_ids(limit: int = 1000) -> list[int]:
    """The oldest outbox rows waiting and due (the beat sweep delivers them)."""
    return list(Notification.objects.filter(_due(timezone.now()), status=NotificationStatus.PENDING)
                .order_by("id").values_list("id", flat=True)[:limit])
