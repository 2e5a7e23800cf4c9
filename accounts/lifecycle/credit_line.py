"""Every change of a credit account's status, limit, pause and freeze flags and available
limit (docs/rules.md §4, §7, §8, §9). Nothing else changes them.

Each function runs inside the caller's transaction on an account row the caller has locked
(``accounts.ledger.lock_credit_account``), saves the fields it changes, and writes the status
or limit history, the audit row and, where the customer is told, the outbox notification —
delivered after commit. Refusals raise before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed

from accounts import outbox
from accounts.audit_trail import Actor, audit_record, audit_record_many, staff_user
from accounts.bulk import update_rows
from accounts.business_day import business_date_get
from accounts.errors import Conflict
from accounts.models import AccountStatusChange, AuditEvent, CreditAccount, Customer, LimitChange, Notification
from accounts.money import ZERO

from .states import AccountStatus


def _in_transaction(what: str) -> None:
    if not connection.in_atomic_block:
        raise RuntimeError(f"{what} runs inside the caller's transaction, on a locked account")


# --- the available limit -----------------------------------------------------------------------


def available_limit_for(account: CreditAccount) -> Decimal:
    """max(0, credit limit − outstanding principal − restoration holds)."""
    return max(ZERO, account.credit_limit - account.principal_outstanding - account.held_amount)


def balance_move_sql(*, source: str, deltas: dict[str, str], now: str) -> str:
    """A data-modifying CTE body for a booking written in one statement (the purchase path):
    move the balance columns of the accounts in ``source`` (a CTE with an ``id`` column) by
    ``deltas`` (column → SQL expression, e.g. a parameter) and set their available limit by the
    formula above from the moved values. Returns the moved rows' id and available limit. The
    caller's statement has locked those rows."""
    columns = {"principal_outstanding", "fees_outstanding", "penalties_outstanding", "credit_balance", "held_amount"}
    unknown = set(deltas) - columns
    if unknown:
        raise ValueError(f"not a balance column: {sorted(unknown)}")

    def moved(column: str) -> str:
        return f"(a.{column} + {deltas[column]})" if column in deltas else f"a.{column}"

    sets = [f"{column} = {moved(column)}" for column in sorted(deltas)]
    formula = f"GREATEST(0, a.credit_limit - {moved('principal_outstanding')} - {moved('held_amount')})"
    table = CreditAccount._meta.db_table
    return (f"UPDATE {table} AS a SET {', '.join(sets)}, available_limit = {formula}, updated_at = {now} "  # noqa: S608
            f"FROM {source} WHERE a.id = {source}.id RETURNING a.id, a.available_limit")


def refresh_available_limit(account: CreditAccount) -> None:
    """Set the available limit from the formula, in memory (the caller saves it with the
    balances it moved: the ledger, a restoration hold)."""
    account.available_limit = available_limit_for(account)


# --- history ---------------------------------------------------------------------------------------


def _record_status_change(account: CreditAccount, *, from_status: str, reason_code: str, note: str,
                          acting_user: Actor, business_date: date | None = None) -> None:
    AccountStatusChange.objects.create(
        account=account, from_status=from_status, to_status=account.status, reason_code=reason_code, note=note,
        business_date=business_date or business_date_get(), actor=staff_user(acting_user))
    audit_record(acting_user=acting_user, action="account.status_changed", obj=account,
                 before={"status": from_status}, after={"status": account.status},
                 reason=f"{reason_code} {note}".strip())


def _record_limit_change(account: CreditAccount, *, old_limit: Decimal, reason_code: str, note: str,
                         policy_version_id: int, acting_user: Actor, business_date: date | None = None) -> None:
    LimitChange.objects.create(
        account=account, old_limit=old_limit, new_limit=account.credit_limit, reason_code=reason_code, note=note,
        policy_version_id=policy_version_id, business_date=business_date or business_date_get(),
        actor=staff_user(acting_user))
    audit_record(acting_user=acting_user, action="account.limit_changed", obj=account,
                 before={"credit_limit": str(old_limit)}, after={"credit_limit": str(account.credit_limit)},
                 reason=reason_code)


def _limit_changed_params(old: Decimal, new: Decimal, reason_code: str) -> dict[str, str]:
    return {"old_limit": f"{old:.2f}", "new_limit": f"{new:.2f}", "reason_code": reason_code}


# --- opening ---------------------------------------------------------------------------------------


def open_account(*, customer: Customer, credit_limit: Decimal, card_token: str, policy_version_id: int,
                 reason_code: str, acting_user: Actor) -> CreditAccount:
    """Open the customer's credit account, or reopen their closed one (an approved application).

    Nothing is owed on a new account, so the whole limit is available; a reopened account keeps
    whatever is still owed (collection continued while it was closed)."""
    _in_transaction("open_account")
    today = business_date_get()
    account = CreditAccount.objects.select_for_update().filter(customer=customer).first()
    if account is None:
        account = CreditAccount(
            customer=customer, credit_limit=credit_limit, available_limit=credit_limit,
            billing_day=min(today.day, 28), repayment_card_token=card_token, opened_on=today,
            policy_version_id=policy_version_id)
        account.save()
        _record_status_change(account, from_status="", reason_code=reason_code, note="", acting_user=acting_user)
        _record_limit_change(account, old_limit=ZERO, reason_code=reason_code, note="",
                             policy_version_id=policy_version_id, acting_user=acting_user)
        return account
    old_status, old_limit = account.status, account.credit_limit
    account.reopen()
    account.credit_limit = credit_limit
    refresh_available_limit(account)
    account.repayment_card_token = card_token or account.repayment_card_token
    account.reopened_on = today
    account.closed_on = None
    account.closed_reason = ""
    account.paused_by_customer = False
    account.policy_version_id = policy_version_id
    account.save(update_fields=["status", "credit_limit", "available_limit", "repayment_card_token", "reopened_on",
                                "closed_on", "closed_reason", "paused_by_customer", "policy_version", "updated_at"])
    _record_status_change(account, from_status=old_status, reason_code=reason_code, note="", acting_user=acting_user)
    _record_limit_change(account, old_limit=old_limit, reason_code=reason_code, note="",
                         policy_version_id=policy_version_id, acting_user=acting_user)
    return account


# --- delinquency and the customer's pause ------------------------------------------------------------


def status_called_for(account: CreditAccount, *, days_past_due: int, grace_days: int) -> str:
    """The status that delinquency and a customer's pause call for — the one rule of
    suspension and reactivation: an active account overdue beyond grace, or paused, is
    suspended; a suspended account with nothing overdue and not paused is active again;
    anything else keeps its status (a frozen or closed account is never moved by it)."""
    if account.status == AccountStatus.ACTIVE and (days_past_due > grace_days or account.paused_by_customer):
        return AccountStatus.SUSPENDED
    if account.status == AccountStatus.SUSPENDED and days_past_due == 0 and not account.paused_by_customer:
        return AccountStatus.ACTIVE
    return account.status


def follow_delinquency(account: CreditAccount, *, days_past_due: int, grace_days: int, reason_code: str = "",
                       note: str = "", acting_user: Actor = None, business_date: date | None = None,
                       may_suspend: bool = True) -> str:
    """Move the account to the status ``status_called_for`` says (saving the status) and
    record why — by default ``OVERDUE`` ("N days past due") or ``OVERDUE_CLEARED``. Returns
    "suspended", "reactivated" or "unchanged". A repayment passes ``may_suspend=False``: money
    coming in may reactivate an account the same day, while suspension is the close's (a
    payment never suspends a day early)."""
    _in_transaction("follow_delinquency")
    target = status_called_for(account, days_past_due=days_past_due, grace_days=grace_days)
    if target == account.status or (target == AccountStatus.SUSPENDED and not may_suspend):
        return "unchanged"
    before = account.status
    if target == AccountStatus.SUSPENDED:
        account.suspend()
        if not reason_code and days_past_due > grace_days:
            reason_code, note = "OVERDUE", note or f"{days_past_due} days past due"
    else:
        account.reactivate()
    account.save(update_fields=["status", "updated_at"])
    _record_status_change(account, from_status=before, reason_code=reason_code or _DEFAULT_REASON[target], note=note,
                          acting_user=acting_user, business_date=business_date)
    return "suspended" if target == AccountStatus.SUSPENDED else "reactivated"


_DEFAULT_REASON: dict[str, str] = {AccountStatus.SUSPENDED: "PAUSED_BY_CUSTOMER",
                                   AccountStatus.ACTIVE: "OVERDUE_CLEARED"}


def pause(account: CreditAccount, *, note: str, acting_user: Actor, grace_days: int) -> dict[str, str]:
    """The customer pauses the credit line (no purchases until resumed): an active account is
    suspended; a suspended one stays so and is also marked paused."""
    _in_transaction("pause")
    if account.paused_by_customer:
        raise Conflict(_("The credit line is already paused."), code="already_paused")
    if account.status not in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED):
        raise Conflict(_("A credit line that is %(status)s cannot be paused.") % {"status": account.get_status_display()},
                       code="account_not_pausable", details={"status": account.status})
    old_status = account.status
    account.paused_by_customer = True
    account.save(update_fields=["paused_by_customer", "updated_at"])
    moved = follow_delinquency(account, days_past_due=account.days_past_due, grace_days=grace_days,
                               reason_code="PAUSED_BY_CUSTOMER", note=note, acting_user=acting_user)
    if moved == "unchanged":
        audit_record(acting_user=acting_user, action="account.paused", obj=account,
                     before={"paused_by_customer": False}, after={"paused_by_customer": True}, reason=note)
    return {"paused_from": old_status}


def resume(account: CreditAccount, *, note: str, acting_user: Actor, grace_days: int) -> None:
    """End a customer's pause. The account is active again unless something is overdue (then
    the nightly close reactivates it once nothing is)."""
    _in_transaction("resume")
    if not account.paused_by_customer:
        raise Conflict(_("The credit line is not paused."), code="not_paused")
    account.paused_by_customer = False
    account.save(update_fields=["paused_by_customer", "updated_at"])
    moved = follow_delinquency(account, days_past_due=account.days_past_due, grace_days=grace_days,
                               reason_code="RESUMED_BY_CUSTOMER", note=note, acting_user=acting_user)
    if moved == "unchanged":
        audit_record(acting_user=acting_user, action="account.resumed", obj=account,
                     before={"paused_by_customer": True}, after={"paused_by_customer": False}, reason=note)


# --- freezing ------------------------------------------------------------------------------------


def freeze(account: CreditAccount, *, note: str, acting_user: Actor) -> None:
    """Suspected fraud: ``frozen`` (no purchases; repayments still accepted)."""
    _in_transaction("freeze")
    if not can_proceed(account.freeze):
        raise Conflict(_("Only an active or suspended account can be frozen (this one is %(status)s).")
                       % {"status": account.get_status_display()}, code="account_not_freezable")
    before = account.status
    account.freeze()
    account.save(update_fields=["status", "updated_at"])
    _record_status_change(account, from_status=before, reason_code="FROZEN_SUSPECTED_FRAUD", note=note,
                          acting_user=acting_user)


def unfreeze(account: CreditAccount, *, note: str, acting_user: Actor, grace_days: int) -> None:
    """Lift a freeze: ``active``, or straight to ``suspended`` when overdue beyond grace or
    paused (what the nightly close would otherwise do a day late)."""
    _in_transaction("unfreeze")
    if not can_proceed(account.unfreeze):
        raise Conflict(_("The account is not frozen."), code="account_not_frozen")
    account.unfreeze()
    if status_called_for(account, days_past_due=account.days_past_due,
                         grace_days=grace_days) == AccountStatus.SUSPENDED:
        account.suspend()
    account.save(update_fields=["status", "updated_at"])
    _record_status_change(account, from_status=AccountStatus.FROZEN, reason_code="UNFROZEN", note=note,
                          acting_user=acting_user)


# --- closing -------------------------------------------------------------------------------------


def close(account: CreditAccount, *, reason_code: str, note: str, acting_user: Actor, policy_version_id: int,
          business_date: date | None = None) -> None:
    """Close the account — approved at the customer's request or for cause (fraud, breach of
    terms). No limit remains; collection of anything owed continues (docs/rules.md §4)."""
    _in_transaction("close")
    _close(account, reason_code=reason_code, note=note, acting_user=acting_user, policy_version_id=policy_version_id,
           business_date=business_date or business_date_get(), written_off=False)


def write_off(account: CreditAccount, *, amount: Decimal, reason_code: str, note: str, acting_user: Actor,
              policy_version_id: int, business_date: date | None = None) -> None:
    """Record a write-off of ``amount``: an open account closes with ``reason_code``; one
    already closed for cause stays closed, now for the write-off. The amount stays
    recoverable (``CreditAccount.recoverable``); an account is written off once."""
    _in_transaction("write_off")
    if account.written_off_on is not None:
        raise Conflict(_("The credit account is already written off."), code="already_written_off")
    today = business_date or business_date_get()
    account.written_off_amount = amount
    if account.status != AccountStatus.CLOSED:
        _close(account, reason_code=reason_code, note=note, acting_user=acting_user,
               policy_version_id=policy_version_id, business_date=today, written_off=True)
        return
    account.written_off_on = today
    account.closed_reason = reason_code
    account.save(update_fields=["written_off_on", "written_off_amount", "closed_reason", "updated_at"])
    _record_status_change(account, from_status=AccountStatus.CLOSED, reason_code=reason_code, note=note,
                          acting_user=acting_user, business_date=today)


def _close(account: CreditAccount, *, reason_code: str, note: str, acting_user: Actor, policy_version_id: int,
           business_date: date, written_off: bool) -> None:
    if not can_proceed(account.close):
        raise Conflict(_("The credit account is already closed."), code="account_closed")
    old_status, old_limit = account.status, account.credit_limit
    account.close()
    account.closed_on = business_date
    account.closed_reason = reason_code
    account.paused_by_customer = False
    if written_off:
        account.written_off_on = business_date
    account.credit_limit = ZERO
    refresh_available_limit(account)
    account.save(update_fields=["status", "closed_on", "closed_reason", "paused_by_customer", "written_off_on",
                                "written_off_amount", "credit_limit", "available_limit", "updated_at"])
    _record_status_change(account, from_status=old_status, reason_code=reason_code, note=note,
                          acting_user=acting_user, business_date=business_date)
    if old_limit != ZERO or written_off:
        _record_limit_change(account, old_limit=old_limit, reason_code=reason_code, note="" if written_off else note,
                             policy_version_id=policy_version_id, acting_user=acting_user, business_date=business_date)


# --- limits --------------------------------------------------------------------------------------


def set_limit(account: CreditAccount, *, new_limit: Decimal, reason_code: str, note: str, policy_version_id: int,
              acting_user: Actor, notify_key: str = "") -> Decimal:
    """Change the credit limit (a limit may be cut below what is used: the available limit is
    then 0 and collection continues). With ``notify_key`` the customer is told. Returns the
    old limit."""
    _in_transaction("set_limit")
    if account.status == AccountStatus.CLOSED:
        raise Conflict(_("The credit account is closed."), code="account_closed")
    old = account.credit_limit
    account.credit_limit = new_limit
    refresh_available_limit(account)
    account.save(update_fields=["credit_limit", "available_limit", "updated_at"])
    _record_limit_change(account, old_limit=old, reason_code=reason_code, note=note,
                         policy_version_id=policy_version_id, acting_user=acting_user)
    if notify_key:
        outbox.notification_enqueue(customer=account.customer, account=account, kind="limit_changed",
                                    event_key=notify_key, params=_limit_changed_params(old, new_limit, reason_code))
    return old


@dataclass(frozen=True)
class LimitDecision:
    """One row of the nightly recalculation: the account (locked by the caller's selection),
    its customer, the limit it had and the one it gets."""

    account_id: int
    customer_id: int
    old_limit: Decimal
    new_limit: Decimal
    principal_outstanding: Decimal
    held_amount: Decimal


def set_limits(decisions: Sequence[LimitDecision], *, reason_code: str, business_date: date,
               policy_version_id: int, increase: bool) -> int:
    """``set_limit`` for the nightly recalculation's many accounts at once (rows already locked
    by the caller's selection): one UPDATE of the accounts, then the limit history, the audit
    rows and the customers' notifications in one INSERT each; delivery after commit. An
    increase also records ``last_limit_increase_on``. Returns how many changed."""
    _in_transaction("set_limits")
    if not decisions:
        return 0
    now = timezone.now()
    accounts = []
    for decision in decisions:
        account = CreditAccount(pk=decision.account_id, credit_limit=decision.new_limit,
                                principal_outstanding=decision.principal_outstanding,
                                held_amount=decision.held_amount, updated_at=now)
        refresh_available_limit(account)
        account.last_limit_increase_on = business_date if increase else None
        accounts.append(account)
    fields = ["credit_limit", "available_limit", "updated_at"] + (["last_limit_increase_on"] if increase else [])
    update_rows(accounts, fields)
    LimitChange.objects.bulk_create([
        LimitChange(account_id=d.account_id, old_limit=d.old_limit, new_limit=d.new_limit, reason_code=reason_code,
                    note="", policy_version_id=policy_version_id, business_date=business_date)
        for d in decisions])
    audit_record_many([
        AuditEvent(actor=None, actor_label="system", action="account.limit_changed",
                   object_type=CreditAccount._meta.label_lower, object_id=str(d.account_id),
                   before={"credit_limit": str(d.old_limit)}, after={"credit_limit": str(d.new_limit)},
                   reason=reason_code)
        for d in decisions])
    keys = {d.account_id: f"limit:{d.account_id}:{business_date.isoformat()}" for d in decisions}
    sent = set(Notification.objects.filter(event_key__in=list(keys.values())).values_list("event_key", flat=True))
    outbox.notifications_enqueue([
        Notification(customer_id=d.customer_id, account_id=d.account_id, kind="limit_changed",
                     event_key=keys[d.account_id], params=_limit_changed_params(d.old_limit, d.new_limit, reason_code))
        for d in decisions if keys[d.account_id] not in sent])
    return len(decisions)

