"""The customer-facing texts of this app's notifications (rendered by the outbox in the
customer's language; registered in ``accounts.notifications.NOTIFICATION_TEXTS``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accounts.notifications import NOTIFICATION_TEXTS


def limit_restored(p: dict[str, Any]) -> str:
    if p.get("available_limit"):
        return _("We received your payment. %(restored)s CNY of your limit is back; available now: "
                 "%(available)s CNY.") % {"restored": p.get("restored", ""), "available": p["available_limit"]}
    return _("%(restored)s CNY of your limit is available again.") % {"restored": p.get("restored", "")}


def limit_held(p: dict[str, Any]) -> str:
    return _("We received your payment. %(held)s CNY of your limit will be available again at "
             "%(release_at)s; available now: %(available)s CNY.") % {
        "held": p.get("held", ""), "release_at": p.get("release_at", ""), "available": p.get("available_limit", "")}


def debit_failed(p: dict[str, Any]) -> str:
    if p.get("card_closed"):
        return _("We could not collect %(amount)s CNY: your repayment card is closed. Please add a new "
                 "card.") % {"amount": p.get("amount", "")}
    if p.get("retry_on"):
        return _("We could not collect %(amount)s CNY. We will try again on %(retry_on)s.") % {
            "amount": p.get("amount", ""), "retry_on": p["retry_on"]}
    return _("We could not collect %(amount)s CNY. Please repay in the app.") % {"amount": p.get("amount", "")}


def overdue_warning(p: dict[str, Any]) -> str:
    return _("Your payment is %(days)s days overdue; your credit line is paused until it is paid. "
             "Late fees apply.") % {"days": p.get("days_past_due", "")}


def recovery_received(p: dict[str, Any]) -> str:
    return _("We received your payment of %(amount)s CNY towards the written-off balance; still owed: "
             "%(recoverable)s CNY.") % {"amount": p.get("amount", ""), "recoverable": p.get("recoverable", "")}


def payout_sent(p: dict[str, Any]) -> str:
    return _("We paid %(amount)s CNY of your credit balance back to your repayment card.") % {
        "amount": p.get("amount", "")}


def payout_failed(p: dict[str, Any]) -> str:
    return _("We could not pay %(amount)s CNY back to your repayment card; it stays your credit balance. "
             "Please add a new card.") % {"amount": p.get("amount", "")}


def register() -> None:
    NOTIFICATION_TEXTS.register("limit_restored", limit_restored)
    NOTIFICATION_TEXTS.register("limit_held", limit_held)
    NOTIFICATION_TEXTS.register("debit_failed", debit_failed)
    NOTIFICATION_TEXTS.register("overdue_warning", overdue_warning)
    NOTIFICATION_TEXTS.register("recovery_received", recovery_received)
    NOTIFICATION_TEXTS.register("payout_sent", payout_sent)
    NOTIFICATION_TEXTS.register("payout_failed", payout_failed)
