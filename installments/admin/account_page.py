"""This app's part of the credit account pages: the money blocks (plans and their schedules,
statements, repayments, holds, payment attempts, penalties). The collections desk is in
``collection``."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import CreditAccount
from installments.models import (
    Installment,
    InstallmentPlan,
    PaymentAttempt,
    Penalty,
    Repayment,
    RestorationHold,
    Statement,
)

ROWS_SHOWN = 50  # per block on the account page; each block links to the full list
PLANS_SHOWN = 100


def _changelist_for_account(model_name: str, account_id: int, lookup: str = "account__id__exact") -> str:
    return "{}?{}".format(reverse(f"admin:installments_{model_name}_changelist"), urlencode({lookup: account_id}))


def latest(queryset: QuerySet, limit: int = ROWS_SHOWN) -> tuple[list, bool]:
    rows = list(queryset[:limit + 1])
    return rows[:limit], len(rows) > limit


def account_page_context(request: HttpRequest, account: CreditAccount, business_date: date, *,
                         rows: int = ROWS_SHOWN, plans_shown: int = PLANS_SHOWN) -> dict[str, Any]:
    """Plans with their schedules, statements, repayments, holds, payment attempts and
    penalties of one account: one query per block, whatever the number of rows (the latest
    ``rows`` of each block, the latest ``plans_shown`` plans)."""
    plans, plans_more = latest(
        InstallmentPlan.objects.filter(account=account).select_related("purchase", "statement")
        .prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("seq", "id")))
        .order_by("-id"), plans_shown)
    repayment_rows, repayments_more = latest(
        Repayment.objects.filter(account=account).select_related("hold").order_by("-id"), rows)
    holds, holds_more = latest(
        RestorationHold.objects.filter(account=account).select_related("repayment", "released_by")
        .order_by("-release_at", "-id"), rows)
    statements, statements_more = latest(Statement.objects.filter(account=account)
                                          .order_by("-statement_date", "-id"), rows)
    attempts, attempts_more = latest(PaymentAttempt.objects.filter(account=account)
                                      .order_by("-business_date", "-id"), rows)
    penalties, penalties_more = latest(Penalty.objects.filter(account=account).order_by("-business_date", "-id"),
                                        rows)
    return {
        "business_date": business_date,
        "plans": [{
            "plan": plan,
            "installments": [{"installment": i, "status": i.status_on(business_date),
                              "paid": i.principal_paid + i.fee_paid} for i in plan.installments.all()],
        } for plan in plans],
        "plans_more": plans_more,
        "purchases_url": _changelist_for_account("purchase", account.pk),
        "statements": statements,
        "statements_more": statements_more,
        "statements_url": _changelist_for_account("statement", account.pk),
        "repayments": [{"repayment": r, "hold": getattr(r, "hold", None)} for r in repayment_rows],
        "repayments_more": repayments_more,
        "repayments_url": _changelist_for_account("repayment", account.pk),
        "holds": holds,
        "holds_more": holds_more,
        "holds_url": _changelist_for_account("restorationhold", account.pk),
        "attempts": attempts,
        "attempts_more": attempts_more,
        "attempts_url": _changelist_for_account("paymentattempt", account.pk),
        "penalties": penalties,
        "penalties_more": penalties_more,
        "penalties_url": _changelist_for_account("penalty", account.pk),
    }
