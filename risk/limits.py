"""Nightly limit recalculation (DOMAIN.md §8), set-based: two UPDATE … RETURNING statements
change every qualifying account at once and insert the history, audit and notification rows
in the same statement (data-modifying CTEs). Idempotent for a business date: the conditions
no longer hold once applied (an increase sets ``last_limit_increase_on``; a cut lands on the outstanding)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection, transaction

from .selectors import active_policy

# History, audit and notification rows in the same statement (data-modifying CTEs): the same
# rows and text the ORM wrote (str(Decimal) for the audit, f"{x:.2f}" for the notification).
_HISTORY = """,
    history AS (
        INSERT INTO accounts_limitchange (account_id, old_limit, new_limit, reason_code, note, policy_version_id,
                                          business_date, actor_id, created_at)
        SELECT id, old_limit, new_limit, %(reason)s, '', %(policy)s, %(today)s, NULL, NOW() FROM changed),
    audit AS (
        INSERT INTO accounts_auditevent (actor_id, actor_label, action, object_type, object_id, before, after,
                                         reason, created_at)
        SELECT NULL, 'system', 'account.limit_changed', 'accounts.creditaccount', id::text,
               jsonb_build_object('credit_limit', old_limit::text), jsonb_build_object('credit_limit', new_limit::text),
               %(reason)s, NOW() FROM changed),
    notify AS (
        INSERT INTO accounts_notification (customer_id, account_id, kind, event_key, params, status, channel, rendered,
                                           error, created_at, sent_at)
        SELECT customer_id, id, 'limit_changed', 'limit:' || id || ':' || %(today_iso)s,
               jsonb_build_object('old_limit', ROUND(old_limit, 2)::text, 'new_limit', ROUND(new_limit, 2)::text,
                                  'reason', %(reason)s),
               'pending', '', '', '', NOW(), NULL FROM changed
        ON CONFLICT (event_key) DO NOTHING)
    SELECT COUNT(*) FROM changed
"""

_DECREASE = """
    WITH cut AS (
        SELECT id, credit_limit AS old_limit,
               CEIL(principal_outstanding / %(step)s) * %(step)s AS new_limit
        FROM accounts_creditaccount
        WHERE status <> 'closed' AND days_past_due > %(severe)s
          AND CEIL(principal_outstanding / %(step)s) * %(step)s < credit_limit
        ORDER BY id FOR UPDATE),
    changed AS (
        UPDATE accounts_creditaccount a
           SET credit_limit = cut.new_limit,
               available_limit = GREATEST(0, cut.new_limit - a.principal_outstanding - a.held_amount),
               updated_at = NOW()
          FROM cut WHERE a.id = cut.id
        RETURNING a.id, a.customer_id, cut.old_limit, cut.new_limit)
""" + _HISTORY  # noqa: S608 - constants only, values are bound parameters

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
        ORDER BY a.id FOR UPDATE OF a),
    changed AS (
        UPDATE accounts_creditaccount a
           SET credit_limit = inc.new_limit,
               available_limit = GREATEST(0, inc.new_limit - a.principal_outstanding - a.held_amount),
               last_limit_increase_on = %(today)s,
               updated_at = NOW()
          FROM inc WHERE a.id = inc.id AND inc.new_limit > inc.old_limit
        RETURNING a.id, a.customer_id, inc.old_limit, inc.new_limit)
""" + _HISTORY  # noqa: S608 - constants only, values are bound parameters


def limits_recalculate(*, business_date: date) -> dict[str, int]:
    policy = active_policy()
    params = policy.parsed
    args = {
        "step": params.limit_rounding, "severe": params.severe_delinquency_days,
        "window_start": business_date - timedelta(days=params.limit_increase_lookback_days),
        "age_cutoff": business_date - timedelta(days=params.limit_increase_min_days),
        "min_on_time": params.limit_increase_min_on_time_installments, "factor": params.limit_increase_factor,
        "maximum": params.limit_increase_max, "today": business_date, "today_iso": business_date.isoformat(),
        "policy": policy.pk,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_DECREASE, {**args, "reason": "SEVERE_DELINQUENCY"})
        decreased = cursor.fetchone()[0]
        cursor.execute(_INCREASE, {**args, "reason": "GOOD_REPAYMENT_HISTORY"})
        increased = cursor.fetchone()[0]
    return {"decreased": decreased, "increased": increased}
