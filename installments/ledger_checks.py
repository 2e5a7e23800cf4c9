"""The ledger invariants over installments, repayments, payment attempts and penalties
(docs/rules.md §11), registered in ``accounts.ledger_checks.LEDGER_CHECKS`` at start-up."""

from __future__ import annotations

from accounts.ledger_checks import LEDGER_CHECKS, fetch


def principal_matches_installments() -> list[str]:
    rows = fetch("""
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

def installments_not_overpaid() -> list[str]:
    rows = fetch("""
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
    rows = fetch("""
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
    rows = fetch("""
        SELECT p.id, p.status, p.amount, COUNT(r.id), COALESCE(SUM(r.amount), 0)
        FROM installments_paymentattempt p LEFT JOIN installments_repayment r ON r.payment_attempt_id = p.id
        GROUP BY p.id
        HAVING (p.status = 'succeeded' AND (COUNT(r.id) > 1 OR COALESCE(SUM(r.amount), 0) > p.amount))
            OR (p.status <> 'succeeded' AND COUNT(r.id) > 0)
        ORDER BY p.id LIMIT 1000""")
    found = [f"attempt {r[0]} ({r[1]}, {r[2]}): {r[3]} repayment(s) of {r[4]}" for r in rows]
    rows = fetch("""
        SELECT reference, account_id, COUNT(*) FROM installments_repayment
        WHERE payment_attempt_id IS NOT NULL GROUP BY reference, account_id HAVING COUNT(*) > 1 LIMIT 1000""")
    found += [f"auto-debit {r[0]} booked {r[2]} times" for r in rows]
    return found

def repayments_restored_or_held() -> list[str]:
    rows = fetch("""
        SELECT r.id, r.reference, r.principal_paid, r.limit_restored, r.held_amount
        FROM installments_repayment r
        WHERE r.principal_paid <> r.limit_restored + r.held_amount
           OR (r.held_amount > 0 AND NOT EXISTS (
                SELECT 1 FROM installments_restorationhold h WHERE h.repayment_id = r.id AND h.amount = r.held_amount))
        ORDER BY r.id LIMIT 1000""")
    found = [f"repayment {r[0]} ({r[1]}): principal {r[2]} but restored {r[3]} + held {r[4]}" for r in rows]
    rows = fetch("""
        SELECT a.id, a.held_amount, COALESCE(SUM(h.amount) FILTER (WHERE h.released_at IS NULL), 0)
        FROM accounts_creditaccount a LEFT JOIN installments_restorationhold h ON h.account_id = a.id
        GROUP BY a.id HAVING a.held_amount <> COALESCE(SUM(h.amount) FILTER (WHERE h.released_at IS NULL), 0)
        LIMIT 1000""")
    found += [f"account {r[0]}: held {r[1]} but open holds total {r[2]}" for r in rows]
    rows = fetch("SELECT id, detail FROM installments_restorationalert WHERE NOT resolved LIMIT 1000")
    found += [f"restoration alert {r[0]}: {r[1]}" for r in rows]
    return found

def penalties_match() -> list[str]:
    rows = fetch("""
        WITH open_p AS (SELECT account_id AS id, SUM(amount - amount_paid - amount_waived) AS unpaid
                        FROM installments_penalty GROUP BY account_id)
        SELECT a.id, a.penalties_outstanding, COALESCE(p.unpaid, 0)
        FROM accounts_creditaccount a LEFT JOIN open_p p ON p.id = a.id
        WHERE a.penalties_outstanding <> COALESCE(p.unpaid, 0) LIMIT 1000""")
    return [f"account {r[0]}: penalties {r[1]} but penalty rows owe {r[2]}" for r in rows]


def write_offs_recovered_or_recoverable() -> list[str]:
    """Written off = recovered + still recoverable: each account's written-off amount is its
    write-off expense in the ledger, and what it recovered is its recovery income — the sum of
    its repayments' ``recovered`` — never more than written off."""
    rows = fetch("""
        WITH books AS (
            SELECT e.credit_account_id AS id,
                   COALESCE(SUM(l.amount) FILTER (WHERE l.book = 'write_off_expense' AND e.kind = 'write_off'), 0)
                       AS written_off,
                   -COALESCE(SUM(l.amount) FILTER (WHERE l.book = 'write_off_recovery'), 0) AS recovered
            FROM accounts_journalline l JOIN accounts_journalentry e ON e.id = l.entry_id
            WHERE l.book IN ('write_off_expense', 'write_off_recovery') GROUP BY e.credit_account_id),
        repaid AS (SELECT account_id AS id, SUM(recovered) AS recovered FROM installments_repayment
                   WHERE recovered > 0 GROUP BY account_id)
        SELECT a.id, a.written_off_amount, COALESCE(b.written_off, 0), a.recovered_amount, COALESCE(b.recovered, 0),
               COALESCE(r.recovered, 0)
        FROM accounts_creditaccount a LEFT JOIN books b ON b.id = a.id LEFT JOIN repaid r ON r.id = a.id
        WHERE a.written_off_amount <> COALESCE(b.written_off, 0) OR a.recovered_amount <> COALESCE(b.recovered, 0)
           OR a.recovered_amount <> COALESCE(r.recovered, 0) OR a.recovered_amount > a.written_off_amount
        ORDER BY a.id LIMIT 1000""")
    return [f"account {r[0]}: written off {r[1]} (ledger {r[2]}), recovered {r[3]} (ledger {r[4]}, "
            f"repayments {r[5]})" for r in rows]


def credit_balances_add_up() -> list[str]:
    """Credit balances = credited − applied − paid out: what refunds and surplus collections
    credited, less what the balance paid of dues (credit-balance repayments) and what payouts
    took (in flight or paid; a payout that failed gave it back); and the payouts in flight
    are exactly the ``payouts_pending`` book."""
    rows = fetch("""
        WITH credited AS (
            SELECT l.credit_account_id AS id, -SUM(l.amount) AS amount
            FROM accounts_journalline l JOIN accounts_journalentry e ON e.id = l.entry_id
            WHERE l.book = 'customer_credit' AND l.amount < 0 AND e.kind <> 'payout_returned'
            GROUP BY l.credit_account_id),
        applied AS (SELECT account_id AS id, SUM(amount) AS amount FROM installments_repayment
                    WHERE source = 'credit_balance' GROUP BY account_id),
        paid_out AS (SELECT account_id AS id, SUM(amount) AS amount FROM installments_creditbalancepayout
                     WHERE status IN ('submitted', 'unknown', 'succeeded') GROUP BY account_id)
        SELECT a.id, a.credit_balance, COALESCE(c.amount, 0), COALESCE(ap.amount, 0), COALESCE(p.amount, 0)
        FROM accounts_creditaccount a LEFT JOIN credited c ON c.id = a.id LEFT JOIN applied ap ON ap.id = a.id
             LEFT JOIN paid_out p ON p.id = a.id
        WHERE a.credit_balance <> COALESCE(c.amount, 0) - COALESCE(ap.amount, 0) - COALESCE(p.amount, 0)
        ORDER BY a.id LIMIT 1000""")
    found = [f"account {r[0]}: credit balance {r[1]} but credited {r[2]} − applied {r[3]} − paid out {r[4]}"
             for r in rows]
    rows = fetch("""
        SELECT (SELECT -COALESCE(SUM(amount), 0) FROM accounts_journalline WHERE book = 'payouts_pending'),
               (SELECT COALESCE(SUM(amount), 0) FROM installments_creditbalancepayout
                WHERE status IN ('submitted', 'unknown'))""")
    if rows and rows[0][0] != rows[0][1]:
        found.append(f"payouts in flight {rows[0][1]} but the payouts_pending book holds {rows[0][0]}")
    return found


def register() -> None:
    LEDGER_CHECKS.register("principal and fees equal the installments", principal_matches_installments)
    LEDGER_CHECKS.register("no installment paid more than it owes", installments_not_overpaid)
    LEDGER_CHECKS.register("nothing collected twice", ledger_lines_match_installment_payments)
    LEDGER_CHECKS.register("dues collected once per attempt", dues_collected_once)
    LEDGER_CHECKS.register("every repayment restored or held its principal", repayments_restored_or_held)
    LEDGER_CHECKS.register("penalties equal the penalty rows", penalties_match)
    LEDGER_CHECKS.register("written off = recovered + still recoverable", write_offs_recovered_or_recoverable)
    LEDGER_CHECKS.register("credit balances = credited − applied − paid out", credit_balances_add_up)
