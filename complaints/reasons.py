"""Reason codes of closure decisions: a customer-facing message (translated) and an internal
detail, stored like the reasons of credit applications (code, English message, detail)."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "CLOSURE_APPROVED": _("Your credit line is closed."),
    "ACCOUNT_FROZEN": _("Your credit line cannot be closed while it is under investigation."),
    "OPEN_DISPUTE": _("Your credit line cannot be closed while a dispute is open. We will contact you once it "
                      "is resolved."),
    "PENDING_REFUND": _("Your credit line has a credit balance to be refunded to you first."),
    "PAYOFF_NOT_RECEIVED": _("Your closure request expired because the balance was not paid within 30 days."),
    "FRAUD_CONFIRMED": _("Your credit line was closed for security reasons."),
    "BREACH_OF_TERMS": _("Your credit line was closed because the terms of the agreement were breached."),
    "WITHDRAWN": _("Your closure request was withdrawn."),
}

SYSTEM_CLOSURE_CODES = (
    ("FRAUD_CONFIRMED", _("Confirmed fraud")),
    ("BREACH_OF_TERMS", _("Breach of terms")),
)


def reason(code: str, detail: str = "") -> dict[str, Any]:
    with translation.override("en"):
        message = str(MESSAGES[code])
    return {"code": code, "message": message, "detail": detail}


def customer_message(stored: dict[str, Any]) -> str:
    template = MESSAGES.get(stored.get("code", ""))
    return str(template) if template is not None else stored.get("message", "")
