"""Customer-facing texts of complaint and closure notifications (rendered by the outbox in
the customer's language; registered in ``accounts.notifications.NOTIFICATION_TEXTS``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.notifications import NOTIFICATION_TEXTS, NotificationText

from .reasons import customer_message

KINDS = ("complaint_acknowledged", "complaint_answered", "complaint_resolved", "complaint_deadline_extended",
         "closure_done", "closure_refused")


def _local(iso: str) -> str:
    try:
        return timezone.localtime(datetime.fromisoformat(iso)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


def render(kind: str, p: dict[str, Any]) -> str | None:
    ref = p.get("complaint_id", "")
    if kind == "complaint_acknowledged":
        return _("We received your complaint #%(ref)s and are looking into it. You will have our answer by "
                 "%(respond_by)s.") % {"ref": ref, "respond_by": _local(p.get("respond_by", ""))}
    if kind == "complaint_answered":
        return _("About your complaint #%(ref)s: %(message)s") % {"ref": ref, "message": p.get("message", "")}
    if kind == "complaint_resolved":
        return _("Our answer to your complaint #%(ref)s: %(resolution)s") % {
            "ref": ref, "resolution": p.get("resolution", "")}
    if kind == "complaint_deadline_extended":
        return _("We need more time to answer your complaint #%(ref)s; you will have our answer by "
                 "%(respond_by)s.") % {"ref": ref, "respond_by": _local(p.get("respond_by", ""))}
    if kind == "closure_done":
        reasons = [r for r in p.get("reasons", []) if r.get("code") != "CLOSURE_APPROVED"]
        if reasons:  # a system closure says why
            return " ".join(customer_message(r) for r in reasons)
        return _("Your credit line is closed. Thank you for using Tally.")
    if kind == "closure_refused":
        refusals = "; ".join(customer_message(r) for r in p.get("reasons", []))
        return _("We could not close your credit line: %(reasons)s") % {"reasons": refusals}
    return None


def _text_of(kind: str) -> NotificationText:
    def text(params: dict[str, Any]) -> str:
        return render(kind, params) or ""
    return text


def register() -> None:
    for kind in KINDS:
        NOTIFICATION_TEXTS.register(kind, _text_of(kind))
