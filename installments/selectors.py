"""Reads of purchases, installments and statements."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from accounts.business_day import business_date_get
from accounts.lifecycle.states import AccountStatus
from accounts.models import DELINQUENCY_BUCKETS, MONEY, CreditAccount, delinquency_bucket_q
from accounts.money import ZERO
from risk.policy import BOUNDS
from risk.scorecard import RepaymentHistory
from risk.selectors import active_policy

from .models import AttemptStatus, Installment, InstallmentState, PaymentAttempt, RestorationHold, Statement
from .services.terms import Terms, collection_terms

INSTALLMENT_FILTERS = ("due", "overdue", "paid", "open", "cancelled", "written_off")


def installments_for(account_id: int, *, status: str | None, business_date: date) -> QuerySet[Installment]:
    """``status`` as shown on each installment: open (not yet due), due (today), overdue,
    paid, cancelled, written off."""
    qs = Installment.objects.filter(account_id=account_id).order_by("due_date", "id")
    if status == "paid":
        return qs.filter(state=InstallmentState.PAID)
    if status == "cancelled":
        return qs.filter(state=InstallmentState.CANCELLED)
    if status == "written_off":
        return qs.filter(state=InstallmentState.WRITTEN_OFF)
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
    """All unpaid principal + fees and penalties already posted (docs/rules.md §5); after a
    write-off, what is still recoverable (``recoverable``, also the total)."""
    if account.written_off_on is not None:
        total = account.recoverable
        return {"principal": ZERO, "fees": ZERO, "penalties": ZERO, "total": total, "recoverable": total,
                "credit_balance": account.credit_balance,
                "amount_to_pay": max(total - account.credit_balance, ZERO)}
    total = account.principal_outstanding + account.fees_outstanding + account.penalties_outstanding
    return {"principal": account.principal_outstanding, "fees": account.fees_outstanding,
            "penalties": account.penalties_outstanding, "total": total, "credit_balance": account.credit_balance,
            "recoverable": ZERO, "amount_to_pay": max(total - account.credit_balance, ZERO)}


def repayment_history(customer_ids: list[int], *, start: date | None, end: date | None) -> RepaymentHistory | None:
    """Installments of these customers that fell due in [start, end] (end defaults to the
    business date): how many, how many were paid on time, and the worst lateness in days (an
    unpaid one counts as late until ``end``; a written-off one is unpaid — missed — for good).
    None when nothing ever fell due. A cancelled installment (refunded or converted) is not
    history."""
    end = end or business_date_get()
    qs = Installment.objects.filter(account__customer_id__in=customer_ids, due_date__lt=end).exclude(
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


# --- the nightly close's pickers: which accounts (or attempts) each step works on -------------


def attempts_to_reconcile(business_date: date) -> list[int]:
    """Attempts of earlier days still unknown (or left submitted by a crash). Today's unknown
    attempts wait for tomorrow's first step, so running a day twice changes nothing twice."""
    return list(PaymentAttempt.objects.filter(status__in=[AttemptStatus.UNKNOWN, AttemptStatus.SUBMITTED],
                                              business_date__lt=business_date)
                .order_by("id").values_list("id", flat=True))


def accounts_overdue(business_date: date) -> list[int]:
    """Accounts with an open installment due before ``business_date`` (penalties)."""
    return list(Installment.objects.filter(state=InstallmentState.OPEN, due_date__lt=business_date)
                .values_list("account_id", flat=True).distinct().order_by("account_id"))


def accounts_to_classify(business_date: date) -> list[int]:
    """Accounts overdue, or marked overdue or suspended for delinquency (days past due)."""
    overdue = set(accounts_overdue(business_date))
    flagged = set(CreditAccount.objects.filter(Q(days_past_due__gt=0)
                                               | Q(status=AccountStatus.SUSPENDED, paused_by_customer=False))
                  .values_list("id", flat=True))
    return sorted(overdue | flagged)


def accounts_to_bill(business_date: date) -> list[int]:
    """Accounts whose billing day is ``business_date`` and that owe something — a closed
    account too: closed for cause, it is billed as a suspended one is."""
    return list(CreditAccount.objects.filter(billing_day=business_date.day)
                .filter(installments__state=InstallmentState.OPEN).distinct().order_by("id")
                .values_list("id", flat=True))


def accounts_with_fees_due(business_date: date) -> list[int]:
    return list(Installment.objects.filter(due_date=business_date, fee_posted=False, state=InstallmentState.OPEN,
                                           fee__gt=0).values_list("account_id", flat=True).distinct()
                .order_by("account_id"))


def accounts_to_debit(business_date: date) -> list[int]:
    """Accounts with installments due on ``business_date``, a retry scheduled for it, a new
    repayment card since their last attempt was hard-declined, or written off the day before
    with something still recoverable (the first recovery attempt)."""
    due = set(Installment.objects.filter(state=InstallmentState.OPEN, due_date=business_date)
              .values_list("account_id", flat=True).distinct())
    retries = set(PaymentAttempt.objects.filter(retry_on=business_date,
                                                status__in=[AttemptStatus.DECLINED, AttemptStatus.NOT_CHARGED])
                  .values_list("account_id", flat=True))
    written_off = set(CreditAccount.objects.filter(written_off_on=business_date - timedelta(days=1),
                                                   written_off_amount__gt=F("recovered_amount"))
                      .values_list("id", flat=True))
    return sorted(due | retries | written_off | set(_new_card_after_hard_decline()))


def _new_card_after_hard_decline() -> list[int]:
    """Accounts whose latest attempt was hard-declined on a card other than today's."""
    hard = (PaymentAttempt.objects.filter(status=AttemptStatus.HARD_DECLINED)
            .exclude(card_token=F("account__repayment_card_token")).values_list("account_id", flat=True).distinct())
    latest = (PaymentAttempt.objects.filter(account_id__in=list(hard)).order_by("account_id", "-business_date", "-id")
              .distinct("account_id").values_list("account_id", "status"))
    return [account_id for account_id, status in latest if status == AttemptStatus.HARD_DECLINED]


def accounts_with_credit_to_apply(business_date: date) -> list[int]:
    """Accounts holding a credit balance with something due on ``business_date`` (or still
    recoverable after a write-off)."""
    owing = Q(installments__state=InstallmentState.OPEN, installments__due_date__lte=business_date) | Q(
        written_off_amount__gt=F("recovered_amount"))
    return list(CreditAccount.objects.filter(credit_balance__gt=0).filter(owing).distinct().order_by("id")
                .values_list("id", flat=True))


def accounts_with_holds_due(until: datetime) -> list[int]:
    return sorted(RestorationHold.objects.filter(released_at__isnull=True, release_at__lte=until)
                  .values_list("account_id", flat=True).distinct())


def accounts_to_write_off(business_date: date) -> list[int]:
    """Accounts not yet written off (open, or closed for cause) more days past due than the
    write-off age of the loan they are collected under (``terms.collection_terms``)."""
    floor = min(BOUNDS["write_off_days"][0], active_policy().parsed.write_off_days)  # no loan's age is lower
    candidates = dict(CreditAccount.objects.filter(written_off_on__isnull=True, days_past_due__gt=floor)
                      .values_list("id", "days_past_due"))
    terms = collection_terms(sorted(candidates), default=Terms.of_policy(active_policy().parsed))
    return [pk for pk in sorted(candidates) if candidates[pk] > terms[pk].write_off_days]


# --- the collections queue (docs/rules.md §7) ----------------------------------------------------

COLLECTION_BUCKETS = [name for name in DELINQUENCY_BUCKETS if name != "current"]


def collections_queue(*, business_date: date, bucket: str | None = None) -> QuerySet[CreditAccount]:
    """Accounts with days past due, most overdue first. ``overdue_amount`` is the unpaid
    principal and posted unpaid fees of installments due before ``business_date`` plus the
    unpaid penalties (all overdue by nature; the account's column moves with the ledger);
    ``last_attempt_*`` describe the latest auto-debit attempt. One query, whatever the rows."""
    money: DecimalField[Decimal, Decimal] = DecimalField(**MONEY)
    overdue_installments = (
        Installment.objects.filter(account=OuterRef("pk"), state=InstallmentState.OPEN, due_date__lt=business_date)
        .order_by().values("account")
        .annotate(total=Sum(F("principal") - F("principal_paid") - F("principal_cancelled")
                            + Case(When(fee_posted=True, then=F("fee") - F("fee_paid") - F("fee_waived")),
                                   default=Value(ZERO), output_field=money), output_field=money))
        .values("total"))
    last_attempt = PaymentAttempt.objects.filter(account=OuterRef("pk")).order_by("-business_date", "-id")
    queryset = (
        CreditAccount.objects.filter(days_past_due__gt=0).select_related("customer")
        .annotate(
            overdue_amount=Coalesce(Subquery(overdue_installments, output_field=money), Value(ZERO),
                                    output_field=money) + F("penalties_outstanding"),
            last_attempt_on=Subquery(last_attempt.values("business_date")[:1]),
            last_attempt_status=Subquery(last_attempt.values("status")[:1]),
            last_attempt_decline_code=Subquery(last_attempt.values("decline_code")[:1]),
        )
        .order_by("-days_past_due", "id"))
    if bucket in COLLECTION_BUCKETS:
        queryset = queryset.filter(delinquency_bucket_q(bucket))
    return queryset


def collections_bucket_counts() -> dict[str, int]:
    counts = CreditAccount.objects.filter(days_past_due__gt=0).aggregate(
        total=Count("id"),
        **{f"b{n}": Count("id", filter=delinquency_bucket_q(name)) for n, name in enumerate(COLLECTION_BUCKETS)})
    return {"": counts["total"], **{name: counts[f"b{n}"] for n, name in enumerate(COLLECTION_BUCKETS)}}
