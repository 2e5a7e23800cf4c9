"""The customer-facing text of an application's result (rendered by the outbox in the
customer's language; registered in ``accounts.notifications.NOTIFICATION_TEXTS``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accounts.notifications import NOTIFICATION_TEXTS


def application_result(p: dict[str, Any]) -> str:
    reasons = "; ".join(_(r["message"]) for r in p.get("reasons", []))
    if p.get("status") == "approved":
        return _("Your credit line is active with a limit of %(limit)s CNY.") % {"limit": p["credit_limit"]}
    if p.get("status") == "in_review":
        return _("Your application is being reviewed by our team. We will tell you the result soon.")
    if p.get("status") == "pending_retry":
        return _("We could not finish checking your application yet; we will retry automatically.")
    return _("Your application was not approved: %(reasons)s") % {"reasons": reasons}


def register() -> None:
    NOTIFICATION_TEXTS.register("application_result", application_result)
