"""Delivery of the outbox: render a notification in the customer's language and hand it to
the configured channel, at most once per row."""

from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .models import Notification, NotificationStatus

logger = logging.getLogger("tally.notifications")


def render(notification: Notification) -> str:
    """The customer-facing text of a notification (rendered in the customer's language)."""
    p = notification.params
    with translation.override(notification.customer.language or settings.LANGUAGE_CODE):
        kind = notification.kind
        if kind == "application_result":
            reasons = "; ".join(_(r["message"]) for r in p.get("reasons", []))
            if p.get("status") == "approved":
                return _("Your credit line is active with a limit of %(limit)s CNY.") % {"limit": p["credit_limit"]}
            if p.get("status") == "in_review":
                return _("Your application is being reviewed by our team. We will tell you the result soon.")
            if p.get("status") == "pending_retry":
                return _("We could not finish checking your application yet; we will retry automatically.")
            return _("Your application was not approved: %(reasons)s") % {"reasons": reasons}
        if kind == "limit_restored":
            if p.get("available_limit"):
                return _("We received your payment. %(restored)s CNY of your limit is back; available now: "
                         "%(available)s CNY.") % {"restored": p.get("restored", ""), "available": p["available_limit"]}
            return _("%(restored)s CNY of your limit is available again.") % {"restored": p.get("restored", "")}
        if kind == "limit_held":
            return _("We received your payment. %(held)s CNY of your limit will be available again at "
                     "%(release_at)s; available now: %(available)s CNY.") % {
                "held": p.get("held", ""), "release_at": p.get("release_at", ""),
                "available": p.get("available_limit", "")}
        if kind == "debit_failed":
            if p.get("card_closed"):
                return _("We could not collect %(amount)s CNY: your repayment card is closed. Please add a new "
                         "card.") % {"amount": p.get("amount", "")}
            if p.get("retry_on"):
                return _("We could not collect %(amount)s CNY. We will try again on %(retry_on)s.") % {
                    "amount": p.get("amount", ""), "retry_on": p["retry_on"]}
            return _("We could not collect %(amount)s CNY. Please repay in the app.") % {"amount": p.get("amount", "")}
        if kind == "overdue_warning":
            return _("Your payment is %(days)s days overdue; your credit line is paused until it is paid. "
                     "Late fees apply.") % {"days": p.get("days_past_due", "")}
        if kind == "limit_changed":
            return _("Your credit limit changed from %(old)s to %(new)s CNY.") % {
                "old": p.get("old_limit", ""), "new": p.get("new_limit", "")}
        for app_config in apps.get_app_configs():
            hook = getattr(app_config, "render_notification", None)
            text = hook(kind, p) if hook else None
            if text is not None:
                return text
        return _("You have a new message from Tally (%(kind)s).") % {"kind": kind}


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
