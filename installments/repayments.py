"""Repayments, restoration holds, auto-debit with reconciliation, penalties and delinquency
(DOMAIN.md §6–7). Money moves only through ``accounts.ledger`` with the account row locked;
the gateway is called with no transaction open."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts import services as account_services
from accounts.bulk import update_rows
from accounts.errors import BusinessRuleRefused, Conflict, PermissionRefused
from accounts.ledger import (
    BALANCE_COLUMNS,
    EntrySpec,
    Leg,
    available_limit_for,
    lock_credit_account,
    lock_credit_accounts,
    post_entries,
    post_entry,
    save_accounts,
)
from accounts.models import AccountStatus, Book, CreditAccount, Notification
from accounts.money import ZERO, round_half_up, to_money
from risk.selectors import active_policy

from . import allocation
from .gateway import ChargeResult, GatewayTimeout, get_gateway
from .models import (
    AttemptStatus,
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

logger = logging.getLogger("tally.repayments")


# --- what is owed ------------------------------------------------------------------------------


def _open_items(account: CreditAccount, *, lock: bool) -> tuple[list[Penalty], list[Installment]]:
    penalties = Penalty.objects.filter(account=account).filter(amount__gt=0).order_by("business_date", "id")
    installments = Installment.objects.filter(account=account, state=InstallmentState.OPEN).order_by("due_date", "id")
    if lock:
        penalties = penalties.select_for_update()
        installments = installments.select_for_update()
    return [p for p in penalties if p.unpaid > 0], list(installments)


def _as_allocation_input(penalties: list[Penalty], installments: list[Installment]):
    return ([allocation.OpenPenalty(p.pk, p.business_date, p.unpaid) for p in penalties],
            [allocation.OpenInstallment(i.pk, i.due_date, i.fee_unpaid, i.principal_unpaid) for i in installments])


def days_past_due(installments: list[Installment], as_of: date) -> int:
    """Days since the oldest installment still unpaid after its due date (0: nothing overdue)."""
    oldest = oldest_overdue_date(installments, as_of)
    return (as_of - oldest).days if oldest else 0


def oldest_overdue_date(installments: list[Installment], as_of: date) -> date | None:
    overdue = [i.due_date for i in installments
               if i.due_date < as_of and (i.principal_unpaid > 0 or i.fee_unpaid > 0)]
    return min(overdue, default=None)


# --- restoration holds ------------------------------------------------------------------------


def _hold_rule(account: CreditAccount, params, today: date) -> tuple[str, int] | None:
    """The first hold rule of the policy that applies: (reason code, hours)."""
    for rule in params.restoration_hold_rules:
        max_age = rule.get("max_account_age_days")
        if max_age is not None and (today - (account.reopened_on or account.opened_on)).days < int(max_age):
            return str(rule.get("code", "NEW_ACCOUNT")), int(rule.get("hold_hours", 72))
    return None


# --- repayments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepaymentResult:
    repayment: Repayment
    created: bool


def _book_repayment(account: CreditAccount, *, amount: Decimal, reference: str, source: str,
                    attempt: PaymentAttempt | None = None, acting_user: AbstractBaseUser | None = None) -> Repayment:
    """Allocate and book one repayment on a locked account (inside the caller's transaction)."""
    today = account_services.business_date_get()
    _post_fees_due_by(account, today)
    penalties, installments = _open_items(account, lock=True)
    open_penalties, open_installments = _as_allocation_input(penalties, installments)
    payoff = allocation.payoff_total(open_penalties, open_installments)
    if amount > payoff:
        raise BusinessRuleRefused(gettext_lazy("The amount is more than everything owed."), code="overpayment",
                                  details={"payoff_total": f"{payoff:.2f}"})
    parts = allocation.allocate(amount, penalties=open_penalties, installments=open_installments, as_of=today)
    by_penalty = {p.pk: p for p in penalties}
    by_installment = {i.pk: i for i in installments}
    legs: list[Leg] = []
    penalty_total = fee_total = principal_total = ZERO
    for part in parts:
        if part.penalty_id:
            penalty = by_penalty[part.penalty_id]
            penalty.amount_paid += part.penalty
            penalty.save(update_fields=["amount_paid"])
            legs.append(Leg(Book.PENALTY_RECEIVABLE, -part.penalty))
            penalty_total += part.penalty
            continue
        inst = by_installment[part.installment_id]
        inst.fee_paid += part.fee
        inst.principal_paid += part.principal
        if inst.principal_unpaid == 0 and inst.fee_unpaid == 0:
            inst.state = InstallmentState.PAID
            inst.paid_on = today
            if not inst.fee_posted:
                inst.fee_waived = inst.fee - inst.fee_paid  # an unbilled fee is never charged
        inst.save()
        if part.fee:
            legs.append(Leg(Book.FEE_RECEIVABLE, -part.fee, inst.pk))
        if part.principal:
            legs.append(Leg(Book.PRINCIPAL_RECEIVABLE, -part.principal, inst.pk))
        fee_total += part.fee
        principal_total += part.principal
    funding = Book.CUSTOMER_CREDIT if source == RepaymentSource.CREDIT_BALANCE else Book.REPAYMENTS_CLEARING
    principal_before = account.principal_outstanding
    held_before = account.held_amount
    hold = _hold_rule(account, active_policy().parsed, today) if principal_total else None
    held = principal_total if hold else ZERO
    release_at = timezone.now() + timedelta(hours=hold[1]) if hold else None
    repayment = Repayment.objects.create(
        account=account, reference=reference, source=source, amount=amount, penalty_paid=penalty_total,
        fee_paid=fee_total, principal_paid=principal_total, limit_restored=principal_total - held, held_amount=held,
        hold_release_at=release_at, available_limit_after=ZERO, payment_attempt=attempt, business_date=today)
    RepaymentAllocation.objects.bulk_create([
        RepaymentAllocation(repayment=repayment, installment_id=p.installment_id, penalty_id=p.penalty_id,
                            penalty_amount=p.penalty, fee_amount=p.fee, principal_amount=p.principal)
        for p in parts])
    if held:
        account.held_amount += held
        RestorationHold.objects.create(account=account, repayment=repayment, amount=held, reason_code=hold[0],
                                       release_at=release_at)
    post_entry(account=account, key=f"repayment:{repayment.pk}", new_key=True, kind="repayment", business_date=today,
               legs=[Leg(funding, amount), *legs], description=f"{source} {reference}", acting_user=acting_user)
    account.available_limit = available_limit_for(account)
    _refresh_delinquency(account, installments, today)
    account.save(update_fields=["held_amount", "available_limit", "days_past_due", "updated_at"])
    repayment.available_limit_after = account.available_limit
    repayment.save(update_fields=["available_limit_after"])
    _check_restoration(account, repayment, principal_before=principal_before, held_before=held_before)
    account_services.notification_enqueue(
        customer=account.customer, account=account, kind="limit_held" if held else "limit_restored",
        event_key=f"repayment:{repayment.pk}",
        params={"amount": f"{amount:.2f}", "restored": f"{principal_total - held:.2f}", "held": f"{held:.2f}",
                "release_at": release_at.isoformat() if release_at else "",
                "available_limit": f"{account.available_limit:.2f}"})
    return repayment


def _post_fees_due_by(account: CreditAccount, today: date) -> None:
    """A fee is owed from its due date: a repayment made during the due date (before that
    night's close posts it) posts it first, so paying on the due date never skips the fee."""
    from .services import fees_post_due

    due_dates = (Installment.objects.filter(account=account, state=InstallmentState.OPEN, fee_posted=False,
                                            fee__gt=0, due_date__lte=today)
                 .values_list("due_date", flat=True).distinct())
    for due_date in sorted(due_dates):
        fees_post_due(account_id=account.pk, business_date=due_date)
    if due_dates:
        account.refresh_from_db()


def _check_restoration(account: CreditAccount, repayment: Repayment, *, principal_before: Decimal,
                       held_before: Decimal) -> None:
    """Alert when a successful repayment neither restored nor held its principal."""
    restored = principal_before - account.principal_outstanding
    held = account.held_amount - held_before
    if restored == repayment.principal_paid and held == repayment.held_amount \
            and account.available_limit == available_limit_for(account):
        return
    detail = (f"repayment {repayment.reference}: principal {repayment.principal_paid}, outstanding fell by {restored}, "
              f"held {held}")
    logger.error("RESTORATION ALERT account %s: %s", account.pk, detail)
    RestorationAlert.objects.create(account=account, repayment=repayment, detail=detail)


def _refresh_delinquency(account: CreditAccount, installments: list[Installment], today: date) -> None:
    """After money comes in: nothing overdue → days past due 0 and, if suspended for
    delinquency (not paused by the customer), active again the same day."""
    account.days_past_due = days_past_due([i for i in installments if i.state == InstallmentState.OPEN], today)
    if account.days_past_due == 0 and account.status == AccountStatus.SUSPENDED and not account.paused_by_customer:
        account.reactivate()
        account.save(update_fields=["status"])
        account_services.record_status_change(account, from_status=AccountStatus.SUSPENDED,
                                              reason_code="OVERDUE_CLEARED", note="", acting_user=None)


def repayment_create(*, account_id: int, reference: str, amount: Decimal,
                     acting_user: AbstractBaseUser | None = None) -> RepaymentResult:
    """A repayment made by the customer. ``reference`` is unique per account: the same
    reference and amount again returns the first repayment."""
    amount = to_money(amount)
    if amount <= 0:
        raise BusinessRuleRefused(gettext_lazy("The amount must be positive."), code="invalid_amount")
    with transaction.atomic():
        account = lock_credit_account(account_id)
        existing = Repayment.objects.filter(account=account, reference=reference).first()
        if existing is not None:
            if existing.amount == amount:
                return RepaymentResult(existing, False)
            raise Conflict(gettext_lazy("This reference was already used with a different amount."), code="duplicate_reference",
                           details={"repayment_id": str(existing.pk)})
        repayment = _book_repayment(account, amount=amount, reference=reference, source=RepaymentSource.MANUAL,
                                    acting_user=acting_user)
    return RepaymentResult(repayment, True)


def credit_balance_apply(account: CreditAccount, *, today: date) -> Repayment | None:
    """Credit balance pays dues first (locked account, inside a transaction)."""
    reference = f"credit:{today.isoformat()}"
    if account.credit_balance <= 0 or Repayment.objects.filter(account=account, reference=reference).exists():
        return None
    penalties, installments = _open_items(account, lock=False)
    due = allocation.due_total(*_as_allocation_input(penalties, installments), as_of=today)
    amount = min(due, account.credit_balance)
    if amount <= 0:
        return None
    return _book_repayment(account, amount=amount, reference=reference, source=RepaymentSource.CREDIT_BALANCE)


# --- restoration hold release --------------------------------------------------------------------


def holds_release(*, account_id: int, until: datetime, acting_user: AbstractBaseUser | None = None,
                  hold_id: int | None = None, reason: str = "") -> Decimal:
    """Release holds of one account due by ``until`` (the nightly close and the sweep), or
    one hold now (``hold_id``: a member of staff with ``installments.release_restorationhold``)."""
    if hold_id is not None and not (acting_user is not None
                                    and acting_user.has_perm("installments.release_restorationhold")):
        raise PermissionRefused(gettext_lazy("You may not release restoration holds early."))
    with transaction.atomic():
        account = lock_credit_account(account_id)
        holds = RestorationHold.objects.select_for_update().filter(account=account, released_at__isnull=True)
        holds = holds.filter(pk=hold_id) if hold_id else holds.filter(release_at__lte=until)
        released = ZERO
        released_holds = []
        for hold in holds:
            hold.released_at = timezone.now()
            hold.released_by = acting_user if getattr(acting_user, "pk", None) else None
            hold.save(update_fields=["released_at", "released_by"])
            released += hold.amount
            released_holds.append(hold)
        if released:
            held_before = account.held_amount
            account.held_amount -= released
            account.available_limit = available_limit_for(account)
            account.save(update_fields=["held_amount", "available_limit", "updated_at"])
            account_services.audit_record(acting_user=acting_user, action="restoration_hold.released", obj=account,
                                          before={"held_amount": str(held_before)},
                                          after={"released": str(released), "held_amount": str(account.held_amount)},
                                          reason=reason or ("early release" if hold_id else "hold time reached"))
            for hold in released_holds:
                account_services.notification_enqueue(
                    customer=account.customer, account=account, kind="limit_restored",
                    event_key=f"hold-released:{hold.pk}",
                    params={"restored": f"{hold.amount:.2f}", "held": "0.00", "release_at": "",
                            "available_limit": f"{account.available_limit:.2f}"})
    return released


def accounts_with_holds_due(until: datetime) -> list[int]:
    return list(RestorationHold.objects.filter(released_at__isnull=True, release_at__lte=until)
                .values_list("account_id", flat=True).distinct())


# --- auto-debit --------------------------------------------------------------------------------


def _retry_on(attempt: PaymentAttempt, params) -> date | None:
    offsets = params.debit_retry_offsets_days
    if attempt.retry_number < len(offsets):
        return attempt.series_start + timedelta(days=offsets[attempt.retry_number])
    return None


def auto_debit_account(*, account_id: int, business_date: date) -> str:
    """One attempt for the whole amount due; the attempt is committed before the gateway call.

    Idempotent per (account, business date): a second run finds the day's attempt and only
    finishes it. An attempt a crash left ``submitted`` is first looked up at the gateway; only
    if the gateway never saw its key is it sent — with the same key, so a gateway that did
    take it answers from its records instead of charging twice."""
    todays = PaymentAttempt.objects.filter(account_id=account_id, business_date=business_date).first()
    if todays is not None:
        if todays.status != AttemptStatus.SUBMITTED:
            return "already_attempted"
        status = get_gateway().status(idempotency_key=todays.idempotency_key)
        if status.found:
            return _settle_attempt(todays.pk, ChargeResult(status.status, "", status.reference),
                                   business_date=business_date)
        return _charge_and_settle(todays, business_date)
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if account.status == AccountStatus.CLOSED or not account.auto_debit or not account.repayment_card_token:
            return "skipped"
        if PaymentAttempt.objects.filter(account=account,
                                         status__in=[AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN]).exists():
            return "blocked_by_unknown"
        last = PaymentAttempt.objects.filter(account=account).order_by("-business_date", "-id").first()
        if last is not None and last.status == AttemptStatus.HARD_DECLINED \
                and last.card_token == account.repayment_card_token:
            return "card_closed"
        credit_balance_apply(account, today=business_date)
        penalties, installments = _open_items(account, lock=False)
        amount = allocation.due_total(*_as_allocation_input(penalties, installments), as_of=business_date)
        if amount <= 0:
            return "nothing_due"
        in_series = last is not None and last.retry_on == business_date and last.status in (
            AttemptStatus.DECLINED, AttemptStatus.NOT_CHARGED)
        attempt = PaymentAttempt.objects.create(
            account=account, business_date=business_date, idempotency_key=f"debit:{account.pk}:{business_date}",
            card_token=account.repayment_card_token, amount=amount,
            series_start=last.series_start if in_series else business_date,
            retry_number=(last.retry_number + 1) if in_series and last.status == AttemptStatus.DECLINED else
            (last.retry_number if in_series else 0))
    return _charge_and_settle(attempt, business_date)


def _charge_and_settle(attempt: PaymentAttempt, business_date: date) -> str:
    try:
        result: ChargeResult | None = get_gateway().charge(idempotency_key=attempt.idempotency_key,
                                                          card_token=attempt.card_token, amount=attempt.amount)
    except GatewayTimeout as exc:
        logger.warning("auto-debit %s: outcome unknown (%s)", attempt.idempotency_key, exc)
        result = None
    return _settle_attempt(attempt.pk, result, business_date=business_date)


def _audit_reconciled(attempt: PaymentAttempt, before: str) -> None:
    """Settling an attempt whose outcome was unknown (or left submitted by a crash) is a
    recorded transition: the common submitted → settled path is recorded on the attempt row
    itself (docs/decisions/0013-audit-trail-and-back-office-pages.md)."""
    account_services.audit_record(
        acting_user=None, action="payment_attempt.reconciled", obj=attempt, before={"status": before},
        after={"status": attempt.status, "gateway_reference": attempt.gateway_reference},
        reason="outcome asked from the gateway")


def _settle_attempt(attempt_id: int, result: ChargeResult | None, *, business_date: date,
                    reconciling: bool = False) -> str:
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    with transaction.atomic():
        account = lock_credit_account(attempt.account_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status not in (AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN):
            return attempt.status
        before = attempt.status
        params = active_policy().parsed
        if result is None:
            attempt.status = AttemptStatus.UNKNOWN
        elif result.status == "succeeded":
            attempt.status = AttemptStatus.SUCCEEDED
            attempt.gateway_reference = result.reference
            attempt.save()
            _book_collected(account, attempt)
            if reconciling:
                _audit_reconciled(attempt, before)
            return attempt.status
        elif result.status == "declined":
            attempt.status = AttemptStatus.DECLINED
            attempt.decline_code = result.decline_code
            attempt.retry_on = _retry_on(attempt, params)
            _notify_debit_failed(account, attempt)
        else:
            attempt.status = AttemptStatus.HARD_DECLINED
            attempt.decline_code = result.decline_code or "hard_decline"
            _notify_debit_failed(account, attempt)
        attempt.gateway_reference = getattr(result, "reference", "") or attempt.gateway_reference
        attempt.save()
        if reconciling:
            _audit_reconciled(attempt, before)
    return attempt.status


def _book_collected(account: CreditAccount, attempt: PaymentAttempt) -> None:
    """Money the gateway took: allocate what is still owed; anything the dues no longer need
    (the customer paid meanwhile) becomes credit balance — never lost, never taken twice."""
    penalties, installments = _open_items(account, lock=False)
    payoff = allocation.payoff_total(*_as_allocation_input(penalties, installments))
    to_allocate = min(attempt.amount, payoff)
    if to_allocate > 0:
        _book_repayment(account, amount=to_allocate, reference=attempt.idempotency_key,
                        source=RepaymentSource.AUTO_DEBIT, attempt=attempt)
    surplus = attempt.amount - to_allocate
    if surplus > 0:
        post_entry(account=account, key=f"{attempt.idempotency_key}:surplus", kind="surplus_to_credit",
                   business_date=attempt.business_date, description="auto-debit surplus kept as credit balance",
                   legs=[Leg(Book.REPAYMENTS_CLEARING, surplus), Leg(Book.CUSTOMER_CREDIT, -surplus)])


def _notify_debit_failed(account: CreditAccount, attempt: PaymentAttempt) -> None:
    account_services.notification_enqueue(
        customer=account.customer, account=account, kind="debit_failed", event_key=f"debit-failed:{attempt.pk}",
        params={"amount": f"{attempt.amount:.2f}", "decline_code": attempt.decline_code,
                "retry_on": attempt.retry_on.isoformat() if attempt.retry_on else "",
                "card_closed": attempt.status == AttemptStatus.HARD_DECLINED})


# --- auto-debit, a chunk of accounts at a time (the nightly close) ----------------------------------


def _open_items_many(account_ids: list[int], *, lock: bool):
    """``_open_items`` for many accounts with two statements."""
    penalties = Penalty.objects.filter(account_id__in=account_ids, amount__gt=0).order_by("business_date", "id")
    installments = Installment.objects.filter(account_id__in=account_ids, state=InstallmentState.OPEN) \
        .order_by("due_date", "id")
    if lock:
        penalties = penalties.select_for_update()
        installments = installments.select_for_update()
    by_penalty: dict[int, list[Penalty]] = defaultdict(list)
    by_installment: dict[int, list[Installment]] = defaultdict(list)
    for penalty in penalties:
        if penalty.unpaid > 0:
            by_penalty[penalty.account_id].append(penalty)
    for inst in installments:
        by_installment[inst.account_id].append(inst)
    return by_penalty, by_installment


def _fee_unposted_by(installments: list[Installment], today: date) -> bool:
    return any(i.fee > 0 and not i.fee_posted and i.due_date <= today for i in installments)


def auto_debit_accounts(*, account_ids: list[int], business_date: date) -> list[int]:
    """``auto_debit_account`` for a chunk of accounts (the nightly close) with a few statements
    per chunk instead of ~40 per account: the same attempts, charges, repayments, ledger
    entries, balances and notifications. Phase 1 commits every attempt before the gateway is
    called; phase 2 charges them (``charge_many`` when the gateway has it); phase 3 settles
    them in one transaction. Returns the accounts left for ``auto_debit_account`` one by one:
    those off the common path (an attempt already today, a credit balance, a fee due but not
    posted; a suspended account or a restoration hold once the charge succeeded, as the
    repayment may reactivate the account or hold its limit) and, if phase 3 fails, every
    account of the chunk charged —
    their committed attempts are then finished from the gateway's records, never charged twice."""
    leftover: list[int] = []
    attempts: list[PaymentAttempt] = []
    with transaction.atomic():
        accounts = lock_credit_accounts(account_ids, missing_ok=True)
        last = {a.account_id: a for a in PaymentAttempt.objects.filter(account_id__in=account_ids)
                .order_by("account_id", "-business_date", "-id").distinct("account_id")}
        unresolved = set(PaymentAttempt.objects.filter(
            account_id__in=account_ids, status__in=[AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN])
            .values_list("account_id", flat=True))
        penalties, installments = _open_items_many(account_ids, lock=False)
        for account_id in account_ids:
            account, prior = accounts.get(account_id), last.get(account_id)
            if prior is not None and prior.business_date == business_date and account is not None \
                    and prior.status != AttemptStatus.SUBMITTED:
                continue  # already_attempted (a chunk delivered twice, a day run again)
            if account is None or (prior is not None and prior.business_date == business_date):
                leftover.append(account_id)
            elif account.status == AccountStatus.CLOSED or not account.auto_debit or not account.repayment_card_token:
                continue  # skipped
            elif account_id in unresolved:
                continue  # blocked_by_unknown
            elif prior is not None and prior.status == AttemptStatus.HARD_DECLINED \
                    and prior.card_token == account.repayment_card_token:
                continue  # card_closed
            elif account.credit_balance > 0 or _fee_unposted_by(installments[account_id], business_date):
                leftover.append(account_id)
            else:
                amount = allocation.due_total(*_as_allocation_input(penalties[account_id], installments[account_id]),
                                              as_of=business_date)
                if amount <= 0:
                    continue  # nothing_due
                in_series = prior is not None and prior.retry_on == business_date and prior.status in (
                    AttemptStatus.DECLINED, AttemptStatus.NOT_CHARGED)
                attempts.append(PaymentAttempt(
                    account=account, business_date=business_date,
                    idempotency_key=f"debit:{account.pk}:{business_date}", card_token=account.repayment_card_token,
                    amount=amount, series_start=prior.series_start if in_series else business_date,
                    retry_number=(prior.retry_number + 1) if in_series and prior.status == AttemptStatus.DECLINED
                    else (prior.retry_number if in_series else 0)))
        PaymentAttempt.objects.bulk_create(attempts)
    results = _charge_many(attempts)
    try:
        leftover += _settle_attempts(attempts, results)
    except Exception:
        logger.exception("auto-debit: settling a chunk of %s attempts failed; settling them one by one", len(attempts))
        leftover += [attempt.account_id for attempt in attempts]
    return sorted(leftover)


def _charge_many(attempts: list[PaymentAttempt]) -> dict[int, ChargeResult | None]:
    """The gateway's answer per attempt id (None: timed out, outcome unknown)."""
    gateway = get_gateway()
    charge_many = getattr(gateway, "charge_many", None)
    if charge_many is not None:
        answers = charge_many([(a.idempotency_key, a.card_token, a.amount) for a in attempts])
    else:
        answers = {}
        for a in attempts:
            try:
                answers[a.idempotency_key] = gateway.charge(idempotency_key=a.idempotency_key, card_token=a.card_token,
                                                            amount=a.amount)
            except GatewayTimeout as exc:
                answers[a.idempotency_key] = exc
    results: dict[int, ChargeResult | None] = {}
    for a in attempts:
        answer = answers[a.idempotency_key]
        if isinstance(answer, GatewayTimeout):
            logger.warning("auto-debit %s: outcome unknown (%s)", a.idempotency_key, answer)
            answer = None
        results[a.pk] = answer
    return results


def _settle_attempts(attempts: list[PaymentAttempt], results: dict[int, ChargeResult | None]) -> list[int]:
    """``_settle_attempt`` + ``_book_collected`` + ``_book_repayment`` for a chunk, in one
    transaction. Returns the accounts whose collection is left to ``auto_debit_account``."""
    if not attempts:
        return []
    leftover: list[int] = []
    account_ids = sorted({a.account_id for a in attempts})
    with transaction.atomic():
        accounts = lock_credit_accounts(account_ids, missing_ok=True)
        locked = {a.pk: a for a in PaymentAttempt.objects.select_for_update().filter(pk__in=[a.pk for a in attempts])}
        today = account_services.business_date_get()
        policy = active_policy()
        params = policy.parsed
        penalties, installments = _open_items_many(account_ids, lock=True)
        now = timezone.now()
        notices: list[Notification] = []
        collected: list[tuple[CreditAccount, PaymentAttempt]] = []
        for attempt in sorted(locked.values(), key=lambda a: a.account_id):
            account, result = accounts[attempt.account_id], results[attempt.pk]
            if attempt.status not in (AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN):
                continue  # settled meanwhile
            if result is None:
                attempt.status = AttemptStatus.UNKNOWN
            elif result.status == "succeeded":
                insts = installments[account.pk]
                if account.status == AccountStatus.SUSPENDED or _fee_unposted_by(insts, today) or (
                        _hold_rule(account, params, today) and any(i.principal_unpaid > 0 for i in insts)):
                    leftover.append(account.pk)  # the rare paths: auto_debit_account settles it from the gateway
                    continue
                attempt.status = AttemptStatus.SUCCEEDED
                collected.append((account, attempt))
            elif result.status == "declined":
                attempt.status = AttemptStatus.DECLINED
                attempt.decline_code = result.decline_code
                attempt.retry_on = _retry_on(attempt, params)
            else:
                attempt.status = AttemptStatus.HARD_DECLINED
                attempt.decline_code = result.decline_code or "hard_decline"
            if attempt.status in (AttemptStatus.DECLINED, AttemptStatus.HARD_DECLINED):
                notices.append(Notification(
                    customer_id=account.customer_id, account=account, kind="debit_failed",
                    event_key=f"debit-failed:{attempt.pk}",
                    params={"amount": f"{attempt.amount:.2f}", "decline_code": attempt.decline_code,
                            "retry_on": attempt.retry_on.isoformat() if attempt.retry_on else "",
                            "card_closed": attempt.status == AttemptStatus.HARD_DECLINED}))
            attempt.gateway_reference = getattr(result, "reference", "") or attempt.gateway_reference
            attempt.updated_at = now
        update_rows(locked.values(), ["status", "decline_code", "gateway_reference", "retry_on", "updated_at"])
        booked = []  # (account, attempt, repayment, parts, legs)
        for account, attempt in collected:
            pens, insts = penalties[account.pk], installments[account.pk]
            payoff = allocation.payoff_total(*_as_allocation_input(pens, insts))
            to_allocate = min(attempt.amount, payoff)
            booked.append(_allocate_collected(account, attempt, pens, insts, to_allocate, today))
        repayments = Repayment.objects.bulk_create([b[2] for b in booked if b[2] is not None])
        RepaymentAllocation.objects.bulk_create([
            RepaymentAllocation(repayment=repayment, installment_id=p.installment_id, penalty_id=p.penalty_id,
                                penalty_amount=p.penalty, fee_amount=p.fee, principal_amount=p.principal)
            for _, _, repayment, parts, _ in booked if repayment is not None for p in parts])
        update_rows([i for b in booked for i in b[4]["installments"]],
                    ["fee_paid", "principal_paid", "state", "paid_on", "fee_waived"])
        update_rows([p for b in booked for p in b[4]["penalties"]], ["amount_paid"])
        entries = []
        for account, attempt, repayment, _, extra in booked:
            if repayment is not None:
                entries.append(EntrySpec(account=account, key=f"repayment:{repayment.pk}", kind="repayment",
                                         business_date=today, legs=extra["legs"],
                                         description=f"{RepaymentSource.AUTO_DEBIT} {attempt.idempotency_key}"))
            if extra["surplus"] > 0:
                entries.append(EntrySpec(account=account, key=f"{attempt.idempotency_key}:surplus",
                                         kind="surplus_to_credit", business_date=attempt.business_date,
                                         description="auto-debit surplus kept as credit balance",
                                         legs=[Leg(Book.REPAYMENTS_CLEARING, extra["surplus"]),
                                               Leg(Book.CUSTOMER_CREDIT, -extra["surplus"])]))
        post_entries(entries)
        alerts = []
        for account, _attempt, repayment, _, extra in booked:
            if repayment is None:  # only a surplus: post_entries moved the balances
                continue
            account.available_limit = available_limit_for(account)
            account.days_past_due = days_past_due(
                [i for i in installments[account.pk] if i.state == InstallmentState.OPEN], today)
            repayment.available_limit_after = account.available_limit
            restored = extra["principal_before"] - account.principal_outstanding
            if restored != repayment.principal_paid or account.held_amount != extra["held_before"]:
                detail = (f"repayment {repayment.reference}: principal {repayment.principal_paid}, outstanding fell "
                          f"by {restored}, held {account.held_amount - extra['held_before']}")
                logger.error("RESTORATION ALERT account %s: %s", account.pk, detail)
                alerts.append(RestorationAlert(account=account, repayment=repayment, detail=detail))
            notices.append(Notification(
                customer_id=account.customer_id, account=account, kind="limit_restored",
                event_key=f"repayment:{repayment.pk}",
                params={"amount": f"{repayment.amount:.2f}", "restored": f"{repayment.principal_paid:.2f}",
                        "held": f"{ZERO:.2f}", "release_at": "",
                        "available_limit": f"{account.available_limit:.2f}"}))
        save_accounts([b[0] for b in booked], [*BALANCE_COLUMNS, "days_past_due"])
        update_rows(repayments, ["available_limit_after"])
        RestorationAlert.objects.bulk_create(alerts)
        account_services.notifications_enqueue(notices)
    return leftover


def _allocate_collected(account, attempt, penalties, installments, to_allocate, today):
    """The in-memory part of ``_book_collected``/``_book_repayment`` for one account of a batch."""
    extra = {"installments": [], "penalties": [], "legs": [], "surplus": attempt.amount - to_allocate,
             "principal_before": account.principal_outstanding, "held_before": account.held_amount}
    if to_allocate <= 0:
        return account, attempt, None, [], extra
    open_penalties, open_installments = _as_allocation_input(penalties, installments)
    parts = allocation.allocate(to_allocate, penalties=open_penalties, installments=open_installments, as_of=today)
    by_penalty = {p.pk: p for p in penalties}
    by_installment = {i.pk: i for i in installments}
    legs: list[Leg] = []
    penalty_total = fee_total = principal_total = ZERO
    for part in parts:
        if part.penalty_id:
            penalty = by_penalty[part.penalty_id]
            penalty.amount_paid += part.penalty
            extra["penalties"].append(penalty)
            legs.append(Leg(Book.PENALTY_RECEIVABLE, -part.penalty))
            penalty_total += part.penalty
            continue
        inst = by_installment[part.installment_id]
        inst.fee_paid += part.fee
        inst.principal_paid += part.principal
        if inst.principal_unpaid == 0 and inst.fee_unpaid == 0:
            inst.state = InstallmentState.PAID
            inst.paid_on = today
            if not inst.fee_posted:
                inst.fee_waived = inst.fee - inst.fee_paid  # an unbilled fee is never charged
        extra["installments"].append(inst)
        if part.fee:
            legs.append(Leg(Book.FEE_RECEIVABLE, -part.fee, inst.pk))
        if part.principal:
            legs.append(Leg(Book.PRINCIPAL_RECEIVABLE, -part.principal, inst.pk))
        fee_total += part.fee
        principal_total += part.principal
    extra["legs"] = [Leg(Book.REPAYMENTS_CLEARING, to_allocate), *legs]
    repayment = Repayment(
        account=account, reference=attempt.idempotency_key, source=RepaymentSource.AUTO_DEBIT, amount=to_allocate,
        penalty_paid=penalty_total, fee_paid=fee_total, principal_paid=principal_total,
        limit_restored=principal_total, held_amount=ZERO, hold_release_at=None, available_limit_after=ZERO,
        payment_attempt=attempt, business_date=today)
    return account, attempt, repayment, parts, extra


def reconcile_attempt(*, attempt_id: int, business_date: date) -> str:
    """Ask the gateway what happened to an unknown (or crashed) attempt, then settle it."""
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    if attempt.status not in (AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN):
        return attempt.status
    status = get_gateway().status(idempotency_key=attempt.idempotency_key)
    if status.found:
        return _settle_attempt(attempt_id, ChargeResult(status.status, "", status.reference),
                               business_date=business_date, reconciling=True)
    with transaction.atomic():
        lock_credit_account(attempt.account_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status not in (AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN):
            return attempt.status
        before = attempt.status
        attempt.status = AttemptStatus.NOT_CHARGED
        # not taken: retried by the next auto-debit run (today's if today has no attempt yet)
        attempt.retry_on = business_date if attempt.business_date < business_date else business_date + timedelta(1)
        attempt.save()
        _audit_reconciled(attempt, before)
    return attempt.status


def attempts_to_reconcile(business_date: date) -> list[int]:
    """Attempts of earlier days still unknown (or left submitted by a crash). Today's unknown
    attempts wait for tomorrow's first step, so running a day twice changes nothing twice."""
    return list(PaymentAttempt.objects.filter(status__in=[AttemptStatus.UNKNOWN, AttemptStatus.SUBMITTED],
                                              business_date__lt=business_date)
                .order_by("id").values_list("id", flat=True))


def accounts_to_debit(business_date: date) -> list[int]:
    """Accounts with installments due on ``business_date`` or a retry scheduled for it."""
    due = set(Installment.objects.filter(state=InstallmentState.OPEN, due_date=business_date)
              .values_list("account_id", flat=True).distinct())
    retries = set(PaymentAttempt.objects.filter(retry_on=business_date,
                                                status__in=[AttemptStatus.DECLINED, AttemptStatus.NOT_CHARGED])
                  .values_list("account_id", flat=True))
    return sorted(due | retries)


# --- penalties and delinquency ------------------------------------------------------------------


def _penalty_due(installments: list[Installment], business_date: date, params) -> tuple[Decimal, Decimal] | None:
    """(overdue principal, penalty) for the day over an account's open installments due
    before it, or None: within grace, or a penalty that rounds to 0.00."""
    oldest = oldest_overdue_date(installments, business_date)
    if oldest is None or (business_date - oldest).days <= params.grace_days:
        return None
    overdue_principal = sum((i.principal_unpaid for i in installments), ZERO)
    amount = round_half_up(overdue_principal * params.penalty_daily_rate)
    return (overdue_principal, amount) if amount > 0 else None


def _status_by_delinquency(account: CreditAccount, dpd: int, params) -> str:
    """What the days past due do to the account's status: overdue beyond grace →
    "suspended"; nothing overdue → "reactivated" (unless the customer paused it); else "unchanged"."""
    if dpd > params.grace_days and account.status == AccountStatus.ACTIVE:
        return "suspended"
    if dpd == 0 and account.status == AccountStatus.SUSPENDED and not account.paused_by_customer:
        return "reactivated"
    return "unchanged"


def penalty_accrue(*, account_id: int, business_date: date) -> Decimal:
    """From day grace+1 past due, post rate × overdue principal for the day (half-up; a
    penalty that rounds to 0.00 is not posted). Idempotent per (account, day)."""
    params = active_policy().parsed
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if Penalty.objects.filter(account=account, business_date=business_date).exists():
            return ZERO
        installments = list(Installment.objects.filter(account=account, state=InstallmentState.OPEN,
                                                       due_date__lt=business_date))
        due = _penalty_due(installments, business_date, params)
        if due is None:
            return ZERO
        overdue_principal, amount = due
        penalty = Penalty.objects.create(account=account, business_date=business_date,
                                         overdue_principal=overdue_principal, rate=params.penalty_daily_rate,
                                         amount=amount)
        post_entry(account=account, key=f"penalty:{account.pk}:{business_date}", kind="penalty",
                   business_date=business_date, description=f"penalty on {overdue_principal} overdue",
                   legs=[Leg(Book.PENALTY_RECEIVABLE, amount), Leg(Book.PENALTY_INCOME, -amount)])
        del penalty
    return amount


def penalties_accrue_accounts(*, account_ids: list[int], business_date: date) -> list[int]:
    """``penalty_accrue`` for a chunk of accounts (the nightly close): one transaction and a
    handful of statements for the chunk instead of ~8 per account; the same penalties, entries
    and balances. Returns the ids it could not lock (left to ``penalty_accrue``, which says why)."""
    params = active_policy().parsed
    with transaction.atomic():
        accounts = lock_credit_accounts(account_ids, missing_ok=True)
        accrued = set(Penalty.objects.filter(account_id__in=list(accounts), business_date=business_date)
                      .values_list("account_id", flat=True))
        overdue: dict[int, list[Installment]] = defaultdict(list)
        for inst in Installment.objects.filter(account_id__in=[pk for pk in accounts if pk not in accrued],
                                               state=InstallmentState.OPEN, due_date__lt=business_date):
            overdue[inst.account_id].append(inst)
        penalties, entries = [], []
        for account_id, installments in sorted(overdue.items()):
            due = _penalty_due(installments, business_date, params)
            if due is None:
                continue
            overdue_principal, amount = due
            penalties.append(Penalty(account_id=account_id, business_date=business_date,
                                     overdue_principal=overdue_principal, rate=params.penalty_daily_rate, amount=amount))
            entries.append(EntrySpec(account=accounts[account_id], key=f"penalty:{account_id}:{business_date}",
                                     kind="penalty", business_date=business_date,
                                     description=f"penalty on {overdue_principal} overdue",
                                     legs=[Leg(Book.PENALTY_RECEIVABLE, amount), Leg(Book.PENALTY_INCOME, -amount)]))
        Penalty.objects.bulk_create(penalties)
        save_accounts(post_entries(entries))
    return sorted(set(account_ids) - set(accounts))


def accounts_overdue(business_date: date) -> list[int]:
    return list(Installment.objects.filter(state=InstallmentState.OPEN, due_date__lt=business_date)
                .values_list("account_id", flat=True).distinct().order_by("account_id"))


def delinquency_classify(*, account_id: int, business_date: date) -> str:
    """Days past due; overdue beyond grace → suspended; nothing overdue → active (unless paused)."""
    params = active_policy().parsed
    with transaction.atomic():
        account = lock_credit_account(account_id)
        installments = list(Installment.objects.filter(account=account, state=InstallmentState.OPEN,
                                                       due_date__lt=business_date))
        dpd = days_past_due(installments, business_date)
        changed = []
        if dpd != account.days_past_due:
            account.days_past_due = dpd
            changed.append("days_past_due")
        if dpd > 0:
            account.last_overdue_on = business_date
            changed.append("last_overdue_on")
        outcome = _status_by_delinquency(account, dpd, params)
        if outcome == "suspended":
            account.suspend()
            changed.append("status")
        elif outcome == "reactivated":
            account.reactivate()
            changed.append("status")
        if changed:
            account.save(update_fields=[*changed, "updated_at"])
        if outcome == "suspended":
            account_services.record_status_change(account, from_status=AccountStatus.ACTIVE, reason_code="OVERDUE",
                                                  note=f"{dpd} days past due", acting_user=None)
            account_services.notification_enqueue(
                customer=account.customer, account=account, kind="overdue_warning",
                event_key=f"overdue:{account.pk}:{business_date}",
                params={"days_past_due": dpd, "total": f"{account.outstanding_total:.2f}"})
        elif outcome == "reactivated":
            account_services.record_status_change(account, from_status=AccountStatus.SUSPENDED,
                                                  reason_code="OVERDUE_CLEARED", note="", acting_user=None)
    return outcome


def delinquency_classify_accounts(*, account_ids: list[int], business_date: date) -> list[int]:
    """``delinquency_classify`` for a chunk of accounts (the nightly close): days past due of
    the whole chunk in one transaction and three statements. The accounts whose status
    changes (suspended, reactivated) and any it could not lock are returned, left to
    ``delinquency_classify`` one by one (they record a status change and may notify)."""
    params = active_policy().parsed
    with transaction.atomic():
        accounts = lock_credit_accounts(account_ids, missing_ok=True)
        overdue: dict[int, list[Installment]] = defaultdict(list)
        for inst in Installment.objects.filter(account_id__in=list(accounts), state=InstallmentState.OPEN,
                                               due_date__lt=business_date):
            overdue[inst.account_id].append(inst)
        leftover, changed = sorted(set(account_ids) - set(accounts)), []
        for account_id, account in accounts.items():
            dpd = days_past_due(overdue.get(account_id, []), business_date)
            if _status_by_delinquency(account, dpd, params) != "unchanged":
                leftover.append(account_id)
            elif dpd != account.days_past_due or (dpd > 0 and account.last_overdue_on != business_date):
                account.days_past_due = dpd
                if dpd > 0:
                    account.last_overdue_on = business_date
                changed.append(account)
        save_accounts(changed, ["days_past_due", "last_overdue_on", "updated_at"])
    return sorted(leftover)


def accounts_to_classify(business_date: date) -> list[int]:
    overdue = set(accounts_overdue(business_date))
    flagged = set(CreditAccount.objects.filter(Q(days_past_due__gt=0)
                                               | Q(status=AccountStatus.SUSPENDED, paused_by_customer=False))
                  .values_list("id", flat=True))
    return sorted(overdue | flagged)


# --- write-off ------------------------------------------------------------------------------------


def accounts_to_write_off(business_date: date) -> list[int]:
    days = active_policy().parsed.write_off_days
    return list(CreditAccount.objects.exclude(status=AccountStatus.CLOSED).filter(days_past_due__gt=days)
                .order_by("id").values_list("id", flat=True))


def write_off_account(*, account_id: int, business_date: date, acting_user: AbstractBaseUser | None = None,
                      reason_code: str = "WRITE_OFF") -> Decimal:
    """Move every receivable to write-off expense; the account closes with ``WRITE_OFF``."""
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if account.status == AccountStatus.CLOSED:
            return ZERO
        penalties, installments = _open_items(account, lock=True)
        legs: list[Leg] = []
        total = ZERO
        for inst in installments:
            principal, fee = inst.principal_unpaid, inst.fee_unpaid
            inst.principal_cancelled += principal
            inst.fee_waived = inst.fee - inst.fee_paid
            inst.state = InstallmentState.CANCELLED if inst.principal_paid == 0 else InstallmentState.PAID
            inst.save()
            if principal:
                legs.append(Leg(Book.PRINCIPAL_RECEIVABLE, -principal, inst.pk))
            if fee:
                legs.append(Leg(Book.FEE_RECEIVABLE, -fee, inst.pk))
            total += principal + fee
        for penalty in penalties:
            unpaid = penalty.unpaid
            penalty.amount_waived += unpaid
            penalty.save(update_fields=["amount_waived"])
            legs.append(Leg(Book.PENALTY_RECEIVABLE, -unpaid))
            total += unpaid
        if total:
            post_entry(account=account, key=f"write-off:{account.pk}", kind="write_off", business_date=business_date,
                       legs=[Leg(Book.WRITE_OFF_EXPENSE, total), *legs], acting_user=acting_user,
                       description=f"write-off after {account.days_past_due} days past due")
        old_status, old_limit = account.status, account.credit_limit
        account.close()
        account.closed_on = business_date
        account.closed_reason = reason_code
        account.written_off_on = business_date
        account.credit_limit = ZERO
        account.available_limit = ZERO
        account.save()
        account_services.record_status_change(account, from_status=old_status, reason_code=reason_code,
                                              note=f"written off {total}", acting_user=acting_user)
        account_services.record_limit_change(account, old_limit=old_limit, reason_code=reason_code, note="",
                                             policy_version_id=active_policy().pk, acting_user=acting_user)
    return total
