"""The ledger's invariants (docs/rules.md §11), checked set-based in SQL (fast at a million
rows) by ``manage.py audit_ledger`` and at the end of a simulation.

Each check returns human-readable violations. ``accounts`` registers the checks of its own
tables here; the apps that own the installments, repayments and penalties register theirs in
``LEDGER_CHECKS`` from their ``AppConfig.ready()``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from django.db import connection

from .registry import Registry

LedgerCheck = Callable[[], list[str]]
LEDGER_CHECKS: Registry[LedgerCheck] = Registry("ledger check")


# A value the database adapter turns into SQL (a ``date`` covers datetimes).
SqlParam = str | int | float | Decimal | date | bool | None


def fetch(sql: str, params: tuple[SqlParam, ...] = ()) -> list[tuple]:
    """The rows of one read-only check query."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def unbalanced_entries() -> list[str]:
    rows = fetch("""
        SELECT e.id, e.idempotency_key, COALESCE(SUM(l.amount), 0), COUNT(l.id)
        FROM accounts_journalentry e LEFT JOIN accounts_journalline l ON l.entry_id = e.id
        GROUP BY e.id HAVING COALESCE(SUM(l.amount), 0) <> 0 OR COUNT(l.id) < 2
        ORDER BY e.id LIMIT 1000""")
    return [f"entry {r[0]} ({r[1]}) sums to {r[2]} over {r[3]} lines" for r in rows]

def account_balances_match_ledger() -> list[str]:
    """Account columns = ledger books for principal, fees, penalties and credit balance."""
    rows = fetch("""
        WITH books AS (
            SELECT credit_account_id AS id,
                   SUM(amount) FILTER (WHERE book = 'principal_receivable') AS principal,
                   SUM(amount) FILTER (WHERE book = 'fee_receivable') AS fees,
                   SUM(amount) FILTER (WHERE book = 'penalty_receivable') AS penalties,
                   -SUM(amount) FILTER (WHERE book = 'customer_credit') AS credit
            FROM accounts_journalline WHERE credit_account_id IS NOT NULL GROUP BY credit_account_id)
        SELECT a.id, a.principal_outstanding, COALESCE(b.principal, 0), a.fees_outstanding, COALESCE(b.fees, 0),
               a.penalties_outstanding, COALESCE(b.penalties, 0), a.credit_balance, COALESCE(b.credit, 0)
        FROM accounts_creditaccount a LEFT JOIN books b ON b.id = a.id
        WHERE a.principal_outstanding <> COALESCE(b.principal, 0) OR a.fees_outstanding <> COALESCE(b.fees, 0)
           OR a.penalties_outstanding <> COALESCE(b.penalties, 0) OR a.credit_balance <> COALESCE(b.credit, 0)
        ORDER BY a.id LIMIT 1000""")
    return [f"account {r[0]}: principal {r[1]} vs ledger {r[2]}, fees {r[3]} vs {r[4]}, "
            f"penalties {r[5]} vs {r[6]}, credit {r[7]} vs {r[8]}" for r in rows]

def available_limit_rule() -> list[str]:
    rows = fetch("""
        SELECT id, available_limit, GREATEST(0, credit_limit - principal_outstanding - held_amount)
        FROM accounts_creditaccount
        WHERE available_limit <> GREATEST(0, credit_limit - principal_outstanding - held_amount)
        ORDER BY id LIMIT 1000""")
    return [f"account {r[0]}: available limit {r[1]}, rule says {r[2]}" for r in rows]


def register() -> None:
    """The checks of ``accounts``' own tables (the other apps add theirs)."""
    LEDGER_CHECKS.register("every entry balances", unbalanced_entries)
    LEDGER_CHECKS.register("account balances equal the ledger", account_balances_match_ledger)
    LEDGER_CHECKS.register("available limit obeys the formula", available_limit_rule)


def run_all() -> tuple[list[str], dict[str, int]]:
    """Every registered check: the violations (prefixed with the check's name) and how many
    each found."""
    violations: list[str] = []
    counts: dict[str, int] = {}
    for name, check in LEDGER_CHECKS.items():
        found = check()
        counts[name] = len(found)
        violations.extend(f"[{name}] {v}" for v in found)
    return violations, counts
