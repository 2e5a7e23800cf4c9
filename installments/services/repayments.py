"""Repayments (docs/rules.md §6): allocation of what comes in, its booking in the ledger, and
the limit coming back at once — or held, when the policy says so.

``book_repayments`` is the one implementation: a repayment made by the customer, the credit
balance applied to dues, and an auto-debit the gateway collected all go through it, one
account or a chunk of the nightly close at a time, with a fixed number of statements.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext_lazy

from accounts import clock
from accounts.audit_trail import Actor
from accounts.bulk import Writes, reserve_ids, reserve_ids_sql
from accounts.business_day import business_date_from, business_date_get, business_date_query
from accounts.errors import BusinessRuleRefused, Conflict, NotFound
from accounts.ledger import (
    BALANCE_COLUMNS,
    EntrySpec,
    Leg,
    lock_credit_accounts,
    post_new_entries,
    save_accounts,
)
from accounts.lifecycle import credit_line
from accounts.models import Book, CreditAccount, Notification
from accounts.money import ZERO, to_money
from accounts.outbox import notifications_enqueue
from accounts.request_keys import KeyedRequest, book_keyed
from accounts.round_trips import read_together
from installments import allocation
from installments.models import (
    Installment,
    InstallmentState,
    PaymentAttempt,
    Penalty,
    Repayment,
    RepaymentAllocation,
    RepaymentSource,
    RestorationAlert,
    RestorationHold,
)
from risk.policy import PolicyParams
from risk.selectors import active_policy, active_policy_from, active_policy_query

from .dues import OpenItems, days_past_due, open_items, open_items_from, open_items_queries
from .fees import post_fees
from .holds import hold_rule

logger = logging.getLogger("tally.repayments")


@dataclass(frozen=True)
class Payment:
    """Money to book on a locked account."""

    account: CreditAccount
    amount: Decimal
    reference: str
    source: str
    attempt: PaymentAttempt | None = None
    acting_user: Actor = None


@dataclass
class _Booking:
    """What one payment does, worked out in memory before the chunk's rows are written."""

    payment: Payment
    repayment: Repayment
    parts: list[allocation.Allocation]
    legs: list[Leg]
    hold: tuple[str, int] | None
    principal_before: Decimal
    held_before: Decimal
    installments: list[Installment] = field(default_factory=list)
    penalties: list[Penalty] = field(default_factory=list)
    allocations: list[RepaymentAllocation] = field(default_factory=list)

    def booked(self) -> BookedRepayment:
        return BookedRepayment(self.repayment, self.allocations)


@dataclass(frozen=True)
class BookedRepayment:
    """A repayment as written, with its allocations (the answer is built from them)."""

    repayment: Repayment
    allocations: list[RepaymentAllocation]


def book_repayments(payments: list[Payment], *, today: date, items: dict[int, OpenItems] | None = None,
                    params: PolicyParams | None = None, ids: list[int] | None = None) -> list[BookedRepayment]:
    """Allocate and book payments on locked accounts — at most one per account — inside the
    caller's transaction: fees already due are posted first (paying on a due date never
    skips its fee), then each payment pays penalties, due installments (fee before
    principal) and prepays principal; the principal comes back as available limit at once or
    is held; an account with nothing overdue any more is active again; the customer is told.
    A payment above everything owed is refused (422 ``overpayment``). ``items``: the accounts'
    open items, read with ``open_items(lock=True)`` in this transaction (not read again when no
    fee is left to post); ``params``: the active policy's, read in this transaction; ``ids``: the
    repayments' keys, reserved by the caller (``reserve_ids``), one per payment."""
    if not connection.in_atomic_block:
        raise RuntimeError("book_repayments runs inside the caller's transaction, on locked accounts")
    if not payments:
        return []
    accounts = {p.account.pk: p.account for p in payments}
    if len(accounts) != len(payments):
        raise ValueError("book_repayments takes at most one payment per account")
    params = params or active_policy().parsed
    if items is None or _fees_to_post(items, accounts, today):
        post_fees(accounts, due_by=today)
        items = open_items(list(accounts), lock=True)
    bookings = [_allocate(payment, items[payment.account.pk], params, today) for payment in payments]
    # The repayments' ids first: their entries' keys name them, and each row is written once,
    # with the available limit it left (below). Every row then goes in one statement.
    for booking, pk in zip(bookings, ids or reserve_ids(Repayment, len(bookings)), strict=True):
        booking.repayment.pk = pk
    for booking in bookings:
        booking.payment.account.held_amount += booking.repayment.held_amount
    writes = Writes()
    post_new_entries(writes, [
        EntrySpec(account=b.payment.account, key=f"repayment:{b.repayment.pk}", kind="repayment",
                  business_date=today, legs=[Leg(_funding(b.payment.source), b.payment.amount), *b.legs],
                  description=f"{b.payment.source} {b.payment.reference}", acting_user=b.payment.acting_user)
        for b in bookings])
    alerts, notices = [], []
    for booking in bookings:
        account, repayment = booking.payment.account, booking.repayment
        credit_line.refresh_available_limit(account)
        account.days_past_due = days_past_due(
            [i for i in items[account.pk].installments if i.state == InstallmentState.OPEN], today)
        credit_line.follow_delinquency(account, days_past_due=account.days_past_due, grace_days=params.grace_days,
                                       may_suspend=False)
        repayment.available_limit_after = account.available_limit
        alert = _restoration_alert(booking)
        if alert is not None:
            alerts.append(alert)
        notices.append(_restored_notice(booking))
    writes.insert([b.repayment for b in bookings], with_pk=True)
    for booking in bookings:
        booking.allocations = [
            RepaymentAllocation(repayment=booking.repayment, installment_id=p.installment_id, penalty_id=p.penalty_id,
                                penalty_amount=p.penalty, fee_amount=p.fee, principal_amount=p.principal)
            for p in booking.parts]
    writes.insert([a for b in bookings for a in b.allocations])
    holds: list[RestorationHold] = []
    for b in bookings:
        if b.hold is not None and b.repayment.held_amount:
            assert b.repayment.hold_release_at is not None  # set with the hold (``_allocate``)
            holds.append(RestorationHold(account=b.payment.account, repayment=b.repayment,
                                         amount=b.repayment.held_amount, reason_code=b.hold[0],
                                         release_at=b.repayment.hold_release_at))
    writes.insert(holds)
    writes.update([i for b in bookings for i in b.installments],
                  ["fee_paid", "principal_paid", "state", "paid_on", "fee_waived"])
    writes.update([p for b in bookings for p in b.penalties], ["amount_paid"])
    save_accounts(accounts.values(), [*BALANCE_COLUMNS, "days_past_due", "recovered_amount"], writes=writes)
    writes.insert(alerts)
    notifications_enqueue(notices, writes=writes)
    writes.execute()
    return [b.booked() for b in bookings]


def _fees_to_post(items: dict[int, OpenItems], accounts: dict[int, CreditAccount], today: date) -> bool:
    """Whether ``post_fees(accounts, due_by=today)`` would post anything, from the open items."""
    return any(not i.fee_posted and i.fee > 0 and i.due_date <= today
               for pk in accounts for i in items[pk].installments)


def _funding(source: str) -> str:
    return Book.CUSTOMER_CREDIT if source == RepaymentSource.CREDIT_BALANCE else Book.REPAYMENTS_CLEARING


def payoff_total(account: CreditAccount, items: OpenItems) -> Decimal:
    """Everything the account owes now: its open items, or after a write-off what is still
    recoverable of the amount written off."""
    return account.recoverable if account.written_off_on is not None else items.payoff_total()


def amount_due(account: CreditAccount, items: OpenItems, as_of: date) -> Decimal:
    """What is due on ``as_of``: the dues, or after a write-off everything still recoverable."""
    return account.recoverable if account.written_off_on is not None else items.due_total(as_of)


def _allocate(payment: Payment, items: OpenItems, params: PolicyParams, today: date) -> _Booking:
    """The allocation of one payment over the account's open items, applied in memory."""
    account, amount = payment.account, payment.amount
    payoff = payoff_total(account, items)
    if amount > payoff:
        raise BusinessRuleRefused(gettext_lazy("The amount is more than everything owed."), code="overpayment",
                                  details={"payoff_total": f"{payoff:.2f}"})
    if account.written_off_on is not None:
        return _recover(payment, today)
    open_penalties, open_installments = items.allocation_input()
    parts = allocation.allocate(amount, penalties=open_penalties, installments=open_installments, as_of=today)
    by_penalty = {p.pk: p for p in items.penalties}
    by_installment = {i.pk: i for i in items.installments}
    touched_installments: list[Installment] = []
    touched_penalties: list[Penalty] = []
    legs: list[Leg] = []
    penalty_total = fee_total = principal_total = ZERO
    for part in parts:
        if part.penalty_id:
            penalty = by_penalty[part.penalty_id]
            penalty.amount_paid += part.penalty
            touched_penalties.append(penalty)
            legs.append(Leg(Book.PENALTY_RECEIVABLE, -part.penalty))
            penalty_total += part.penalty
            continue
        assert part.installment_id is not None  # a part pays a penalty or an installment
        inst = by_installment[part.installment_id]
        inst.fee_paid += part.fee
        inst.principal_paid += part.principal
        if inst.principal_unpaid == 0 and inst.fee_unpaid == 0:
            inst.state = InstallmentState.PAID
            inst.paid_on = today
            if not inst.fee_posted:
                inst.fee_waived = inst.fee - inst.fee_paid  # an unbilled fee is never charged
        touched_installments.append(inst)
        if part.fee:
            legs.append(Leg(Book.FEE_RECEIVABLE, -part.fee, inst.pk))
        if part.principal:
            legs.append(Leg(Book.PRINCIPAL_RECEIVABLE, -part.principal, inst.pk))
        fee_total += part.fee
        principal_total += part.principal
    hold = hold_rule(account, params, today) if principal_total else None
    held = principal_total if hold else ZERO
    release_at: datetime | None = clock.now() + timedelta(hours=hold[1]) if hold else None
    repayment = Repayment(
        account=account, reference=payment.reference, source=payment.source, amount=amount,
        penalty_paid=penalty_total, fee_paid=fee_total, principal_paid=principal_total,
        limit_restored=principal_total - held, held_amount=held, hold_release_at=release_at,
        available_limit_after=ZERO, payment_attempt=payment.attempt, business_date=today)
    return _Booking(payment=payment, repayment=repayment, parts=parts, legs=legs, hold=hold,
                    principal_before=account.principal_outstanding, held_before=account.held_amount,
                    installments=touched_installments, penalties=touched_penalties)


def _recover(payment: Payment, today: date) -> _Booking:
    """A payment on a written-off account is a recovery: cash against recovery income, counted
    in the account's ``recovered_amount`` (never above the amount written off)."""
    account, amount = payment.account, payment.amount
    account.recovered_amount += amount
    repayment = Repayment(
        account=account, reference=payment.reference, source=payment.source, amount=amount, recovered=amount,
        penalty_paid=ZERO, fee_paid=ZERO, principal_paid=ZERO, limit_restored=ZERO, held_amount=ZERO,
        available_limit_after=ZERO, payment_attempt=payment.attempt, business_date=today)
    return _Booking(payment=payment, repayment=repayment, parts=[], legs=[Leg(Book.WRITE_OFF_RECOVERY, -amount)],
                    hold=None, principal_before=account.principal_outstanding, held_before=account.held_amount)


def _restoration_alert(booking: _Booking) -> RestorationAlert | None:
    """An alert when a successful repayment neither restored nor held its principal."""
    account, repayment = booking.payment.account, booking.repayment
    restored = booking.principal_before - account.principal_outstanding
    held = account.held_amount - booking.held_before
    if restored == repayment.principal_paid and held == repayment.held_amount \
            and account.available_limit == credit_line.available_limit_for(account):
        return None
    detail = (f"repayment {repayment.reference}: principal {repayment.principal_paid}, outstanding fell by {restored}, "
              f"held {held}")
    logger.error("RESTORATION ALERT account %s: %s", account.pk, detail)
    return RestorationAlert(account=account, repayment=repayment, detail=detail)


def _restored_notice(booking: _Booking) -> Notification:
    account, repayment = booking.payment.account, booking.repayment
    if repayment.recovered:
        return Notification(customer_id=account.customer_id, account=account, kind="recovery_received",
                            event_key=f"repayment:{repayment.pk}",
                            params={"amount": f"{repayment.amount:.2f}", "recoverable": f"{account.recoverable:.2f}"})
    held = repayment.held_amount
    return Notification(
        customer_id=account.customer_id, account=account, kind="limit_held" if held else "limit_restored",
        event_key=f"repayment:{repayment.pk}",
        params={"amount": f"{repayment.amount:.2f}", "restored": f"{repayment.principal_paid - held:.2f}",
                "held": f"{held:.2f}",
                "release_at": repayment.hold_release_at.isoformat() if repayment.hold_release_at else "",
                "available_limit": f"{account.available_limit:.2f}"})


# --- what the customer pays ----------------------------------------------------------------------


@dataclass(frozen=True)
class RepaymentResult:
    repayment: Repayment
    created: bool
    allocations: list[RepaymentAllocation] | None = None  # as written (None: found again, read them)


def repayment_create(*, account_id: int, reference: str, amount: Decimal, acting_user: Actor = None,
                     request_key: KeyedRequest | None = None) -> RepaymentResult:
    """A repayment made by the customer. ``reference`` is the storefront's, unique per account
    among the customer's repayments (the system's own references — auto-debit, credit balance —
    are another namespace): the same reference and amount again returns the first repayment.
    ``request_key``: the API's Idempotency-Key, taken and answered in the repayment's own
    transaction. The account's open items are read under lock once; fees fall due are posted
    first only when there are some."""
    amount = to_money(amount)
    if amount <= 0:
        raise BusinessRuleRefused(gettext_lazy("The amount must be positive."), code="invalid_amount")

    def repay() -> RepaymentResult:
        # one round trip: the account locked, the reference, the business date, the open items
        # locked (in the order the close locks them), the active policy and the repayment's key
        accounts, existing, calendar, penalties, installments, policies, ids = read_together(
            CreditAccount.objects.select_for_update().filter(pk=account_id),
            Repayment.objects.filter(account_id=account_id, source=RepaymentSource.MANUAL, reference=reference)[:1],
            business_date_query(), *open_items_queries([account_id], lock=True), active_policy_query()[:1],
            reserve_ids_sql(Repayment, 1))
        if not accounts:
            raise NotFound(gettext_lazy("No such credit account."))
        if existing:
            if existing[0].amount == amount:
                return RepaymentResult(existing[0], False)
            raise Conflict(gettext_lazy("This reference was already used with a different amount."),
                           code="duplicate_reference", details={"repayment_id": str(existing[0].pk)})
        [booked] = book_repayments([Payment(account=accounts[0], amount=amount, reference=reference,
                                            source=RepaymentSource.MANUAL, acting_user=acting_user)],
                                   today=business_date_from(calendar), items=open_items_from(penalties, installments),
                                   params=active_policy_from(policies).parsed, ids=[row[0] for row in ids])
        return RepaymentResult(booked.repayment, True, booked.allocations)

    return book_keyed(request_key, repay)


# --- the credit balance --------------------------------------------------------------------------


def credit_balance_payments(accounts: list[CreditAccount], *, today: date, whole_debt: bool = False) -> list[Payment]:
    """What the credit balances of these locked accounts pay on ``today``, before any card is
    charged: their dues (after a write-off, what is still recoverable), at most once a day per
    account; ``whole_debt``: everything owed (at write-off)."""
    holders = [a for a in accounts if a.credit_balance > 0]
    if not holders:
        return []
    reference = f"credit:{today.isoformat()}" + (":payoff" if whole_debt else "")
    applied = set(Repayment.objects.filter(account_id__any_of=[a.pk for a in holders], source=RepaymentSource.CREDIT_BALANCE,
                                           reference=reference)
                  .values_list("account_id", flat=True))
    items = open_items([a.pk for a in holders if a.pk not in applied], lock=False)
    payments = []
    for account in holders:
        if account.pk in applied:
            continue
        owed = payoff_total(account, items[account.pk]) if whole_debt else amount_due(account, items[account.pk], today)
        amount = min(owed, account.credit_balance)
        if amount > 0:
            payments.append(Payment(account=account, amount=amount, reference=reference,
                                    source=RepaymentSource.CREDIT_BALANCE))
    return payments


def credit_balances_apply_accounts(*, account_ids: list[int], business_date: date) -> int:
    """The close's step before auto-debit, for a chunk of accounts: each credit balance pays
    the day's dues, whether or not the account has a card or auto-debit (docs/rules.md §6).
    Idempotent per (account, day). Returns how many accounts it paid for."""
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        payments = credit_balance_payments([accounts[pk] for pk in sorted(accounts)], today=business_date)
        book_repayments(payments, today=business_date_get())
    return len(payments)
