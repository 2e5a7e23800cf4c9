"""The steps of the nightly close, in order (docs/rules.md §2). Each step either works on a
chunk of accounts at a time (``select`` picks them, ``run`` does a chunk — one account is a
chunk of one) or runs set-based over the whole book (``run_all``). Every step is idempotent
per (account, business date, step): a day run twice, or crashed half-way and run again,
changes nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from complaints.services.sweeps import complaints_sweep
from installments import selectors as picks
from installments.services.auto_debit import auto_debit_accounts
from installments.services.collections import promises_check
from installments.services.delinquency import delinquency_classify_accounts, penalties_accrue_accounts
from installments.services.fees import fees_post_due_accounts
from installments.services.holds import holds_release_accounts
from installments.services.payouts import payouts_reconcile, payouts_to_reconcile
from installments.services.reconciliation import reconcile_attempts
from installments.services.repayments import credit_balances_apply_accounts
from installments.services.statements import statements_issue_accounts
from installments.services.write_off import write_off_accounts
from risk.limits import limits_recalculate
from risk.services.review_queue import review_cases_flag_breaches


@dataclass(frozen=True)
class Step:
    name: str
    select: Callable[[date], list[int]] | None = None  # the ids a chunked step works on
    run: Callable[[list[int], date], Any] | None = None  # one chunk of them
    run_all: Callable[[date], dict[str, Any]] | None = None  # a set-based step
    ids_are_accounts: bool = True  # False: the ids are payment attempts


def end_of(day: date) -> datetime:
    """The first instant after ``day`` (the close treats the whole business day as over)."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def _escalate_deadlines(day: date) -> dict[str, Any]:
    """Missed review and complaint deadlines as of the end of the business day; resolved
    complaints auto-closed and closure requests moved on (the frequent sweep does the same)."""
    return {"review_cases": review_cases_flag_breaches(now=end_of(day)), "complaints": complaints_sweep(now=end_of(day))}


STEPS: tuple[Step, ...] = (
    Step("reconcile_unknown_attempts", picks.attempts_to_reconcile,
         lambda ids, d: reconcile_attempts(attempt_ids=ids, business_date=d), ids_are_accounts=False),
    Step("reconcile_unknown_payouts", lambda d: payouts_to_reconcile(),
         lambda ids, d: payouts_reconcile(ids), ids_are_accounts=False),
    Step("accrue_penalties", picks.accounts_overdue,
         lambda ids, d: penalties_accrue_accounts(account_ids=ids, business_date=d)),
    Step("classify_delinquency", picks.accounts_to_classify,
         lambda ids, d: delinquency_classify_accounts(account_ids=ids, business_date=d)),
    Step("issue_statements", picks.accounts_to_bill,
         lambda ids, d: statements_issue_accounts(account_ids=ids, statement_date=d)),
    Step("post_fees", picks.accounts_with_fees_due,
         lambda ids, d: fees_post_due_accounts(account_ids=ids, business_date=d)),
    Step("apply_credit_balances", picks.accounts_with_credit_to_apply,
         lambda ids, d: credit_balances_apply_accounts(account_ids=ids, business_date=d)),
    Step("auto_debit", picks.accounts_to_debit,
         lambda ids, d: auto_debit_accounts(account_ids=ids, business_date=d)),
    Step("check_promises", run_all=lambda d: promises_check(business_date=d)),
    Step("release_holds", lambda d: picks.accounts_with_holds_due(end_of(d)),
         lambda ids, d: holds_release_accounts(account_ids=ids, until=end_of(d))),
    Step("recalculate_limits", run_all=lambda d: limits_recalculate(business_date=d)),
    Step("write_off", picks.accounts_to_write_off,
         lambda ids, d: write_off_accounts(account_ids=ids, business_date=d)),
    Step("escalate_deadlines", run_all=_escalate_deadlines),
)


def step_by_name(name: str) -> Step:
    for step in STEPS:
        if step.name == name:
            return step
    raise KeyError(name)
