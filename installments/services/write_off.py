"""Write-off (docs/rules.md §7): past the write-off age of its loans the close moves every
receivable of an account to write-off expense and the account closes with ``WRITE_OFF``; a
risk manager may write one off earlier (``MANUAL_WRITE_OFF``, e.g. confirmed fraud). The debt
stays recoverable: later repayments are recoveries (``repayments.book_repayments``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, audit_record
from accounts.bulk import update_rows
from accounts.business_day import business_date_get
from accounts.errors import BusinessRuleRefused, Conflict, ValidationFailed, require_permission
from accounts.ledger import Leg, lock_credit_account, lock_credit_accounts, post_entry
from accounts.lifecycle import credit_line
from accounts.models import Book, CreditAccount
from accounts.money import ZERO
from installments.models import InstallmentState
from risk.selectors import active_policy

from .dues import open_items
from .repayments import book_repayments, credit_balance_payments

WRITE_OFF_ACCOUNT = "accounts.write_off_account"


def write_off(account: CreditAccount, *, business_date: date, acting_user: Actor = None,
              reason_code: str = "WRITE_OFF") -> Decimal:
    """Write a locked account off inside the caller's transaction: a credit balance first pays
    what it can; then the unpaid principal and posted fees of its open installments (which
    become ``written_off``: missed, not cancelled) and every unpaid penalty move to write-off
    expense; the account closes (or, closed for cause, stays closed) with ``reason_code``.
    The amount stays recoverable (docs/rules.md §7). Returns the amount."""
    if not connection.in_atomic_block:
        raise RuntimeError("write_off runs inside the caller's transaction, on a locked account")
    if account.written_off_on is not None:
        return ZERO
    if account.credit_balance > 0:
        book_repayments(credit_balance_payments([account], today=business_date, whole_debt=True), today=business_date)
    items = open_items([account.pk], lock=True)[account.pk]
    legs: list[Leg] = []
    total = ZERO
    for inst in items.installments:
        principal, fee = inst.principal_unpaid, inst.fee_unpaid
        inst.principal_cancelled += principal
        inst.fee_waived = inst.fee - inst.fee_paid
        inst.state = InstallmentState.WRITTEN_OFF
        if principal:
            legs.append(Leg(Book.PRINCIPAL_RECEIVABLE, -principal, inst.pk))
        if fee:
            legs.append(Leg(Book.FEE_RECEIVABLE, -fee, inst.pk))
        total += principal + fee
    update_rows(items.installments, ["principal_cancelled", "fee_waived", "state"])
    for penalty in items.penalties:
        unpaid = penalty.unpaid
        penalty.amount_waived += unpaid
        legs.append(Leg(Book.PENALTY_RECEIVABLE, -unpaid))
        total += unpaid
    update_rows(items.penalties, ["amount_waived"])
    if total:
        post_entry(account=account, key=f"write-off:{account.pk}", kind="write_off", business_date=business_date,
                   legs=[Leg(Book.WRITE_OFF_EXPENSE, total), *legs], acting_user=acting_user,
                   description=f"write-off after {account.days_past_due} days past due")
    credit_line.write_off(account, amount=total, reason_code=reason_code, note=f"written off {total}",
                          acting_user=acting_user, policy_version_id=active_policy().pk, business_date=business_date)
    return total


def write_off_accounts(*, account_ids: list[int], business_date: date) -> Decimal:
    """The close's write-off step for a chunk of accounts past their loans' write-off age
    (open, or closed for cause). Returns the total."""
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        return sum((write_off(account, business_date=business_date) for _pk, account in sorted(accounts.items())),
                   ZERO)


def account_write_off(*, account_id: int, reason_text: str, acting_user: Actor) -> Decimal:
    """A risk manager writes an account off before the automatic write-off age (e.g. confirmed
    fraud, deceased customer): the account closes with ``MANUAL_WRITE_OFF``. Returns the
    amount written off."""
    require_permission(acting_user, WRITE_OFF_ACCOUNT, _("Only a risk manager may write off credit accounts."))
    if not isinstance(reason_text, str) or not reason_text.strip():
        raise ValidationFailed(_("Say why the account is written off."),
                               details={"reason": [str(_("this field is required"))]})
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        if account.written_off_on is not None:
            raise Conflict(_("The account is already written off."), code="already_written_off")
        if account.outstanding_total <= ZERO:
            raise BusinessRuleRefused(_("Nothing is owed on this account: close it instead of writing it off."),
                                      code="nothing_to_write_off")
        total = write_off(account, business_date=business_date_get(), acting_user=acting_user,
                          reason_code="MANUAL_WRITE_OFF")
        audit_record(acting_user=acting_user, action="account.written_off", obj=account,
                     after={"amount": str(total)}, reason=reason_text.strip())
    return total
