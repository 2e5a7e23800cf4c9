"""Ledger invariants of DOMAIN.md §11, checked set-based in SQL (fast at a million rows).

Each check returns a list of human-readable violations; ``audit_ledger`` prints them.
Checks that belong to capabilities not installed yet simply find nothing to check.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection


def _rows(sql: str, params: tuple = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def unbalanced_entries() -> list[str]:
    rows = _rows("""
        SELECT e.id, e.idempotency_key, COALESCE(SUM(l.amount), 0), COUNT(l.id)
        FROM accounts_journalentry e LEFT JOIN accounts_journalline l ON l.entry_id = e.id
        GROUP BY e.id HAVING COALESCE(SUM(l.amount), 0) <> 0 OR COUNT(l.id) < 2
        ORDER BY e.id LIMIT 1000""")
    return [f"entry {r[0]} ({r[1]}) sums to {r[2]} over {r[3]} lines" for r in rows]


def account_balances_match_ledger() -> list[str]:
    """Account columns = ledger books for principal, fees, penalties and credit balance."""
    rows = _rows("""
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


def principal_matches_installments() -> list[str]:
    rows = _rows("""
        WITH unpaid AS (
            SELECT account_id AS id, SUM(principal - principal_paid - principal_cancelled) AS principal,
                   SUM(CASE WHEN fee_posted THEN fee - fee_paid - fee_waived ELSE 0 END) AS fees
            FROM installments_installment GROUP BY account_id)
        SELECT a.id, a.principal_outstanding, COALESCE(u.principal, 0), a.fees_outstanding, COALESCE(u.fees, 0)
        FROM accounts_creditaccount a LEFT JOIN unpaid u ON u.id = a.id
        WHERE a.principal_outstanding <> COALESCE(u.principal, 0) OR a.fees_outstanding <> COALESCE(u.fees, 0)
        ORDER BY a.id LIMIT 1000""")
    return [f"account {r[0]}: outstanding principal {r[1]} but installments owe {r[2]}; "
            f"fees {r[3]} but posted unpaid fees {r[4]}" for r in rows]


def available_limit_rule() -> list[str]:
    rows = _rows("""
        SELECT id, available_limit, GREATEST(0, credit_limit - principal_outstanding - held_amount)
        FROM accounts_creditaccount
        WHERE available_limit <> GREATEST(0, credit_limit - principal_outstanding - held_amount)
        ORDER BY id LIMIT 1000""")
    return [f"account {r[0]}: available limit {r[1]}, rule says {r[2]}" for r in rows]


def installments_not_overpaid() -> list[str]:
    rows = _rows("""
        SELECT id, principal, principal_paid, principal_cancelled, fee, fee_paid, fee_waived
        FROM installments_installment
        WHERE principal_paid + principal_cancelled > principal OR fee_paid + fee_waived > fee
           OR (state = 'open' AND principal_paid + principal_cancelled = principal AND principal > 0)
           OR (state <> 'open' AND principal_paid + principal_cancelled <> principal)
        ORDER BY id LIMIT 1000""")
    return [f"installment {r[0]}: principal {r[1]} paid {r[2]} cancelled {r[3]}, fee {r[4]} paid {r[5]} "
            f"waived {r[6]} (overpaid or state inconsistent)" for r in rows]


def ledger_lines_match_installment_payments() -> list[str]:
    """Principal booked against installments never exceeds what they owed (no double collection)."""
    rows = _rows("""
        SELECT i.id, i.principal, -SUM(l.amount)
        FROM accounts_journalline l JOIN installments_installment i ON i.id = l.installment_id
        WHERE l.book = 'principal_receivable' AND l.amount < 0
        GROUP BY i.id, i.principal HAVING -SUM(l.amount) > i.principal
        ORDER BY i.id LIMIT 1000""")
    return [f"installment {r[0]}: {r[2]} principal collected against {r[1]} owed" for r in rows]


def dues_collected_once() -> list[str]:
    """Every succeeded attempt booked exactly one repayment of its amount (or less, with the
    rest as credit), no attempt key charged twice at the gateway, and nothing booked for an
    attempt that did not succeed."""
    rows = _rows("""
        SELECT p.id, p.status, p.amount, COUNT(r.id), COALESCE(SUM(r.amount), 0)
        FROM installments_paymentattempt p LEFT JOIN installments_repayment r ON r.payment_attempt_id = p.id
        GROUP BY p.id
        HAVING (p.status = 'succeeded' AND (COUNT(r.id) > 1 OR COALESCE(SUM(r.amount), 0) > p.amount))
            OR (p.status <> 'succeeded' AND COUNT(r.id) > 0)
        ORDER BY p.id LIMIT 1000""")
    found = [f"attempt {r[0]} ({r[1]}, {r[2]}): {r[3]} repayment(s) of {r[4]}" for r in rows]
    rows = _rows("""
        SELECT reference, account_id, COUNT(*) FROM installments_repayment
        WHERE payment_attempt_id IS NOT NULL GROUP BY reference, account_id HAVING COUNT(*) > 1 LIMIT 1000""")
    found += [f"auto-debit {r[0]} booked {r[2]} times" for r in rows]
    return found


def repayments_restored_or_held() -> list[str]:
    rows = _rows("""
        SELECT r.id, r.reference, r.principal_paid, r.limit_restored, r.held_amount
        FROM installments_repayment r
        WHERE r.principal_paid <> r.limit_restored + r.held_amount
           OR (r.held_amount > 0 AND NOT EXISTS (
                SELECT 1 FROM installments_restorationhold h WHERE h.repayment_id = r.id AND h.amount = r.held_amount))
        ORDER BY r.id LIMIT 1000""")
    found = [f"repayment {r[0]} ({r[1]}): principal {r[2]} but restored {r[3]} + held {r[4]}" for r in rows]
    rows = _rows("""
        SELECT a.id, a.held_amount, COALESCE(SUM(h.amount) FILTER (WHERE h.released_at IS NULL), 0)
        FROM accounts_creditaccount a LEFT JOIN installments_restorationhold h ON h.account_id = a.id
        GROUP BY a.id HAVING a.held_amount <> COALESCE(SUM(h.amount) FILTER (WHERE h.released_at IS NULL), 0)
        LIMIT 1000""")
    found += [f"account {r[0]}: held {r[1]} but open holds total {r[2]}" for r in rows]
    rows = _rows("SELECT id, detail FROM installments_restorationalert WHERE NOT resolved LIMIT 1000")
    found += [f"restoration alert {r[0]}: {r[1]}" for r in rows]
    return found


def penalties_match() -> list[str]:
    rows = _rows("""
        WITH open_p AS (SELECT account_id AS id, SUM(amount - amount_paid - amount_waived) AS unpaid
                        FROM installments_penalty GROUP BY account_id)
        SELECT a.id, a.penalties_outstanding, COALESCE(p.unpaid, 0)
        FROM accounts_creditaccount a LEFT JOIN open_p p ON p.id = a.id
        WHERE a.penalties_outstanding <> COALESCE(p.unpaid, 0) LIMIT 1000""")
    return [f"account {r[0]}: penalties {r[1]} but penalty rows owe {r[2]}" for r in rows]


CHECKS: list[tuple[str, Callable[[], list[str]]]] = [
    ("every entry balances", unbalanced_entries),
    ("account balances equal the ledger", account_balances_match_ledger),
    ("principal and fees equal the installments", principal_matches_installments),
    ("available limit obeys DOMAIN.md §4", available_limit_rule),
    ("no installment paid more than it owes", installments_not_overpaid),
    ("nothing collected twice", ledger_lines_match_installment_payments),
    ("dues collected once per attempt", dues_collected_once),
    ("every repayment restored or held its principal", repayments_restored_or_held),
    ("penalties equal the penalty rows", penalties_match),
]


def run_all() -> tuple[list[str], dict[str, int]]:
    violations: list[str] = []
    counts: dict[str, int] = {}
    for name, check in CHECKS:
        found = check()
        counts[name] = len(found)
        violations.extend(f"[{name}] {v}" for v in found)
    return violations, counts
