"""How an application's decision is shown to staff — the case page of the review queue and a
complaint's evidence panel: the score breakdown in scorecard order and the reasons with
their customer-facing messages."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from .reasons import customer_message

FEATURE_LABELS = {
    "base": _("Base score"),
    "months_since_customer": _("Months since store customer"),
    "orders_12m": _("Orders in 12 months"),
    "spend_12m": _("Spend in 12 months"),
    "return_rate": _("Return rate"),
    "repayment_history": _("Repayment history with Tally"),
}


def breakdown_rows(breakdown: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Score breakdown rows in scorecard order (jsonb does not keep key order); unknown
    features last."""
    known = [key for key in FEATURE_LABELS if key in breakdown]
    keys = known + sorted(key for key in breakdown if key not in FEATURE_LABELS)
    return [{"feature": FEATURE_LABELS.get(key, key), "value": breakdown[key].get("value", ""),
             "points": breakdown[key].get("points")} for key in keys]


def reason_rows(reasons: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"code": r.get("code", ""), "message": customer_message(r), "detail": r.get("detail", "")}
            for r in reasons]
