"""Delivery of the outbox (docs/rules.md §12): render a notification in the customer's
language and hand it to the configured channel, at most once per row.

Each app registers the texts of its notification kinds in ``NOTIFICATION_TEXTS`` from its
``AppConfig.ready()``: a function of the notification's params, called in the customer's
language."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
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


def deliver(notification_id: int) -> str:
    """Claim the row (pending → sending, committed), send, then mark sent.

    A crash after the claim leaves it in ``sending``: it is never sent twice (at most once).
    """
    # One UPDATE, committed at once: of two deliveries of the same row, the second waits for
    # the first's claim to commit and then matches nothing.
    claimed = (Notification.objects.filter(pk=notification_id, status=NotificationStatus.PENDING)
               .update(status=NotificationStatus.SENDING))
    if not claimed:
        return "skipped"
    notification = Notification.objects.select_related("customer").get(pk=notification_id)
    channel = import_string(settings.TALLY_NOTIFICATION_CHANNEL)()
    text = render(notification)
    try:
        channel.send(notification, text)
    except Exception as exc:  # a channel failure is recorded, never retried blind
        logger.exception("notification %s failed", notification_id)
        Notification.objects.filter(pk=notification_id).update(
            status=NotificationStatus.FAILED, error=str(exc)[:2000], rendered=text, channel=channel.name)
        return "failed"
    Notification.objects.filter(pk=notification_id).update(
        status=NotificationStatus.SENT, rendered=text, channel=channel.name, sent_at=timezone.now())
    return "sent"


def pending_ids(limit: int = 1000) -> list[int]:
    """The oldest outbox rows still waiting (the beat sweep delivers them)."""
    return list(Notification.objects.filter(status=NotificationStatus.PENDING)
                .order_by("id").values_list("id", flat=True)[:limit])
