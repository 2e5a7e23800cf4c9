"""Nightly limit recalculation (docs/rules.md §8). The selection is set-based: one SELECT …
FOR UPDATE per direction finds every qualifying account and its new limit at once; the
changes themselves — the accounts, the limit history, the audit rows and the customers'
notifications — are ``accounts.lifecycle.credit_line.set_limits``'. Idempotent for a
business date: the conditions no longer hold once applied (an increase sets
``last_limit_increase_on``; a cut lands on the outstanding principal)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction

from accounts.lifecycle.credit_line import LimitDecision, set_limits

from .selectors import active_policy

_DECREASE = """
    SELECT id, customer_id, credit_limit, CEIL(principal_outstanding / %(step)s) * %(step)s,
           principal_outstanding, held_amount
    FROM accounts_creditaccount
    WHERE status <> 'closed' AND days_past_due > %(severe)s
      AND CEIL(principal_outstanding / %(step)s) * %(step)s < credit_limit
    ORDER BY id FOR UPDATE
"""

_INCREASE = """
    WITH on_time AS (
        SELECT account_id FROM installments_installment
        WHERE state = 'paid' AND paid_on <= due_date AND paid_on >= %(window_start)s
        GROUP BY account_id HAVING COUNT(*) >= %(min_on_time)s)
    SELECT a.id, a.customer_id, a.credit_limit,
           LEAST(FLOOR(a.credit_limit * %(factor)s / %(step)s) * %(step)s, %(maximum)s) AS new_limit,
           a.principal_outstanding, a.held_amount
    FROM accounts_creditaccount a JOIN on_time o ON o.account_id = a.id
    WHERE a.status = 'active' AND a.days_past_due = 0
      AND COALESCE(a.reopened_on, a.opened_on) <= %(age_cutoff)s
      AND (a.last_limit_increase_on IS NULL OR a.last_limit_increase_on <= %(age_cutoff)s)
      AND (a.last_overdue_on IS NULL OR a.last_overdue_on < %(window_start)s)
      AND LEAST(FLOOR(a.credit_limit * %(factor)s / %(step)s) * %(step)s, %(maximum)s) > a.credit_limit
    ORDER BY a.id FOR UPDATE OF a
"""


def _decisions(sql: str, args: dict[str, Any]) -> list[LimitDecision]:
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return [LimitDecision(account_id=row[0], customer_id=row[1], old_limit=row[2], new_limit=row[3],
                              principal_outstanding=row[4], held_amount=row[5]) for row in cursor.fetchall()]


def limits_recalculate(*, business_date: date) -> dict[str, int]:
    """Cut the limits of accounts more than the policy's days past due down to their
    outstanding principal (rounded up to the step; ``SEVERE_DELINQUENCY``), then raise those of
    good payers by the policy's factor (rounded down, capped; ``GOOD_REPAYMENT_HISTORY``)."""
    policy = active_policy()
    params = policy.parsed
    args = {
        "step": params.limit_rounding, "severe": params.severe_delinquency_days,
        "window_start": business_date - timedelta(days=params.limit_increase_lookback_days),
        "age_cutoff": business_date - timedelta(days=params.limit_increase_min_days),
        "min_on_time": params.limit_increase_min_on_time_installments, "factor": params.limit_increase_factor,
        "maximum": params.limit_increase_max,
    }
    with transaction.atomic(durable=True):
        decreased = set_limits(_decisions(_DECREASE, args), reason_code="SEVERE_DELINQUENCY",
                               business_date=business_date, policy_version_id=policy.pk, increase=False)
        increased = set_limits(_decisions(_INCREASE, args), reason_code="GOOD_REPAYMENT_HISTORY",
                               business_date=business_date, policy_version_id=policy.pk, increase=True)
    return {"decreased": decreased, "increased": increased}
