"""Overdue accounts (docs/rules.md §7): the daily penalty on overdue principal after the grace
days, and days past due with what they do to the account's status. Both are steps of the
nightly close, a chunk of accounts at a time (one account is a chunk of one), idempotent
per (account, business date)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db import transaction

from accounts.ledger import EntrySpec, Leg, lock_credit_accounts, post_entries, save_accounts
from accounts.lifecycle import credit_line
from accounts.models import Book, CreditAccount
from accounts.money import ZERO, round_half_up
from accounts.outbox import notification_enqueue
from installments.models import Installment, InstallmentState, Penalty
from risk.policy import PolicyParams
from risk.selectors import active_policy

from .dues import days_past_due, oldest_overdue_date


def _overdue_installments(account_ids: list[int], business_date: date) -> dict[int, list[Installment]]:
    """Each account's open installments due before ``business_date``."""
    overdue: dict[int, list[Installment]] = defaultdict(list)
    for inst in Installment.objects.filter(account_id__in=account_ids, state=InstallmentState.OPEN,
                                           due_date__lt=business_date):
        overdue[inst.account_id].append(inst)
    return overdue


def penalty_due(installments: list[Installment], business_date: date,
                params: PolicyParams) -> tuple[Decimal, Decimal] | None:
    """(overdue principal, penalty) for the day over an account's open installments due
    before it, or None: within grace, or a penalty that rounds to 0.00."""
    oldest = oldest_overdue_date(installments, business_date)
    if oldest is None or (business_date - oldest).days <= params.grace_days:
        return None
    overdue_principal = sum((i.principal_unpaid for i in installments), ZERO)
    amount = round_half_up(overdue_principal * params.penalty_daily_rate)
    return (overdue_principal, amount) if amount > 0 else None


def penalties_accrue_accounts(*, account_ids: list[int], business_date: date) -> Decimal:
    """From day grace+1 past due, post rate × overdue principal for the day (half-up; a
    penalty that rounds to 0.00 is not posted), for a chunk of accounts in one transaction.
    Idempotent per (account, day). Returns the total posted."""
    params = active_policy().parsed
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        accrued = set(Penalty.objects.filter(account_id__in=account_ids, business_date=business_date)
                      .values_list("account_id", flat=True))
        overdue = _overdue_installments([pk for pk in accounts if pk not in accrued], business_date)
        penalties, entries = [], []
        for account_id, installments in sorted(overdue.items()):
            due = penalty_due(installments, business_date, params)
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
    return sum((p.amount for p in penalties), ZERO)


def delinquency_classify_accounts(*, account_ids: list[int], business_date: date) -> dict[str, int]:
    """Days past due of a chunk of accounts; overdue beyond grace → suspended (the customer is
    warned); nothing overdue → active again, unless paused (``accounts.lifecycle``). One
    transaction; only what changed is written. Returns how many were suspended and reactivated."""
    params = active_policy().parsed
    outcomes = {"suspended": 0, "reactivated": 0}
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        overdue = _overdue_installments(list(accounts), business_date)
        changed: list[CreditAccount] = []
        for account_id, account in sorted(accounts.items()):
            dpd = days_past_due(overdue.get(account_id, []), business_date)
            if dpd != account.days_past_due or (dpd > 0 and account.last_overdue_on != business_date):
                account.days_past_due = dpd
                if dpd > 0:
                    account.last_overdue_on = business_date
                changed.append(account)
            outcome = credit_line.follow_delinquency(account, days_past_due=dpd, grace_days=params.grace_days,
                                                     business_date=business_date)
            if outcome == "suspended":
                notification_enqueue(customer=account.customer, account=account, kind="overdue_warning",
                                     event_key=f"overdue:{account.pk}:{business_date}",
                                     params={"days_past_due": dpd, "total": f"{account.outstanding_total:.2f}"})
            if outcome != "unchanged":
                outcomes[outcome] += 1
        save_accounts(changed, ["days_past_due", "last_overdue_on", "updated_at"])
    return outcomes
