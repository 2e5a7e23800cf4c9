"""Reads of purchases, installments and statements."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from accounts.models import CreditAccount

from .models import Installment, InstallmentState, Statement

INSTALLMENT_FILTERS = ("due", "overdue", "paid", "open", "cancelled")


def installments_for(account_id: int, *, status: str | None, business_date: date) -> QuerySet[Installment]:
    """``status`` as shown on each installment: open (not yet due), due (today), overdue,
    paid, cancelled."""
    qs = Installment.objects.filter(account_id=account_id).order_by("due_date", "id")
    if status == "paid":
        return qs.filter(state=InstallmentState.PAID)
    if status == "cancelled":
        return qs.filter(state=InstallmentState.CANCELLED)
    if status == "overdue":
        return qs.filter(state=InstallmentState.OPEN, due_date__lt=business_date)
    if status == "due":
        return qs.filter(state=InstallmentState.OPEN, due_date=business_date)
    if status == "open":
        return qs.filter(state=InstallmentState.OPEN, due_date__gt=business_date)
    return qs


def statements_for(account_id: int) -> QuerySet[Statement]:
    return Statement.objects.filter(account_id=account_id).order_by("-statement_date")


def payoff_quote(account: CreditAccount) -> dict:
    """All unpaid principal + fees and penalties already posted (DOMAIN.md §5)."""
    total = account.principal_outstanding + account.fees_outstanding + account.penalties_outstanding
    return {"principal": account.principal_outstanding, "fees": account.fees_outstanding,
            "penalties": account.penalties_outstanding, "total": total, "credit_balance": account.credit_balance,
            "amount_to_pay": max(total - account.credit_balance, total * 0)}


def repayment_history(customer_id: int, *, start: date | None, end: date | None):
    """Installments that fell due in [start, end] (end defaults to the business date):
    how many, how many were paid on time, and the worst lateness in days (an unpaid one
    counts as late until ``end``). None when nothing ever fell due."""
    from django.db.models import Count, F, Max, Q
    from django.db.models.functions import Coalesce

    from accounts.services import business_date_get
    from risk.scorecard import RepaymentHistory

    end = end or business_date_get()
    qs = Installment.objects.filter(account__customer_id=customer_id, due_date__lt=end).exclude(
        state=InstallmentState.CANCELLED)
    if start is not None:
        qs = qs.filter(due_date__gte=start)
    row = qs.aggregate(
        due=Count("id"),
        on_time=Count("id", filter=Q(state=InstallmentState.PAID, paid_on__lte=F("due_date"))),
        worst=Max(Coalesce("paid_on", end) - F("due_date")),
    )
    if not row["due"]:
        return None
    worst = row["worst"]
    return RepaymentHistory(installments_due=row["due"], installments_on_time=row["on_time"],
                            max_days_late=max(0, worst.days) if worst is not None else 0)
