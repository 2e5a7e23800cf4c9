"""Reason codes of credit decisions: a customer-facing message (translated) and an internal
detail. The stored reason keeps the code, the English message, the detail and the
parameters, so it can be shown again in any language."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "ID_INVALID": _("The ID number is not valid. Please check it and apply again."),
    "ACCOUNT_ABNORMAL": _("Your store account cannot be used for a credit line at the moment."),
    "INSUFFICIENT_HISTORY": _("Your shopping history with the store is not yet long enough for a credit line."),
    "VELOCITY": _("You have applied too often recently. You can apply again from %(retry_on)s."),
    "ID_MISMATCH": _("We could not verify your identity with the details provided."),
    "UPSTREAM_UNAVAILABLE": _("We could not verify your identity yet; we will retry automatically."),
    "SCORE_BELOW_THRESHOLD": _("We cannot offer you a credit line at this time."),
    "BORDERLINE_SCORE": _("Your application needs a review by our team."),
    "SHARED_PHONE": _("Your application needs a review by our team."),
    "HIGH_LIMIT": _("Your application needs a review by our team."),
    "APPROVED": _("Your credit line is approved."),
    "PRIOR_WRITE_OFF": _("We cannot reopen this credit line."),
    "RECENT_DELINQUENCY": _("We cannot reopen this credit line because of recent late payments."),
    "REVIEW_APPROVED": _("Your credit line is approved."),
    "REVIEW_REJECTED_FRAUD_RISK": _("We cannot offer you a credit line at this time."),
    "REVIEW_REJECTED_AFFORDABILITY": _("We cannot offer you a credit line at this time."),
    "REVIEW_REJECTED_UNVERIFIABLE": _("We could not verify the information in your application."),
    "REVIEW_REJECTED_POLICY": _("We cannot offer you a credit line at this time."),
    "IDENTITY_RETRIES_EXHAUSTED": _("Your application needs a review by our team."),
}

REVIEW_REJECT_CODES = (
    ("REVIEW_REJECTED_FRAUD_RISK", _("Fraud risk")),
    ("REVIEW_REJECTED_AFFORDABILITY", _("Affordability")),
    ("REVIEW_REJECTED_UNVERIFIABLE", _("Information could not be verified")),
    ("REVIEW_REJECTED_POLICY", _("Outside credit policy")),
)


def reason(code: str, detail: str = "", **params: Any) -> dict[str, Any]:
    """A stored reason: code, English message, internal detail, parameters."""
    with translation.override("en"):
        message = str(MESSAGES[code]) % params if params else str(MESSAGES[code])
    return {"code": code, "message": message, "detail": detail, "params": {k: str(v) for k, v in params.items()}}


def customer_message(stored: dict[str, Any]) -> str:
    """The message in the active language."""
    template = MESSAGES.get(stored["code"])
    if template is None:
        return stored.get("message", "")
    params = stored.get("params") or {}
    return str(template) % params if params else str(template)
