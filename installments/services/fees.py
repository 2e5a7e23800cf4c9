"""Installment fees: owed from the due date, posted by the nightly close (its `post_fees` step) — or by a
repayment made during the due date, before that night's close — and never charged once
their principal is fully paid or cancelled (docs/rules.md §5)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db import connection, transaction

from accounts.bulk import plain_array
from accounts.ledger import EntrySpec, Leg, lock_credit_accounts, post_entries, save_accounts
from accounts.models import Book, CreditAccount
from accounts.money import ZERO
from installments.models import Installment, InstallmentState


def post_fees(accounts: dict[int, CreditAccount], *, due_on: date | None = None,
              due_by: date | None = None) -> Decimal:
    """Post the unposted fees of these locked accounts' open installments due on ``due_on``
    (the close) or on any day up to ``due_by`` (before a repayment): one ledger entry per
    account and due date, keyed ``fees:{account}:{due date}``. Moves the accounts' balances in
    memory: the caller saves them (``save_accounts``) in its transaction. Returns the total."""
    if not connection.in_atomic_block:
        raise RuntimeError("post_fees runs inside the caller's transaction, on locked accounts")
    # One statement marks (and locks) the fees it posts; the legs follow the installments' order.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Installment._meta.db_table} SET fee_posted = true WHERE account_id = ANY(%s::bigint[]) "  # noqa: S608
            f"AND NOT fee_posted AND state = %s AND fee > 0 AND due_date {'=' if due_on is not None else '<='} %s "
            f"RETURNING id, account_id, due_date, fee, fee_waived",
            [plain_array(accounts), InstallmentState.OPEN, due_on if due_on is not None else due_by])
        due = sorted(cursor.fetchall(), key=lambda row: (row[2], row[0]))
    if not due:
        return ZERO
    legs: dict[tuple[int, date], list[Leg]] = defaultdict(list)
    total = ZERO
    for pk, account_id, due_date, fee, fee_waived in due:
        amount = fee - fee_waived
        if amount > 0:
            legs[(account_id, due_date)].append(Leg(Book.FEE_RECEIVABLE, amount, pk))
            total += amount
    entries = []
    for (account_id, due_date), account_legs in sorted(legs.items()):
        account_total = sum((leg.amount for leg in account_legs), ZERO)
        entries.append(EntrySpec(
            account=accounts[account_id], key=f"fees:{account_id}:{due_date.isoformat()}", kind="fee",
            business_date=due_date, legs=[*account_legs, Leg(Book.FEE_INCOME, -account_total)],
            description=f"installment fees due {due_date}"))
    post_entries(entries)
    return total


def fees_post_due_accounts(*, account_ids: list[int], business_date: date) -> Decimal:
    """The close's `post_fees` step for a chunk of accounts: post the fees due on ``business_date``."""
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        total = post_fees(accounts, due_on=business_date)
        save_accounts(accounts.values())
    return total
