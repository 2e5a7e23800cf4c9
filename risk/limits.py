"""Nightly limit recalculation (DOMAIN.md §8), set-based: two UPDATE … RETURNING statements
change every qualifying account at once; history, audit and notifications are bulk-inserted
in the same transaction. Idempotent for a business date: the conditions no longer hold once
applied (an increase sets ``last_limit_increase_on``; a cut lands on the outstanding)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection, transaction

from accounts.models import AuditEvent, LimitChange, Notification

from .selectors import active_policy

_DECREASE = """
    WITH cut AS (
        SELECT id, credit_limit AS old_limit,
               CEIL(principal_outstanding / %(step)s) * %(step)s AS new_limit
        FROM accounts_creditaccount
        WHERE status <> 'closed' AND days_past_due > %(severe)s
          AND CEIL(principal_outstanding / %(step)s) * %(step)s < credit_limit
        ORDER BY id FOR UPDATE)
    UPDATE accounts_creditaccount a
       SET credit_limit = cut.new_limit,
           available_limit = GREATEST(0, cut.new_limit - a.principal_outstanding - a.held_amount),
           updated_at = NOW()
      FROM cut WHERE a.id = cut.id
    RETURNING a.id, a.customer_id, cut.old_limit, cut.new_limit
"""

_INCREASE = """
    WITH on_time AS (
        SELECT account_id FROM installments_installment
        WHERE state = 'paid' AND paid_on <= due_date AND paid_on >= %(window_start)s
        GROUP BY account_id HAVING COUNT(*) >= %(min_on_time)s),
    inc AS (
        SELECT a.id, a.credit_limit AS old_limit,
               LEAST(FLOOR(a.credit_limit * %(factor)s / %(step)s) * %(step)s, %(maximum)s) AS new_limit
        FROM accounts_creditaccount a JOIN on_time o ON o.account_id = a.id
        WHERE a.status = 'active' AND a.days_past_due = 0
          AND COALESCE(a.reopened_on, a.opened_on) <= %(age_cutoff)s
          AND (a.last_limit_increase_on IS NULL OR a.last_limit_increase_on <= %(age_cutoff)s)
          AND (a.last_overdue_on IS NULL OR a.last_overdue_on < %(window_start)s)
        ORDER BY a.id FOR UPDATE OF a)
    UPDATE accounts_creditaccount a
       SET credit_limit = inc.new_limit,
           available_limit = GREATEST(0, inc.new_limit - a.principal_outstanding - a.held_amount),
           last_limit_increase_on = %(today)s,
           updated_at = NOW()
      FROM inc WHERE a.id = inc.id AND inc.new_limit > inc.old_limit
    RETURNING a.id, a.customer_id, inc.old_limit, inc.new_limit
"""


def limits_recalculate(*, business_date: date) -> dict[str, int]:
    policy = active_policy()
    params = policy.parsed
    args = {
        "step": params.limit_rounding, "severe": params.severe_delinquency_days,
        "window_start": business_date - timedelta(days=params.limit_increase_lookback_days),
        "age_cutoff": business_date - timedelta(days=params.limit_increase_min_days),
        "min_on_time": params.limit_increase_min_on_time_installments, "factor": params.limit_increase_factor,
        "maximum": params.limit_increase_max, "today": business_date,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_DECREASE, args)
        decreased = cursor.fetchall()
        cursor.execute(_INCREASE, args)
        increased = cursor.fetchall()
        changes = [(row, "SEVERE_DELINQUENCY") for row in decreased] + \
                  [(row, "GOOD_REPAYMENT_HISTORY") for row in increased]
        LimitChange.objects.bulk_create([
            LimitChange(account_id=row[0], old_limit=row[2], new_limit=row[3], reason_code=reason,
                        policy_version=policy, business_date=business_date) for row, reason in changes])
        AuditEvent.objects.bulk_create([
            AuditEvent(actor_label="system", action="account.limit_changed", object_type="accounts.creditaccount",
                       object_id=str(row[0]), before={"credit_limit": str(row[2])},
                       after={"credit_limit": str(row[3])}, reason=reason) for row, reason in changes])
        Notification.objects.bulk_create([
            Notification(customer_id=row[1], account_id=row[0], kind="limit_changed",
                         event_key=f"limit:{row[0]}:{business_date}",
                         params={"old_limit": f"{row[2]:.2f}", "new_limit": f"{row[3]:.2f}", "reason": reason})
            for row, reason in changes], ignore_conflicts=True)
    return {"decreased": len(decreased), "increased": len(increased)}
