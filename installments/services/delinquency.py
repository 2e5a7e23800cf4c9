"""Overdue accounts (docs/rules.md §7): the daily penalty on overdue principal after the grace
days, and days past due with what they do to the account's status — under each loan's own
terms (``terms``). Both are steps of the nightly close, a chunk of accounts at a time (one
account is a chunk of one), idempotent per (account, business date)."""

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
from risk.selectors import active_policy

from .dues import days_past_due
from .terms import Terms, collection_terms, plan_terms


def _overdue_installments(account_ids: list[int], business_date: date) -> dict[int, list[Installment]]:
    """Each account's open installments due before ``business_date``."""
    overdue: dict[int, list[Installment]] = defaultdict(list)
    for inst in Installment.objects.filter(account_id__any_of=account_ids, state=InstallmentState.OPEN,
                                           due_date__lt=business_date):
        overdue[inst.account_id].append(inst)
    return overdue


def penalty_due(installments: list[Installment], business_date: date,
                terms: dict[int, Terms]) -> tuple[Decimal, Decimal, Decimal] | None:
    """(overdue principal, penalty, rate) for the day over an account's open installments due
    before it, or None: within the grace of the oldest overdue plan, or a penalty that rounds
    to 0.00. Each plan's overdue principal is charged at its own rate (``terms`` by plan)."""
    overdue = sorted((i for i in installments if i.due_date < business_date
                      and (i.principal_unpaid > 0 or i.fee_unpaid > 0)), key=lambda i: (i.due_date, i.pk))
    if not overdue or (business_date - overdue[0].due_date).days <= terms[overdue[0].plan_id].grace_days:
        return None
    overdue_principal = sum((i.principal_unpaid for i in installments), ZERO)
    rates = {terms[i.plan_id].penalty_daily_rate for i in installments}
    amount = round_half_up(sum((i.principal_unpaid * terms[i.plan_id].penalty_daily_rate for i in installments), ZERO))
    if amount <= 0:
        return None
    rate = rates.pop() if len(rates) == 1 else (amount / overdue_principal).quantize(Decimal("0.00001"))
    return overdue_principal, amount, rate


def penalties_accrue_accounts(*, account_ids: list[int], business_date: date) -> Decimal:
    """From day grace+1 past due, post rate × overdue principal for the day (half-up; a
    penalty that rounds to 0.00 is not posted), for a chunk of accounts in one transaction.
    Idempotent per (account, day). Returns the total posted."""
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        accrued = set(Penalty.objects.filter(account_id__any_of=account_ids, business_date=business_date)
                      .values_list("account_id", flat=True))
        overdue = _overdue_installments([pk for pk in accounts if pk not in accrued], business_date)
        terms = plan_terms({i.plan_id for installments in overdue.values() for i in installments})
        penalties, entries = [], []
        for account_id, installments in sorted(overdue.items()):
            due = penalty_due(installments, business_date, terms)
            if due is None:
                continue
            overdue_principal, amount, rate = due
            penalties.append(Penalty(account_id=account_id, business_date=business_date,
                                     overdue_principal=overdue_principal, rate=rate, amount=amount))
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
    outcomes = {"suspended": 0, "reactivated": 0}
    default = Terms.of_policy(active_policy().parsed)
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        overdue = _overdue_installments(list(accounts), business_date)
        terms = collection_terms(list(accounts), default=default)
        changed: list[CreditAccount] = []
        for account_id, account in sorted(accounts.items()):
            dpd = days_past_due(overdue.get(account_id, []), business_date)
            if dpd != account.days_past_due or (dpd > 0 and account.last_overdue_on != business_date):
                account.days_past_due = dpd
                if dpd > 0:
                    account.last_overdue_on = business_date
                changed.append(account)
            outcome = credit_line.follow_delinquency(account, days_past_due=dpd,
                                                     grace_days=terms[account_id].grace_days,
                                                     business_date=business_date)
            if outcome == "suspended":
                notification_enqueue(customer=account.customer, account=account, kind="overdue_warning",
                                     event_key=f"overdue:{account.pk}:{business_date}",
                                     params={"days_past_due": dpd, "total": f"{account.outstanding_total:.2f}"})
            if outcome != "unchanged":
                outcomes[outcome] += 1
        save_accounts(changed, ["days_past_due", "last_overdue_on", "updated_at"])
    return outcomes
