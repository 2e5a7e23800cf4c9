"""Settling payment attempts with what the gateway says (docs/rules.md §6): a charge that
succeeded is booked as a repayment (anything the dues no longer need becomes credit balance —
never lost, never taken twice); a decline is retried on the policy's ladder; a hard decline
waits for a new card; no answer — or one that is neither — is ``unknown`` and is asked again
(reconciliation: every 15 minutes during the day and at the close), never charged blind."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit_trail import audit_record
from accounts.bulk import update_rows
from accounts.business_day import business_date_get
from accounts.ledger import BALANCE_COLUMNS, EntrySpec, Leg, lock_credit_accounts, post_entries, save_accounts
from accounts.models import Book, CreditAccount, Notification
from accounts.outbox import notifications_enqueue
from installments.gateway import CLEAR_CHARGE_ANSWERS, ChargeResult, get_gateway
from installments.models import AttemptStatus, CreditBalancePayout, PaymentAttempt, RepaymentSource
from risk.selectors import active_policy

from .dues import open_items
from .payouts import payouts_reconcile, payouts_to_reconcile
from .repayments import Payment, book_repayments, payoff_total
from .terms import Terms, collection_terms

logger = logging.getLogger("tally.repayments")

UNRESOLVED = (AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN)


def retry_on(attempt: PaymentAttempt, terms: Terms) -> date:
    """The next try of a declined attempt's series: the loan's ladder (D+1, D+3, D+7), then
    every ``debit_recovery_interval_days`` until paid, written off or hard-declined."""
    offsets = terms.debit_retry_offsets_days
    if attempt.retry_number < len(offsets):
        return attempt.series_start + timedelta(days=offsets[attempt.retry_number])
    return attempt.business_date + timedelta(days=terms.debit_recovery_interval_days)


def settle_attempts(attempts: list[PaymentAttempt], results: dict[int, ChargeResult | None], *,
                    reconciling: bool = False) -> dict[str, int]:
    """Settle attempts with the gateway's answers (None: no answer) in one transaction; an
    attempt already settled meanwhile is left alone. ``reconciling``: the answers come from
    status queries about unknown attempts (each settlement is then audited). Returns how
    many ended in each status."""
    if not attempts:
        return {}
    outcomes: dict[str, int] = {}
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(sorted({a.account_id for a in attempts}))
        locked = {a.pk: a for a in PaymentAttempt.objects.select_for_update()
                  .filter(pk__any_of=[a.pk for a in attempts]).order_by("pk")}
        terms: dict[int, Terms] = {}  # read on the first decline: a chunk of successes needs none
        now = timezone.now()
        notices: list[Notification] = []
        collected: list[tuple[CreditAccount, PaymentAttempt]] = []
        settled: list[PaymentAttempt] = []
        for attempt in sorted(locked.values(), key=lambda a: (a.account_id, a.pk)):
            if attempt.status not in UNRESOLVED:
                continue
            before, result, account = attempt.status, results[attempt.pk], accounts[attempt.account_id]
            if result is None or result.status not in CLEAR_CHARGE_ANSWERS:
                attempt.status = AttemptStatus.UNKNOWN  # no answer, or one that is not clear: asked again later
            elif result.status == "succeeded":
                attempt.status = AttemptStatus.SUCCEEDED
                collected.append((account, attempt))
            elif result.status == "declined":
                attempt.status = AttemptStatus.DECLINED
                attempt.decline_code = result.decline_code
                if not terms:
                    terms = collection_terms(sorted(accounts), default=Terms.of_policy(active_policy().parsed))
                attempt.retry_on = retry_on(attempt, terms[account.pk])
            else:
                attempt.status = AttemptStatus.HARD_DECLINED
                attempt.decline_code = result.decline_code or "hard_decline"
            if attempt.status in (AttemptStatus.DECLINED, AttemptStatus.HARD_DECLINED):
                notices.append(debit_failed_notice(account, attempt))
            attempt.gateway_reference = (result.reference if result is not None else "") or attempt.gateway_reference
            attempt.updated_at = now
            settled.append(attempt)
            outcomes[attempt.status] = outcomes.get(attempt.status, 0) + 1
            if reconciling and attempt.status != before:
                _audit_reconciled(attempt, before)
        update_rows(settled, ["status", "decline_code", "gateway_reference", "retry_on", "updated_at"])
        _book_collected(collected)
        notifications_enqueue(notices)
    return outcomes


def _book_collected(collected: list[tuple[CreditAccount, PaymentAttempt]]) -> None:
    """Money the gateway took: allocate what is still owed; what the dues no longer need (the
    customer paid meanwhile) becomes credit balance."""
    if not collected:
        return
    owed = open_items([account.pk for account, _attempt in collected], lock=True)
    payments, surplus = [], []
    for account, attempt in collected:
        to_allocate = min(attempt.amount, payoff_total(account, owed[account.pk]))
        if to_allocate > 0:
            payments.append(Payment(account=account, amount=to_allocate, reference=attempt.idempotency_key,
                                    source=RepaymentSource.AUTO_DEBIT, attempt=attempt))
        if attempt.amount > to_allocate:
            surplus.append((account, attempt, attempt.amount - to_allocate))
    book_repayments(payments, today=business_date_get(), items=owed)
    post_entries([EntrySpec(account=account, key=f"{attempt.idempotency_key}:surplus", kind="surplus_to_credit",
                            business_date=attempt.business_date,
                            description="auto-debit surplus kept as credit balance",
                            legs=[Leg(Book.REPAYMENTS_CLEARING, amount), Leg(Book.CUSTOMER_CREDIT, -amount)])
                  for account, attempt, amount in surplus])
    save_accounts([account for account, _attempt, _amount in surplus], BALANCE_COLUMNS)


def debit_failed_notice(account: CreditAccount, attempt: PaymentAttempt) -> Notification:
    return Notification(
        customer_id=account.customer_id, account=account, kind="debit_failed", event_key=f"debit-failed:{attempt.pk}",
        params={"amount": f"{attempt.amount:.2f}", "decline_code": attempt.decline_code,
                "retry_on": attempt.retry_on.isoformat() if attempt.retry_on else "",
                "card_closed": attempt.status == AttemptStatus.HARD_DECLINED})


def _audit_reconciled(attempt: PaymentAttempt, before: str) -> None:
    """Settling an attempt whose outcome was unknown (or left submitted by a crash) is a
    recorded transition; the common submitted → settled path is recorded on the attempt row
    itself."""
    audit_record(acting_user=None, action="payment_attempt.reconciled", obj=attempt, before={"status": before},
                 after={"status": attempt.status, "gateway_reference": attempt.gateway_reference},
                 reason="outcome asked from the gateway")


def reconcile_attempts(*, attempt_ids: list[int], business_date: date) -> dict[str, int]:
    """Ask the gateway what happened to unknown (or crashed) attempts, then settle them: the
    close's `reconcile_unknown_attempts` step. An attempt the gateway never saw was not charged: it is retried by the
    next auto-debit run (today's, when today has no attempt yet)."""
    attempts = list(PaymentAttempt.objects.filter(pk__any_of=attempt_ids, status__in=UNRESOLVED).order_by("pk"))
    gateway = get_gateway()
    answers: dict[int, ChargeResult | None] = {}
    unseen: list[PaymentAttempt] = []
    for attempt in attempts:
        status = gateway.status(idempotency_key=attempt.idempotency_key)
        if status.found:
            answers[attempt.pk] = ChargeResult(status.status, "", status.reference)
        else:
            unseen.append(attempt)
    outcomes = settle_attempts([a for a in attempts if a.pk in answers], answers, reconciling=True)
    if unseen:
        outcomes[AttemptStatus.NOT_CHARGED] = _not_charged(unseen, business_date)
    return outcomes


def _not_charged(attempts: list[PaymentAttempt], business_date: date) -> int:
    with transaction.atomic(durable=True):
        lock_credit_accounts(sorted({a.account_id for a in attempts}))
        marked = 0
        for attempt in PaymentAttempt.objects.select_for_update().filter(pk__any_of=[a.pk for a in attempts]).order_by("pk"):
            if attempt.status not in UNRESOLVED:
                continue
            before = attempt.status
            attempt.status = AttemptStatus.NOT_CHARGED
            attempt.retry_on = business_date if attempt.business_date < business_date else business_date + timedelta(1)
            attempt.save(update_fields=["status", "retry_on", "updated_at"])
            _audit_reconciled(attempt, before)
            marked += 1
    return marked


# --- during the day (docs/rules.md §6: unknown means unknown) ------------------------------------

# An attempt still ``submitted`` this long after it was written lost its sender (the close's
# auto-debit calls the gateway right after committing its attempts).
SUBMITTED_STALE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Reconciled:
    kind: str  # "attempt" | "payout"
    id: int
    key: str
    before: str
    after: str


def payments_reconcile() -> list[Reconciled]:
    """Ask the gateway now about every payment attempt and payout whose outcome is unknown
    (and those a crash left ``submitted``) and settle them — what the 15-minute beat job and
    ``manage.py reconcile_payments`` run: money the gateway took is booked (the limit comes
    back) within minutes, not at the next close. One row per attempt or payout asked about."""
    stale = timezone.now() - SUBMITTED_STALE_AFTER
    attempts = {a.pk: a for a in PaymentAttempt.objects.filter(
        Q(status=AttemptStatus.UNKNOWN) | Q(status=AttemptStatus.SUBMITTED, updated_at__lt=stale)).order_by("pk")}
    if attempts:
        reconcile_attempts(attempt_ids=list(attempts), business_date=business_date_get())
    payouts = {p.pk: p for p in CreditBalancePayout.objects.filter(pk__in=payouts_to_reconcile())}
    if payouts:
        payouts_reconcile(list(payouts))
    after_attempts = dict(PaymentAttempt.objects.filter(pk__in=list(attempts)).values_list("id", "status"))
    after_payouts = dict(CreditBalancePayout.objects.filter(pk__in=list(payouts)).values_list("id", "status"))
    return ([Reconciled("attempt", pk, a.idempotency_key, a.status, after_attempts[pk]) for pk, a in attempts.items()]
            + [Reconciled("payout", pk, p.idempotency_key, p.status, after_payouts[pk]) for pk, p in payouts.items()])
